#pragma once
// The reactor's import task in BIOMERO's workflow tracking: a Task aggregate named
// SLURM_Import_Results.py (so BIOMERO's views map its statuses) added to the workflow,
// started, then IMPORTING -> IMPORTED / IMPORT_FAILED. Each report runs inside the
// caller's transaction, together with the job's own state change, so a status is written
// exactly once. BIOMERO's projection tables are updated too, where they exist.
#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

inline constexpr std::string_view import_task_name = "SLURM_Import_Results.py";

struct ImportTask {
  Uuid id;  // deterministic: see import_task_for
  Uuid workflow_id;
  std::string job_id;
  int attempt = 1;
  std::optional<Uuid> handoff_id;  // set for a handoff job: the handed-off task H
  // False for a standalone handoff (no such workflow in BIOMERO's event store): every
  // report below is then a no-op, so no event lands on an aggregate BIOMERO never made.
  bool in_event_store = true;
};

// The workflow path: uuid5(reactor_namespace(), "import-task/<workflow>/<job>/<attempt>").
// A handoff job (handoff_id set): uuid5(reactor_namespace(), "handoff/<H>/<attempt>"), H
// being the handoff id (BIOMERO's import task that handed the results off). Both frozen
// (docs/ARCHITECTURE.md).
[[nodiscard]] ImportTask import_task_for(const Uuid& workflow_id, const std::string& job_id, int attempt,
                                         const std::optional<Uuid>& handoff_id = std::nullopt);

// The reactor's TaskCreated params and input_data. The workflow path: Job_ID, Workflow_ID,
// Attempt and the Imported_By marker; input_data {"IDs": [...]} from the workflow's tasks.
// A handoff: {"Imported_By", "Handoff_Task_ID", "SLURM Job Id", "Attempt"} (no key of
// BIOMERO's own import task params but the job id, which equals H's), and H's input_data.
[[nodiscard]] boost::json::object import_task_params(const ImportTask& t);
[[nodiscard]] boost::json::value import_task_input_data(const ImportTask& t, const Workflow& wf);

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
