#include "biomero_reactor/pipeline.hpp"

#include <unistd.h>

#include <random>

#include "biomero_reactor/backoff.hpp"
#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/handoff_steps.hpp"
#include "biomero_reactor/job_steps.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/test_hooks.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

asio::awaitable<Workflow> load_workflow(PipelineContext& ctx, const Uuid& id) {
  auto c = co_await ctx.events().acquire();
  co_return decode_workflow(id, co_await load_workflow_events(*c, id));
}

// pending -> started: the reactor's import task appears in BIOMERO as IMPORTING.
asio::awaitable<void> report_started(PipelineContext& ctx, Job& job, const Workflow& wf) {
  ImportTask task = import_task_for(wf.id, job.slurm_job_id, job.attempt, job.handoff_id);
  task.in_event_store = job.in_event_store;
  const std::string detail = "IMPORTING reported as task " + task.id.str();
  co_await commit_transition(ctx, job, JobState::started, detail, [&](pg::Connection& c) -> asio::awaitable<void> {
    co_await report_importing(c, task, wf);
    co_await ctx.jobs.record_import_task(c, job, task.id);
  });
}

asio::awaitable<void> advance(PipelineContext& ctx, Job& job, const Workflow& wf) {
  if (job.state == JobState::pending) co_await report_started(ctx, job, wf);
  if (job.state == JobState::started || job.state == JobState::archiving) {
    if (job.handoff_id) {
      co_await handoff_archive_step(ctx, job, wf);
    } else {
      co_await archive_step(ctx, job, wf);
    }
  }
  if (job.state == JobState::archived) co_await submit_step(ctx, job, wf);
}

// IMPORT_FAILED for the user, `failed` for the job; the import task is reported first if
// the job failed before it could be (a workflow that cannot be decoded, say).
asio::awaitable<void> fail_job(PipelineContext& ctx, Job& job, const std::optional<Workflow>& wf, std::string reason) {
  ImportTask task = import_task_for(job.workflow_id, job.slurm_job_id, job.attempt, job.handoff_id);
  task.in_event_store = job.in_event_store;
  co_await commit_transition(ctx, job, JobState::failed, reason, [&](pg::Connection& c) -> asio::awaitable<void> {
    if (job.state == JobState::pending) {
      Workflow minimal;
      minimal.id = job.workflow_id;
      const Workflow& known = wf ? *wf : minimal;
      co_await report_importing(c, task, known);
    }
    co_await report_import_failed(c, task, reason);
  });
  ++ctx.counters.jobs_failed;
}

asio::awaitable<void> retry_later(PipelineContext& ctx, Job& job, std::string error) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto delay = backoff_delay(ctx.cfg.jobs.retry_initial, ctx.cfg.jobs.retry_max, static_cast<unsigned>(job.step_failures),
                                   std::uniform_real_distribution<double>(0, 1)(rng));
  co_await ctx.jobs.retry_later(job, error, delay);
  ++ctx.counters.step_retries;
  log::warn("job step failed; will retry", {{"workflow_id", job.workflow_id.str()},
                                            {"job_id", job.slurm_job_id},
                                            {"state", std::string(to_string(job.state))},
                                            {"error", error},
                                            {"retry_in_ms", delay.count()},
                                            {"failures", job.step_failures + 1}});
}

// The job's group folder (the base directory before the job has one) closes the gate.
void report_storage_fault(PipelineContext& ctx, const Job& job, const std::string& error) {
  std::filesystem::path where = ctx.storage.base_dir;
  try {
    if (job.group_name) where = group_base_path(ctx.storage, *job.group_name);
  } catch (const std::exception&) {
  }
  ctx.storage_gate.report(where, error);
}

}  // namespace

std::string default_instance() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

asio::awaitable<void> commit_transition(PipelineContext& ctx, Job& job, JobState to, std::string detail,
                                        std::function<asio::awaitable<void>(pg::Connection&)> also) {
  co_await in_transaction(ctx.events(), [&](pg::Connection& c) -> asio::awaitable<void> {
    if (also) co_await also(c);
    co_await ctx.jobs.transition(c, job, to, detail);
  });
  if (test_hooks::step_committed) test_hooks::step_committed(to);
}

asio::awaitable<void> run_job(PipelineContext& ctx, JobRef ref) {
  std::optional<Job> job;
  std::optional<Workflow> wf;
  std::string error;
  FailureKind kind = FailureKind::transient;
  try {
    job = co_await ctx.jobs.load(ref.id);
    if (job->handoff_id) {
      wf = co_await load_handoff_workflow(ctx, *job);
    } else {
      wf = co_await load_workflow(ctx, job->workflow_id);
    }
    co_await advance(ctx, *job, *wf);
    co_return;
  } catch (const LeaseLost& e) {
    log::warn(e.what(), {{"job", ref.id}});
    co_return;
  } catch (const CodecError& e) {
    error = std::string("cannot decode the workflow's events: ") + e.what();
    kind = FailureKind::permanent;
  } catch (const std::exception& e) {
    error = e.what();
    kind = classify_failure(std::current_exception());  // else database, storage: worth another try
  }
  if (!job) co_return;  // could not even load it: the lease expires and it is claimed again
  if (kind == FailureKind::storage) report_storage_fault(ctx, *job, error);
  const int storage_limit =
      storage_retry_limit(ctx.cfg.jobs.retry_initial, ctx.cfg.jobs.retry_max, ctx.cfg.jobs.transient_retry_total);
  try {
    if (ends_the_job(kind, job->step_failures, ctx.cfg.jobs.max_attempts, storage_limit)) {
      co_await fail_job(ctx, *job, wf, error);
    } else {
      co_await retry_later(ctx, *job, error);
    }
  } catch (const std::exception& e) {
    log::error("cannot record a job's failure; it will be taken up again when its lease expires",
               {{"job_id", job->slurm_job_id}, {"error", e.what()}, {"failure", error}});
  }
}

}  // namespace biomero_reactor
