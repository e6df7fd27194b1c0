#pragma once
// The optional HTTP endpoint (config http.listen, off when empty) for /healthz, /readyz
// and /metrics, on the reactor's own event loop (Boost.Beast): an endpoint that answers
// proves the loop is not stuck. GET and HEAD only; the handler decides every answer.
// http_get is the client `biomero-reactor health` uses in a container's HEALTHCHECK.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <string>

namespace biomero_reactor {

struct HttpAnswer {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Receives the request target ("/readyz?x=1" as sent).
using HttpHandler = std::function<boost::asio::awaitable<HttpAnswer>(std::string target)>;

class HttpEndpoint {
 public:
  // Binds at once ("host:port"; port 0 picks a free one); throws when it cannot.
  HttpEndpoint(boost::asio::any_io_executor ex, const std::string& listen, HttpHandler handler);
  boost::asio::awaitable<void> run();  // accepts until stop()
  void stop();
  [[nodiscard]] unsigned short port() const { return port_; }

 private:
  boost::asio::ip::tcp::acceptor acceptor_;
  HttpHandler handler_;
  unsigned short port_ = 0;
};

// GET http://<listen>/<target>; a wildcard host (0.0.0.0, ::) is reached on loopback.
// Throws when there is no answer within the timeout.
HttpAnswer http_get(const std::string& listen, const std::string& target, std::chrono::milliseconds timeout);

}  // namespace biomero_reactor
