#pragma once
// Intake: reads BIOMERO's WorkflowCompleted events after the cursor in id
// order, decides each workflow (one job per SLURM job id, or skipped with the reason), and
// advances the cursor in the same transaction as the job rows. The cursor row is locked
// for that transaction, so two reactors never take the same event twice.
#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

// Params key that marks the import tasks the reactor wrote itself.
inline constexpr std::string_view reactor_task_marker = "Imported_By";
inline constexpr std::string_view reactor_task_marker_value = "biomero-reactor";

struct JobDecision {
  std::string slurm_job_id;
  std::optional<Uuid> analysis_task_id;
  std::string skip_reason;  // empty: the job is to be imported
};

struct WorkflowDecision {
  std::vector<JobDecision> jobs;
  std::string skip_reason;  // the whole workflow: no job at all
};

// Pure: what intake does with one completed workflow.
[[nodiscard]] WorkflowDecision decide(const Workflow& wf, const std::vector<std::string>& skip_when_imported_by);

struct IntakeStats {
  int events = 0;        // WorkflowCompleted events read
  int jobs_created = 0;  // new job rows to import
  int jobs_skipped = 0;  // job rows recorded as skipped
  std::int64_t cursor = 0;
};

class IntakeGuard;
// With a guard, each event is marked before it is decoded and a poison event is skipped
// (intake_guard.hpp).
boost::asio::awaitable<IntakeStats> run_intake(pg::Pool& events, const Config& cfg, IntakeGuard* guard = nullptr);

}  // namespace biomero_reactor
