#include "biomero_reactor/intake.hpp"

#include <algorithm>
#include <set>

#include "biomero_reactor/channels.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/intake_guard.hpp"
#include "biomero_reactor/job_store.hpp"
#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

bool is_reactor_task(const Task& t) {
  const auto* v = t.params.if_contains(reactor_task_marker);
  return v != nullptr && v->is_string() && v->get_string() == reactor_task_marker_value;
}

bool named_in(const Task& t, const std::vector<std::string>& names) {
  return std::find(names.begin(), names.end(), t.name) != names.end();
}

// The SLURM job a handoff task names ("SLURM Job Id", as Run_Workflow passes it); empty
// when it names none.
std::string handed_off_job(const Task& t) {
  const auto* v = t.params.if_contains("SLURM Job Id");
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  return {};
}

}  // namespace

WorkflowDecision decide(const Workflow& wf, const std::vector<std::string>& skip_when_imported_by) {
  WorkflowDecision d;
  std::string imported_by;
  // Jobs whose import task handed the results to the spool: the handoff intake owns them.
  std::set<std::string> handed_off;
  bool all_handed_off = false;
  for (const auto& t : wf.tasks) {
    if (!t.handed_off || is_reactor_task(t)) continue;
    const std::string job = handed_off_job(t);
    if (job.empty()) all_handed_off = true;
    handed_off.insert(job);
  }
  for (const auto& t : wf.tasks) {
    if (named_in(t, skip_when_imported_by) && t.completed && !is_reactor_task(t) && !t.handed_off) {
      imported_by = "results already imported by task " + t.id.str() + " (" + t.name + ")";
    }
  }
  std::set<std::string> seen;
  for (const auto& t : wf.tasks) {
    if (named_in(t, skip_when_imported_by) || is_reactor_task(t)) continue;
    for (const auto& job : t.job_ids) {
      if (!seen.insert(job).second) continue;
      if (all_handed_off || handed_off.count(job) > 0) continue;
      d.jobs.push_back({job, t.id, imported_by});
    }
  }
  if (d.jobs.empty() && (all_handed_off || !handed_off.empty())) {
    d.skip_reason = "results handed off to the spool: imported as handoff jobs";
  } else if (d.jobs.empty()) {
    d.skip_reason = "workflow has no SLURM job";
  }
  return d;
}

asio::awaitable<IntakeStats> run_intake(pg::Pool& events, const Config& cfg, IntakeGuard* guard) {
  IntakeStats total;
  for (;;) {
    IntakeStats batch;
    co_await in_transaction(events, [&](pg::Connection& c) -> asio::awaitable<void> {
      batch = {};
      auto cur = co_await c.query(
          "SELECT last_event_id FROM biomero_reactor.intake_cursor WHERE source = 'workflowtracker_events' FOR UPDATE");
      batch.cursor = cur.int64(0, 0);
      std::optional<std::int64_t> poison;
      if (guard) poison = co_await guard->poisoned(batch.cursor);
      auto rows = co_await c.query(
          "SELECT id, originator_id FROM public.workflowtracker_events WHERE id > $1 AND topic = $2 ORDER BY id LIMIT "
          "$3",
          pg::params(batch.cursor, std::string(topics::workflow_completed), cfg.intake.batch));
      for (int i = 0; i < rows.rows(); ++i) {
        const std::int64_t event_id = rows.int64(i, 0);
        const auto wf_id = *Uuid::parse(rows.text(i, 1));
        ++batch.events;
        batch.cursor = event_id;
        WorkflowDecision d;
        if (poison == event_id) {
          d.skip_reason = poison_reason(event_id);
          log::error("workflow event skipped: it crashed the reactor last time",
                     {{"workflow_id", wf_id.str()}, {"event_id", event_id}, {"reason", d.skip_reason}});
        } else {
          if (guard) co_await guard->mark(event_id);
          try {
            d = decide(decode_workflow(wf_id, co_await load_workflow_events(c, wf_id)),
                       cfg.import.skip_when_imported_by);
          } catch (const CodecError& e) {
            d.skip_reason = std::string("cannot decode the workflow's events: ") + e.what();
          }
        }
        const std::string decision = d.skip_reason.empty() ? "jobs" : "skipped";
        const pg::Params workflow_row = pg::params(wf_id.str(), event_id, decision, pg::null_if_empty(d.skip_reason),
                                                   static_cast<std::int64_t>(d.jobs.size()));
        auto ins = co_await c.query(
            "INSERT INTO biomero_reactor.workflows (workflow_id, completed_event_id, decision, reason, job_count) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow_id) DO NOTHING",
            workflow_row);
        if (ins.affected() == 0) continue;  // a second WorkflowCompleted for the same workflow
        if (!d.skip_reason.empty()) {
          log::info("workflow skipped",
                    {{"workflow_id", wf_id.str()}, {"event_id", event_id}, {"reason", d.skip_reason}});
          continue;
        }
        for (const auto& j : d.jobs) {
          const bool skip = !j.skip_reason.empty();
          const JobState state = skip ? JobState::skipped : JobState::pending;
          const std::string detail =
              skip ? j.skip_reason : "workflow completed (event " + std::to_string(event_id) + ")";
          const auto id = co_await JobStore::insert_job(c, wf_id, j.slurm_job_id, j.analysis_task_id, state, detail);
          if (!id) continue;
          (skip ? batch.jobs_skipped : batch.jobs_created)++;
          if (skip) {
            log::info("job skipped", {{"workflow_id", wf_id.str()},
                                      {"job_id", j.slurm_job_id},
                                      {"event_id", event_id},
                                      {"state", std::string(to_string(state))},
                                      {"reason", j.skip_reason}});
          } else {
            log::info("job created", {{"workflow_id", wf_id.str()},
                                      {"job_id", j.slurm_job_id},
                                      {"event_id", event_id},
                                      {"state", std::string(to_string(state))}});
          }
        }
      }
      // Every reactor (not only this one) learns at commit that there is work to claim.
      if (batch.jobs_created > 0) co_await c.query("SELECT pg_notify($1, '')", pg::params(std::string(channels::jobs)));
      if (batch.events > 0) {
        co_await c.query(
            "UPDATE biomero_reactor.intake_cursor SET last_event_id = $1, updated_at = now() "
            "WHERE source = 'workflowtracker_events'",
            pg::params(batch.cursor));
      }
    });
    if (guard && batch.events > 0) co_await guard->clear();
    total.events += batch.events;
    total.jobs_created += batch.jobs_created;
    total.jobs_skipped += batch.jobs_skipped;
    total.cursor = batch.cursor;
    if (batch.events < cfg.intake.batch) co_return total;
  }
}

}  // namespace biomero_reactor
