// The HTTP endpoint under a flood of idle connections: it must hold at most its cap,
// keep answering health checks, and close connections that never send a request.
// A real endpoint on its own io_context thread; real sockets from the test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "biomero_reactor/http_endpoint.hpp"

using namespace biomero_reactor;
using namespace std::chrono_literals;

namespace {

struct Server {
  boost::asio::io_context io;
  HttpEndpoint endpoint;
  std::thread thread;

  Server(std::size_t cap, std::chrono::milliseconds idle)
      : endpoint(
            io.get_executor(), "127.0.0.1:0",
            [](std::string) -> boost::asio::awaitable<HttpAnswer> {
              co_return HttpAnswer{200, "text/plain", "ok\n"};
            },
            cap, idle) {
    boost::asio::co_spawn(io, endpoint.run(), boost::asio::detached);
    thread = std::thread([this] { io.run(); });
  }
  ~Server() {
    boost::asio::post(io, [this] { endpoint.stop(); });
    io.stop();
    thread.join();
  }
  // Read on the endpoint's own thread.
  std::size_t connections() {
    std::promise<std::size_t> count;
    boost::asio::post(io, [&] { count.set_value(endpoint.connections()); });
    return count.get_future().get();
  }
  [[nodiscard]] std::string listen() const { return "127.0.0.1:" + std::to_string(endpoint.port()); }
};

int connect_idle(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

// True when the server has closed the connection (EOF or reset) within `wait`.
bool closed_by_server(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_http_test)

BOOST_AUTO_TEST_CASE(two_hundred_idle_sockets_neither_exceed_the_cap_nor_lock_out_a_health_check) {
  Server server(64, 10s);
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(connect_idle(server.endpoint.port()));
  std::this_thread::sleep_for(200ms);  // let the endpoint accept them all
  BOOST_TEST(server.connections() <= 64u);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    const HttpAnswer answer = http_get(server.listen(), "/healthz", 2s);
    BOOST_TEST(answer.status == 200u);
    BOOST_TEST(answer.body == "ok\n");
  }
  // Each answer is already bounded by http_get's 2 s timeout; the five together must not
  // queue behind the idle sockets (which would hold them for the 10 s idle timeout).
  BOOST_TEST((std::chrono::steady_clock::now() - start < 9s));
  BOOST_TEST(server.connections() <= 64u);
  int closed = 0;
  for (const int fd : idle) closed += closed_by_server(fd, 0ms) ? 1 : 0;
  BOOST_TEST(closed >= 200 - 64, closed << " of 200 idle sockets closed by the server");
  for (const int fd : idle) ::close(fd);
}

BOOST_AUTO_TEST_CASE(a_connection_that_sends_nothing_is_closed_after_the_idle_timeout) {
  Server server(64, 300ms);
  const int fd = connect_idle(server.endpoint.port());
  BOOST_TEST(closed_by_server(fd, 3000ms));
  ::close(fd);
  BOOST_TEST(server.connections() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
