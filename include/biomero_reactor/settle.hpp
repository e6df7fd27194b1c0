#pragma once
// Waiting for results to be complete, from the event loop: the results path must exist
// and then settle (fs_util's file_settled rule: the same size, mtime and identity over
// settle_interval, not empty, and for a .zip a readable end of central directory). A
// file still growing, or a zip cut short, is looked at again until the deadline; it is
// never taken half-written.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>

namespace biomero_reactor {

enum class SettleResult {
  settled,      // complete: take it
  missing,      // never appeared within the wait
  not_settled,  // appeared, but was still changing (or not a readable zip) at the deadline
};

// Polls every settle_interval until the path has settled or `wait` has passed. Runs on
// the caller's executor; the checks are a few stat calls and, for a zip, one read of its
// last 64 KiB.
boost::asio::awaitable<SettleResult> wait_until_settled(std::filesystem::path path,
                                                        std::chrono::milliseconds settle_interval,
                                                        std::chrono::milliseconds wait);

// One look, for a job that must not hold its slot while it waits (results_wait.hpp):
// missing at once when the path is not there; otherwise settled or not within about one
// settle interval (a file whose mtime is already that old is taken at once).
boost::asio::awaitable<SettleResult> look_at_results(std::filesystem::path path,
                                                     std::chrono::milliseconds settle_interval);

}  // namespace biomero_reactor
