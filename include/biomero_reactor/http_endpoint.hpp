#pragma once
// The optional HTTP endpoint (config http.listen, off when empty) for /healthz, /readyz
// and /metrics, on the reactor's own event loop (Boost.Beast): an endpoint that answers
// proves the loop is not stuck. GET and HEAD only; the handler decides every answer.
// http_get is the client `biomero-reactor health` uses in a container's HEALTHCHECK.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace biomero_reactor {

struct HttpAnswer {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Receives the request target ("/readyz?x=1" as sent).
using HttpHandler = std::function<boost::asio::awaitable<HttpAnswer>(std::string target)>;

// Connection limits: the endpoint must never take the descriptors the pipeline needs.
// - at most max_connections open at once; when a new one arrives at the cap, the oldest
//   connection that is waiting for a request (idle, or sending one slowly) is closed to
//   make room, so a flood of idle sockets cannot lock a health check out; when every
//   connection is busy answering, the new one is closed at once;
// - a connection with no complete request within idle_timeout (after it opened, or after
//   its last answer) is closed;
// - an accept that fails (EMFILE) waits a moment before the next, instead of spinning.
inline constexpr std::size_t default_http_max_connections = 64;
inline constexpr std::chrono::milliseconds default_http_idle_timeout{10000};

class HttpEndpoint {
 public:
  // Binds at once ("host:port"; port 0 picks a free one); throws when it cannot.
  HttpEndpoint(boost::asio::any_io_executor ex, const std::string& listen, HttpHandler handler,
               std::size_t max_connections = default_http_max_connections,
               std::chrono::milliseconds idle_timeout = default_http_idle_timeout);
  boost::asio::awaitable<void> run();  // accepts until stop()
  void stop();
  [[nodiscard]] unsigned short port() const { return port_; }
  // Connections open now (read on the endpoint's executor).
  [[nodiscard]] std::size_t connections() const;
  // Connections closed at the cap so far.
  [[nodiscard]] std::uint64_t shed() const;

  struct Registry;

 private:
  boost::asio::ip::tcp::acceptor acceptor_;
  HttpHandler handler_;
  unsigned short port_ = 0;
  std::shared_ptr<Registry> registry_;
};

// GET http://<listen>/<target>; a wildcard host (0.0.0.0, ::) is reached on loopback.
// Throws when there is no answer within the timeout.
HttpAnswer http_get(const std::string& listen, const std::string& target, std::chrono::milliseconds timeout);

}  // namespace biomero_reactor
