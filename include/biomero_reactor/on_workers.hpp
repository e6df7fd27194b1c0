#pragma once
// Blocking work for a job on the worker pool while the event loop keeps serving and
// renews the job's lease every lease/3. Used by every step that reads or writes files.
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>

#include "biomero_reactor/log.hpp"
#include "biomero_reactor/pipeline.hpp"
#include "biomero_reactor/wakeup.hpp"

namespace biomero_reactor {

template <class F>
boost::asio::awaitable<std::invoke_result_t<F>> run_on_workers(PipelineContext& ctx, std::int64_t job_id, const F& f) {
  using R = std::invoke_result_t<F>;
  auto ex = co_await boost::asio::this_coro::executor;
  auto done = std::make_shared<bool>(false);
  Wakeup wake(ex);
  std::optional<R> result;
  std::exception_ptr error;
  boost::asio::post(ctx.workers, [&, ex, done] {
    try {
      result.emplace(f());
    } catch (...) {
      error = std::current_exception();
    }
    boost::asio::post(ex, [&, done] {
      *done = true;
      wake.notify();
    });
  });
  while (!*done) {
    const bool woken = co_await wake.wait_for(ctx.jobs.lease() / 3);
    if (!woken && !*done) {
      try {
        co_await ctx.jobs.renew(job_id);
      } catch (const pg::Error& e) {
        log::warn("cannot renew a job's lease", {{"error", e.what()}});
      }
    }
  }
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

}  // namespace biomero_reactor
