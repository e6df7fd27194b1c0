#include "biomero_reactor/http_endpoint.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <optional>
#include <stdexcept>

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// The open connections, oldest first; shared with the sessions, which may outlive the
// endpoint by a moment.
struct HttpEndpoint::Registry {
  struct Slot {
    beast::tcp_stream* stream = nullptr;
    bool busy = false;   // a request was read and is being answered
    bool listed = true;  // still counted (an evicted slot is removed at once)
  };
  std::list<std::shared_ptr<Slot>> slots;
  std::size_t max_connections = default_http_max_connections;
  std::chrono::milliseconds idle_timeout = default_http_idle_timeout;
  std::uint64_t shed = 0;

  // Room for one more: closes the oldest connection waiting for a request, if any.
  bool make_room() {
    if (slots.size() < max_connections) return true;
    for (auto it = slots.begin(); it != slots.end(); ++it) {
      if ((*it)->busy) continue;
      boost::system::error_code ignored;
      (*it)->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      (*it)->stream->socket().close(ignored);
      (*it)->listed = false;
      slots.erase(it);
      ++shed;
      return true;
    }
    ++shed;
    return false;
  }
};

namespace {

struct HostPort {
  std::string host, port;
};

HostPort split_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) throw std::invalid_argument("\"" + listen + "\" is not host:port");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, listen.substr(colon + 1)};
}

tcp::endpoint resolve_one(asio::any_io_executor ex, const HostPort& hp) {
  tcp::resolver resolver(ex);
  const auto results = resolver.resolve(hp.host, hp.port);
  if (results.empty()) throw std::runtime_error("cannot resolve " + hp.host);
  return results.begin()->endpoint();
}

asio::awaitable<void> session(tcp::socket socket, HttpHandler handler,
                              std::shared_ptr<HttpEndpoint::Registry> registry) {
  beast::tcp_stream stream(std::move(socket));
  auto slot = std::make_shared<HttpEndpoint::Registry::Slot>();
  slot->stream = &stream;
  registry->slots.push_back(slot);
  const auto listed_at = std::prev(registry->slots.end());
  struct Unlist {  // an evicted slot was erased already: its iterator is not touched
    HttpEndpoint::Registry& registry;
    std::shared_ptr<HttpEndpoint::Registry::Slot> slot;
    std::list<std::shared_ptr<HttpEndpoint::Registry::Slot>>::iterator at;
    ~Unlist() {
      if (slot->listed) registry.slots.erase(at);
    }
  } unlist{*registry, slot, listed_at};
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  for (;;) {
    http::request<http::string_body> req;
    slot->busy = false;
    stream.expires_after(registry->idle_timeout);
    co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !slot->listed) break;
    slot->busy = true;
    HttpAnswer answer;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      answer = HttpAnswer{405, "text/plain", "GET or HEAD only\n"};
    } else {
      const std::string target(req.target());
      try {
        answer = co_await handler(target);
      } catch (const std::exception& e) {
        answer = HttpAnswer{500, "text/plain", std::string(e.what()) + "\n"};
      }
    }
    http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
    res.set(http::field::server, "biomero-reactor");
    res.set(http::field::content_type, answer.content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::head) res.body() = std::move(answer.body);
    res.prepare_payload();
    stream.expires_after(registry->idle_timeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  if (slot->listed) stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<HttpAnswer> get(tcp::endpoint at, std::string target, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  stream.expires_after(timeout);
  co_await stream.async_connect(at, asio::use_awaitable);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, at.address().to_string());
  req.set(http::field::connection, "close");
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  co_await http::async_read(stream, buffer, res, asio::use_awaitable);
  HttpAnswer answer;
  answer.status = res.result_int();
  answer.content_type = std::string(res[http::field::content_type]);
  answer.body = std::move(res.body());
  co_return answer;
}

}  // namespace

HttpEndpoint::HttpEndpoint(asio::any_io_executor ex, const std::string& listen, HttpHandler handler,
                           std::size_t max_connections, std::chrono::milliseconds idle_timeout)
    : acceptor_(ex), handler_(std::move(handler)), registry_(std::make_shared<Registry>()) {
  registry_->max_connections = std::max<std::size_t>(max_connections, 1);
  registry_->idle_timeout = idle_timeout;
  const auto at = resolve_one(ex, split_listen(listen));
  acceptor_.open(at.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
}

asio::awaitable<void> HttpEndpoint::run() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) break;
    if (ec) {
      // EMFILE and the like fail again at once: pause instead of spinning the loop.
      log::warn("accepting an HTTP connection failed", {{"error", ec.message()}});
      asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (!registry_->make_room()) {
      log::warn("HTTP connection refused: every connection is busy",
                {{"max_connections", static_cast<std::int64_t>(registry_->max_connections)}});
      socket.close(ec);
      continue;
    }
    asio::co_spawn(acceptor_.get_executor(), session(std::move(socket), handler_, registry_), asio::detached);
  }
}

std::size_t HttpEndpoint::connections() const {
  return registry_->slots.size();
}

std::uint64_t HttpEndpoint::shed() const {
  return registry_->shed;
}

void HttpEndpoint::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

HttpAnswer http_get(const std::string& listen, const std::string& target, std::chrono::milliseconds timeout) {
  HostPort hp = split_listen(listen);
  if (hp.host == "0.0.0.0" || hp.host.empty()) hp.host = "127.0.0.1";
  if (hp.host == "::") hp.host = "::1";
  asio::io_context io;
  const auto at = resolve_one(io.get_executor(), hp);
  std::optional<HttpAnswer> answer;
  std::exception_ptr error;
  asio::co_spawn(io, get(at, target, timeout), [&](std::exception_ptr e, HttpAnswer a) {
    if (e)
      error = e;
    else
      answer = std::move(a);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*answer);
}

}  // namespace biomero_reactor
