#include "biomero_reactor/settle.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {

boost::asio::awaitable<SettleResult> wait_until_settled(std::filesystem::path path,
                                                        std::chrono::milliseconds settle_interval,
                                                        std::chrono::milliseconds wait) {
  auto ex = co_await boost::asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const auto step = std::max(settle_interval, std::chrono::milliseconds(10));
  std::optional<FileStamp> before = file_stamp(path);
  bool appeared = before.has_value();
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

}  // namespace biomero_reactor
