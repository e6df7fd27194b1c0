#pragma once
// The sd_notify protocol without libsystemd: datagrams like "READY=1" sent to the unix
// socket systemd names in $NOTIFY_SOCKET (a leading '@' is the abstract namespace).
// With Type=notify the unit is "active" only after READY=1; with WatchdogSec= systemd
// restarts the daemon when WATCHDOG=1 stops arriving within $WATCHDOG_USEC.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace biomero_reactor {

class SystemdNotifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID; inert when not under systemd.
  static SystemdNotifier from_environment();

  // True when the datagram was sent; a missing socket is not an error (nothing listens).
  bool send(std::string_view message) const;
  [[nodiscard]] bool active() const { return !socket_path_.empty(); }
  // How often to send WATCHDOG=1: half of the watchdog timeout, when systemd set one for us.
  [[nodiscard]] std::optional<std::chrono::milliseconds> watchdog_interval() const { return watchdog_interval_; }

 private:
  std::string socket_path_;
  std::optional<std::chrono::milliseconds> watchdog_interval_;
};

}  // namespace biomero_reactor
