#pragma once
// Blocking work for a job on the worker pool while the event loop keeps serving and
// renews the job's lease every lease/3. Used by every step that reads or writes files.
//
// A task still running after jobs.file_step_timeout fails the step with FileStepTimeout
// (transient: retried later) and the step stops waiting for it; its thread, blocked in a
// read that cannot be interrupted, is counted in ctx.watch as stuck until it returns
// (worker_watch.hpp). So the task owns what it reads: `f` is copied, and a lambda handed
// here captures by value (docs/HACKING.md, coroutine rules).
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "biomero_reactor/log.hpp"
#include "biomero_reactor/pipeline.hpp"
#include "biomero_reactor/units.hpp"
#include "biomero_reactor/wakeup.hpp"
#include "biomero_reactor/worker_watch.hpp"

namespace biomero_reactor {

class FileStepTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_on_workers(PipelineContext& ctx, std::int64_t job_id, const F& f) {
  using R = std::invoke_result_t<F>;
  struct Task {
    explicit Task(const F& fn) : f(fn) {}
    F f;
    std::optional<R> result;  // written by the worker, read after `done`
    std::exception_ptr error;
    std::atomic<TaskPhase> phase{TaskPhase::queued};
    bool done = false;       // event loop only
    Wakeup* wake = nullptr;  // event loop only; null once the step gave the task up
  };
  auto ex = co_await boost::asio::this_coro::executor;
  Wakeup wake(ex);
  auto task = std::make_shared<Task>(f);
  task->wake = &wake;
  const std::shared_ptr<WorkerWatch> watch = ctx.watch;
  boost::asio::post(ctx.workers, [task, watch, ex] {
    if (!start_task(task->phase, *watch)) return;
    try {
      task->result.emplace(task->f());
    } catch (...) {
      task->error = std::current_exception();
    }
    finish_task(task->phase, *watch);
    boost::asio::post(ex, [task] {
      task->done = true;
      if (task->wake) task->wake->notify();
    });
  });
  const auto deadline = std::chrono::steady_clock::now() + ctx.cfg.jobs.file_step_timeout;
  while (!task->done) {
    const auto left = std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
    if (left <= Duration(0)) {
      const bool given_up = give_up_task(task->phase, *watch);
      if (given_up) {
        task->wake = nullptr;
        log::error("a file step took longer than jobs.file_step_timeout; its worker thread may be stuck",
                   {{"job", job_id},
                    {"timeout", format_duration(ctx.cfg.jobs.file_step_timeout)},
                    {"workers_stuck", watch->stuck.load()}});
        throw FileStepTimeout("the file step did not finish within " + format_duration(ctx.cfg.jobs.file_step_timeout) +
                              " (jobs.file_step_timeout): a read blocked (a hung mount?); retried later");
      }
      co_await wake.wait_for(std::chrono::milliseconds(10));  // finished just now: its result is on its way
      continue;
    }
    const bool woken = co_await wake.wait_for(std::min<Duration>(ctx.jobs.lease() / 3, left));
    if (!woken && !task->done && std::chrono::steady_clock::now() < deadline) {
      try {
        co_await ctx.jobs.renew(job_id);
      } catch (const pg::Error& e) {
        log::warn("cannot renew a job's lease", {{"error", e.what()}});
      }
    }
  }
  if (task->error) std::rethrow_exception(task->error);
  co_return std::move(*task->result);
}

}  // namespace biomero_reactor
