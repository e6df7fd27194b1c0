#pragma once
// A wake-up call for one waiting coroutine: notify() before or during wait_for() makes it
// return early; notifications while nobody waits are kept (as one), never lost.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace biomero_reactor {

class Wakeup {
 public:
  explicit Wakeup(const boost::asio::any_io_executor& ex) : timer_(ex) {}

  void notify() {
    pending_ = true;
    timer_.cancel();
  }

  // True when woken by notify(), false when the time ran out.
  boost::asio::awaitable<bool> wait_for(std::chrono::milliseconds d) {
    if (!pending_) {
      timer_.expires_after(d);
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    co_return std::exchange(pending_, false);
  }

 private:
  boost::asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace biomero_reactor
