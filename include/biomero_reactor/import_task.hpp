#pragma once
// The reactor's import task in BIOMERO's workflow tracking: a Task aggregate named
// SLURM_Import_Results.py (so BIOMERO's views map its statuses) added to the workflow,
// started, then IMPORTING -> IMPORTED / IMPORT_FAILED. Each report runs inside the
// caller's transaction, together with the job's own state change, so a status is written
// exactly once. BIOMERO's projection tables are updated too, where they exist.
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

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

// Which of BIOMERO's projection tables exist. Once seen they stay; absent ones are looked
// for again at each report (BIOMERO may create them after the reactor started).
struct Projections {
  bool progress_view = false;   // public.biomero_workflow_progress_view
  bool task_execution = false;  // public.biomero_task_execution
  [[nodiscard]] bool complete() const { return progress_view && task_execution; }
};
boost::asio::awaitable<void> refresh_projections(pg::Connection& c, Projections& known);

// TaskCreated, WorkflowRun.TaskAdded, TaskStarted, StatusUpdated IMPORTING.
boost::asio::awaitable<void> report_importing(pg::Connection& c, const ImportTask& t, const Workflow& wf);

// StatusUpdated IMPORTED + TaskCompleted(result), or StatusUpdated IMPORT_FAILED +
// TaskFailed("Import failed: <reason>"), with the projection updates: statements for a
// pipeline in the caller's transaction.
[[nodiscard]] std::vector<pg::Statement> imported_statements(const ImportTask& t, const std::string& result,
                                                             const Projections& p);
[[nodiscard]] std::vector<pg::Statement> import_failed_statements(const ImportTask& t, const std::string& reason,
                                                                  const Projections& p);
// The same, run in one round trip.
boost::asio::awaitable<void> report_import_failed(pg::Connection& c, const ImportTask& t, std::string reason);

}  // namespace biomero_reactor
