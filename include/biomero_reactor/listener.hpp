#pragma once
// The dedicated LISTEN session (one per database): performs what ListenerFsm asks for on
// its own connection. After every (re)connect it LISTENs first, then calls catch_up, so
// nothing committed while it was down is missed. A heartbeat checks, within its timeout,
// that the channels are still in pg_listening_channels(); a half-open connection fails it.
#include <functional>
#include <string>
#include <vector>

#include "biomero_reactor/listener_fsm.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/wakeup.hpp"

namespace biomero_reactor {

class Listener {
 public:
  struct Callbacks {
    std::function<boost::asio::awaitable<void>()> catch_up;
    std::function<void(const pg::Notification&)> notified;
    std::function<void(bool healthy)> health_changed;
  };

  Listener(boost::asio::any_io_executor ex, std::string name, std::string conninfo, std::vector<std::string> channels,
           ListenerFsm::Settings settings, Duration heartbeat_timeout, Callbacks callbacks);

  boost::asio::awaitable<void> run();  // until stop()
  void stop();

  [[nodiscard]] bool healthy() const { return fsm_.healthy(); }
  [[nodiscard]] const ListenerFsm& fsm() const { return fsm_; }
  [[nodiscard]] int backend_pid() const { return conn_.backend_pid(); }

 private:
  boost::asio::awaitable<ListenerFsm::Action> wait();
  void dispatch(const std::vector<pg::Notification>& ns);
  void set_health();

  std::string name_;
  std::string conninfo_;
  std::vector<std::string> channels_;
  ListenerFsm fsm_;
  pg::Connection conn_;
  Callbacks callbacks_;
  Wakeup stop_;
  bool stopped_ = false;
  bool was_healthy_ = false;
};

}  // namespace biomero_reactor
