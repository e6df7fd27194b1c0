#include "biomero_reactor/settle.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {
namespace {

// A regular file whose mtime is already settle_interval old has stood still that long:
// taken at once (a directory's mtime does not move when a file inside it grows).
bool last_changed_before(const std::filesystem::path& path, const std::optional<FileStamp>& stamp,
                         std::chrono::milliseconds settle_interval) {
  std::error_code ec;
  if (!stamp || !std::filesystem::is_regular_file(std::filesystem::symlink_status(path, ec))) return false;
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto age = std::chrono::nanoseconds(now_ns - stamp->mtime_ns);
  return age >= settle_interval && settled_between(path, stamp, stamp);
}

}  // namespace

boost::asio::awaitable<SettleResult> wait_until_settled(std::filesystem::path path,
                                                        std::chrono::milliseconds settle_interval,
                                                        std::chrono::milliseconds wait) {
  auto ex = co_await boost::asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const auto step = std::max(settle_interval, std::chrono::milliseconds(10));
  std::optional<FileStamp> before = file_stamp(path);
  bool appeared = before.has_value();
  if (last_changed_before(path, before, settle_interval)) co_return SettleResult::settled;
  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return appeared ? SettleResult::not_settled : SettleResult::missing;
    }
    boost::asio::steady_timer timer(ex, step);
    co_await timer.async_wait(boost::asio::use_awaitable);
    std::optional<FileStamp> after = file_stamp(path);
    appeared = appeared || after.has_value();
    if (settled_between(path, before, after)) co_return SettleResult::settled;
    before = std::move(after);
  }
}

boost::asio::awaitable<SettleResult> look_at_results(std::filesystem::path path,
                                                     std::chrono::milliseconds settle_interval) {
  if (!file_stamp(path)) co_return SettleResult::missing;
  const SettleResult seen = co_await wait_until_settled(path, settle_interval, settle_interval);
  co_return seen;
}

}  // namespace biomero_reactor
