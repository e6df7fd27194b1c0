#pragma once
// Waiting for results to be complete: the results path must exist
// and then settle (fs_util's file_settled rule: the same size, mtime and identity over
// settle_interval, not empty, and for a .zip a readable end of central directory). A
// file still growing, or a zip cut short, is looked at again until the deadline; it is
// never taken half-written.
#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <optional>

#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {

enum class SettleResult {
  settled,      // complete: take it
  missing,      // never appeared within the wait
  not_settled,  // appeared, but was still changing (or not a readable zip) at the deadline
};

// The two blocking halves of one look, for the worker pool (a stat on a hung mount must
// never stop the event loop): the path's stamp, and whether a regular file's mtime is
// already settle_interval old (taken at once); then, a settle interval later, whether it
// stood still (fs_util's settled_between: for a zip, one read of its last 64 KiB).
struct FirstLook {
  std::optional<FileStamp> stamp;  // nullopt: not there
  bool settled = false;
};
[[nodiscard]] FirstLook first_look(const std::filesystem::path& path, std::chrono::milliseconds settle_interval);
[[nodiscard]] bool second_look(const std::filesystem::path& path, const std::optional<FileStamp>& before);

// One look, for a job that must not hold its slot while it waits (results_wait.hpp):
// missing at once when the path is not there; otherwise settled or not within about one
// settle interval. `run(f)` runs the blocking callable `f` off the event loop and returns
// an awaitable of its result (run_on_workers in the pipeline).
template <class Run>
boost::asio::awaitable<SettleResult> look_at_results(std::filesystem::path path,
                                                     std::chrono::milliseconds settle_interval, Run run) {
  // Named, not temporaries in the co_await expressions (g++ 12 mishandles those).
  const auto look_first = [path, settle_interval] { return first_look(path, settle_interval); };
  const FirstLook first = co_await run(look_first);
  if (!first.stamp) co_return SettleResult::missing;
  if (first.settled) co_return SettleResult::settled;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                  std::max(settle_interval, std::chrono::milliseconds(10)));
  co_await timer.async_wait(boost::asio::use_awaitable);
  const auto look_again = [path, before = first.stamp] { return second_look(path, before); };
  const bool still = co_await run(look_again);
  co_return still ? SettleResult::settled : SettleResult::not_settled;
}

}  // namespace biomero_reactor
