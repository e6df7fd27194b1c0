#include "biomero_reactor/listener.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <random>

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using Action = ListenerFsm::Action;
using Clock = ListenerFsm::Clock;

Listener::Listener(asio::any_io_executor ex, std::string name, std::string conninfo, std::vector<std::string> channels,
                   ListenerFsm::Settings settings, Duration heartbeat_timeout, Callbacks callbacks)
    : name_(std::move(name)),
      conninfo_(std::move(conninfo)),
      channels_(std::move(channels)),
      fsm_(settings, std::random_device{}()),
      conn_(ex, heartbeat_timeout),
      callbacks_(std::move(callbacks)),
      stop_(ex) {}

void Listener::stop() {
  stopped_ = true;
  stop_.notify();
}

void Listener::dispatch(const std::vector<pg::Notification>& ns) {
  for (const auto& n : ns) {
    if (callbacks_.notified) callbacks_.notified(n);
  }
}

void Listener::set_health() {
  if (fsm_.healthy() == was_healthy_) return;
  was_healthy_ = fsm_.healthy();
  if (callbacks_.health_changed) callbacks_.health_changed(was_healthy_);
}

asio::awaitable<Action> Listener::wait() {
  const auto left = std::chrono::duration_cast<Duration>(fsm_.deadline() - Clock::now());
  const auto d = std::max(left, Duration(0));
  if (fsm_.healthy() && conn_.is_open()) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    auto r = co_await (conn_.wait_notifications() || timer.async_wait(asio::use_awaitable) || stop_.wait_for(d));
    if (r.index() == 0) {
      dispatch(std::get<0>(r));
      co_return Action::wait;
    }
  } else {
    co_await stop_.wait_for(d);
  }
  co_return fsm_.timer(Clock::now());
}

asio::awaitable<void> Listener::run() {
  Action a = fsm_.start(Clock::now());
  while (!stopped_) {
    try {
      switch (a) {
        case Action::connect:
          co_await conn_.connect(conninfo_);
          a = fsm_.connected(Clock::now());
          break;
        case Action::listen:
          // Channel names are the program's constants, never user data.
          for (const auto& ch : channels_) co_await conn_.query("LISTEN " + ch);
          a = fsm_.subscribed(Clock::now());
          break;
        case Action::catch_up:
          if (callbacks_.catch_up) co_await callbacks_.catch_up();
          a = fsm_.caught_up(Clock::now());
          log::info(fsm_.reconnects() == 0 ? "listening" : "listening again after reconnect",
                    {{"database", name_}, {"reconnects", fsm_.reconnects()}});
          break;
        case Action::heartbeat: {
          std::string array = "{";
          for (const auto& ch : channels_) array += (array.size() > 1 ? "," : "") + ch;
          array += "}";
          auto r = co_await conn_.query("SELECT count(*) FROM pg_listening_channels() c WHERE c = ANY($1::text[])",
                                        pg::params(array));
          if (r.int64(0, 0) != static_cast<std::int64_t>(channels_.size())) {
            throw pg::Error(pg::errc::connection_failure, "LISTEN channels lost on the server");
          }
          dispatch(conn_.take_notifications());
          a = fsm_.heartbeat_ok(Clock::now());
          break;
        }
        case Action::close_and_wait:
          conn_.close();
          a = Action::wait;
          break;
        case Action::wait:
          a = co_await wait();
          break;
      }
    } catch (const std::exception& e) {
      if (stopped_) break;
      a = fsm_.failed(Clock::now(), e.what());
      log::warn("LISTEN session lost; polling until it is back",
                {{"database", name_},
                 {"error", e.what()},
                 {"retry_in_ms", std::chrono::duration_cast<Duration>(fsm_.deadline() - Clock::now()).count()}});
    }
    set_health();
  }
  conn_.close();
}

}  // namespace biomero_reactor
