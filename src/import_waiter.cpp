#include "biomero_reactor/import_waiter.hpp"

#include "biomero_reactor/channels.hpp"
#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/import_outcome.hpp"
#include "biomero_reactor/job_steps.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/test_hooks.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

// Stages of every order of `waiting`: notified final ones as they are, the rest read.
asio::awaitable<std::map<std::string, Stage>> stages_of(PipelineContext& ctx, const std::vector<WaitingJob>& waiting,
                                                        const StageNotices& notices) {
  std::map<std::string, Stage> known;
  std::vector<std::string> unknown;
  for (const auto& w : waiting) {
    for (const auto& o : w.orders) {
      auto it = notices.find(o.uuid);
      if (it != notices.end() && it->second == stage_completed) {
        known[o.uuid] = Stage{it->second, std::nullopt};
      } else {
        unknown.push_back(o.uuid);
      }
    }
  }
  if (!unknown.empty()) {
    auto c = co_await ctx.importer.acquire();
    auto read = co_await latest_stages(*c, unknown);
    known.merge(read);
  }
  co_return known;
}

ImportProgress progress_of(const WaitingJob& w, const std::map<std::string, Stage>& stages) {
  ImportProgress p;
  p.waited_ms = w.waited_ms;
  p.submission = w.job.submission;
  for (const auto& o : w.orders) {
    auto it = stages.find(o.uuid);
    p.orders.push_back({o.uuid, it == stages.end() ? std::nullopt : std::optional<Stage>(it->second), o.age_ms,
                        o.alerted});
  }
  return p;
}

asio::awaitable<void> report_stuck(PipelineContext& ctx, const WaitingJob& w, const ImportDecision& d) {
  for (const auto& uuid : d.newly_stuck) {
    for (const auto& o : w.orders) {
      if (o.uuid != uuid) continue;
      log::warn("upload order still pending: is BIOMERO.importer running and picking up orders?",
                {{"workflow_id", w.job.workflow_id.str()},
                 {"job_id", w.job.slurm_job_id},
                 {"order_uuid", o.uuid},
                 {"stage", std::string(stage_pending)},
                 {"duration_s", static_cast<double>(o.age_ms) / 1000.0}});
    }
    co_await ctx.jobs.mark_alerted(uuid);
  }
}

std::string imported_result(const Job& job) {
  const ImageSet images = images_from(job.images);
  const auto n = images.images.size() + images.label_images.size();
  return "Imported " + std::to_string(n) + (n == 1 ? " image" : " images");
}

struct Settlement {
  std::vector<pg::Statement> statements;
  std::size_t transition_at = 0;  // index of the job's transition among them
  JobState to = JobState::failed;
  std::string detail;
};

// The settling transaction: take the job (first), record the stages, the verdict's
// events, the job's transition; a resubmitted job is released after it.
Settlement settlement(PipelineContext& ctx, const Job& job, const ImportDecision& d,
                      const std::map<std::string, Stage>& stages, const std::vector<WaitingOrder>& orders) {
  Settlement out;
  auto& st = out.statements;
  st.push_back(ctx.jobs.take_for_settling_statement(job));
  std::vector<std::string> uuids, names;
  std::vector<std::optional<std::string>> descriptions;
  for (const auto& o : orders) {
    auto it = stages.find(o.uuid);
    if (it == stages.end()) continue;
    uuids.push_back(o.uuid);
    names.push_back(it->second.stage);
    descriptions.push_back(it->second.description);
  }
  st.push_back(ctx.jobs.record_stages_statement(uuids, names, descriptions));
  ImportTask task = import_task_for(job.workflow_id, job.slurm_job_id, job.attempt, job.handoff_id);
  task.in_event_store = job.in_event_store;
  std::vector<pg::Statement> verdict;
  if (d.verdict == ImportVerdict::imported) {
    out.to = JobState::imported;
    out.detail = "all upload orders completed";
    verdict = imported_statements(task, imported_result(job), ctx.projections);
  } else if (d.verdict == ImportVerdict::failed) {
    out.to = JobState::failed;
    out.detail = d.reason;
    verdict = import_failed_statements(task, d.reason, ctx.projections);
  } else {
    out.to = JobState::archived;
    out.detail = "resubmitting: " + d.reason;
    verdict.push_back(ctx.jobs.next_submission_statement(job));
  }
  st.insert(st.end(), verdict.begin(), verdict.end());
  out.transition_at = st.size();
  st.push_back(ctx.jobs.transition_statement(job, out.to, out.detail));
  if (out.to == JobState::archived) {
    st.push_back(ctx.jobs.release_statement(job));
    st.push_back({"SELECT pg_notify($1, '')", pg::params(std::string(channels::jobs))});
  }
  return out;
}

// Returns false when another reactor holds the job (it settles it).
asio::awaitable<bool> settle(PipelineContext& ctx, Job job, ImportDecision d, std::map<std::string, Stage> stages,
                             std::vector<WaitingOrder> orders) {
  if (!ctx.projections.complete()) {
    auto c = co_await ctx.events().acquire();
    co_await refresh_projections(*c, ctx.projections);
  }
  const Settlement plan = settlement(ctx, job, d, stages, orders);
  const std::size_t at = plan.transition_at;
  const auto keep = [at](const std::vector<pg::Result>& r) { return r.front().rows() > 0 && r[at].rows() > 0; };
  const auto committed = co_await pipelined_transaction(ctx.events(), plan.statements, keep);
  if (!committed) co_return false;
  if (plan.to == JobState::archived) job.submission += 1;
  ctx.jobs.after_transition(job, plan.to, (*committed)[at], plan.detail);
  if (test_hooks::step_committed) test_hooks::step_committed(plan.to);
  co_return true;
}

}  // namespace

asio::awaitable<int> settle_waiting_orders(PipelineContext& ctx, std::optional<StageNotices> notices) {
  std::optional<std::vector<std::string>> only;
  if (notices) {
    only.emplace();
    for (const auto& [uuid, stage] : *notices) only->push_back(uuid);
  }
  const auto waiting = co_await ctx.jobs.waiting(only);
  if (waiting.empty()) co_return 0;
  const StageNotices notified = notices.value_or(StageNotices{});
  const auto stages = co_await stages_of(ctx, waiting, notified);
  const ImportPolicy policy{ctx.cfg.import.timeout, ctx.cfg.import.pending_alert, ctx.cfg.import.max_attempts};
  int still_waiting = 0;
  for (const auto& w : waiting) {
    const ImportDecision d = decide(progress_of(w, stages), policy);
    co_await report_stuck(ctx, w, d);
    if (d.verdict == ImportVerdict::wait) {
      ++still_waiting;
      continue;
    }
    const bool settled = co_await settle(ctx, w.job, d, stages, w.orders);
    if (!settled) continue;  // another reactor is settling it
    if (d.verdict == ImportVerdict::imported) ++ctx.counters.jobs_imported;
    if (d.verdict == ImportVerdict::failed) ++ctx.counters.jobs_failed;
    if (d.verdict == ImportVerdict::resubmit) {
      ++ctx.counters.orders_resubmitted;
      if (ctx.wake_scheduler) ctx.wake_scheduler();
    }
  }
  co_return still_waiting;
}

}  // namespace biomero_reactor
