#pragma once
// The reactor's import task in BIOMERO's workflow tracking: a Task
// aggregate named SLURM_Import_Results.py (so BIOMERO's views map its statuses) added to
// the workflow, started, then IMPORTING -> IMPORTED / IMPORT_FAILED. Each call runs inside
// the caller's transaction, together with the job's own state change, so a status is
// written exactly once. The projection tables are updated too, where they exist.
#include <boost/asio/awaitable.hpp>
#include <string>

#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

inline constexpr std::string_view import_task_name = "SLURM_Import_Results.py";

struct ImportTask {
  Uuid id;  // deterministic: uuid5 of workflow, job and attempt
  Uuid workflow_id;
  std::string job_id;
  int attempt = 1;
};

[[nodiscard]] ImportTask import_task_for(const Uuid& workflow_id, const std::string& job_id, int attempt);

// TaskCreated, WorkflowRun.TaskAdded, TaskStarted, StatusUpdated IMPORTING.
boost::asio::awaitable<void> report_importing(pg::Connection& c, const ImportTask& t, const Workflow& wf);
// StatusUpdated IMPORTED, TaskCompleted(result).
boost::asio::awaitable<void> report_imported(pg::Connection& c, const ImportTask& t, std::string result);
// StatusUpdated IMPORT_FAILED, TaskFailed("Import failed: <reason>").
boost::asio::awaitable<void> report_import_failed(pg::Connection& c, const ImportTask& t, std::string reason);

}  // namespace biomero_reactor
