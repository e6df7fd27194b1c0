// sd_notify without libsystemd: datagrams reach the socket $NOTIFY_SOCKET names, in the
// file system or the abstract namespace; the watchdog interval is half of $WATCHDOG_USEC.
#include "biomero_reactor/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

using namespace biomero_reactor;

namespace {

// A bound datagram socket standing in for systemd.
struct FakeSystemd {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  std::string name;

  explicit FakeSystemd(std::string n) : name(std::move(n)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw std::runtime_error("bind failed");
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~FakeSystemd() {
    ::close(fd);
    if (name[0] == '/') ::unlink(name.c_str());
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  std::string receive() {
    char buf[512];
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    return n < 0 ? std::string("(nothing)") : std::string(buf, static_cast<std::size_t>(n));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(systemd_notify_test)

BOOST_AUTO_TEST_CASE(ready_reaches_a_socket_in_the_file_system) {
  const auto path = std::filesystem::temp_directory_path() / ("notify-" + std::to_string(::getpid()) + ".sock");
  FakeSystemd systemd(path.string());
  const auto n = SystemdNotifier::from_environment();
  BOOST_TEST(n.active());
  BOOST_TEST(n.send("READY=1"));
  BOOST_TEST(systemd.receive() == "READY=1");
}

BOOST_AUTO_TEST_CASE(an_at_sign_names_the_abstract_namespace) {
  FakeSystemd systemd("@biomero-reactor-test-" + std::to_string(::getpid()));
  BOOST_TEST(SystemdNotifier::from_environment().send("STOPPING=1"));
  BOOST_TEST(systemd.receive() == "STOPPING=1");
}

BOOST_AUTO_TEST_CASE(the_watchdog_is_pinged_at_half_its_timeout_and_only_by_the_watched_process) {
  FakeSystemd systemd("@biomero-reactor-wd-" + std::to_string(::getpid()));
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  BOOST_TEST(SystemdNotifier::from_environment().watchdog_interval().value().count() == 15000);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  BOOST_TEST(!SystemdNotifier::from_environment().watchdog_interval().has_value());
}

BOOST_AUTO_TEST_CASE(outside_systemd_nothing_is_sent) {
  ::unsetenv("NOTIFY_SOCKET");
  const auto n = SystemdNotifier::from_environment();
  BOOST_TEST(!n.active());
  BOOST_TEST(!n.send("READY=1"));
}

BOOST_AUTO_TEST_SUITE_END()
