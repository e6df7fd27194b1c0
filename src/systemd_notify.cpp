#include "biomero_reactor/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace biomero_reactor {

SystemdNotifier SystemdNotifier::from_environment() {
  SystemdNotifier n;
  if (const char* s = std::getenv("NOTIFY_SOCKET"); s && (s[0] == '/' || s[0] == '@')) n.socket_path_ = s;
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  // WATCHDOG_PID names the process systemd watches; a child that inherited it must not answer.
  const bool for_us = !pid || std::strtol(pid, nullptr, 10) == ::getpid();
  if (usec && for_us) {
    const long long us = std::strtoll(usec, nullptr, 10);
    if (us > 0) n.watchdog_interval_ = std::chrono::milliseconds(std::max(us / 2000, 1LL));
  }
  return n;
}

bool SystemdNotifier::send(std::string_view message) const {
  if (socket_path_.empty()) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  ::close(fd);
  return sent == static_cast<ssize_t>(message.size());
}

}  // namespace biomero_reactor
