#include "biomero_reactor/omero_http.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <variant>

namespace biomero_reactor {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

WebUrl parse_web_url(std::string_view url) {
  WebUrl out;
  std::string_view rest;
  if (url.starts_with("https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    throw std::invalid_argument("OMERO.web URL must start with http:// or https://: " + std::string(url));
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos || path.find_first_of("?#") != std::string_view::npos) {
    throw std::invalid_argument("OMERO.web URL must have no user info, query or fragment");
  }
  std::string_view host = authority;
  std::string_view port = out.tls ? "443" : "80";
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("OMERO.web URL has an unclosed [");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw std::invalid_argument("OMERO.web URL has a malformed host");
      port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) {
    throw std::invalid_argument("OMERO.web URL has no usable host and port: " + std::string(url));
  }
  out.host = std::string(host);
  out.port = std::string(port);
  out.prefix = std::string(path);
  return out;
}

std::string WebUrl::host_header() const {
  std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port == (tls ? "443" : "80")) return shown;
  return shown + ":" + port;
}

std::string WebUrl::origin() const {
  return (tls ? "https://" : "http://") + host_header();
}

HttpClient::HttpClient(WebUrl url, const HttpOptions& options) : url_(std::move(url)), timeout_(options.timeout) {
  if (!url_.tls) return;
  tls_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (options.tls_verify) {
    tls_->set_verify_mode(asio::ssl::verify_peer);
    if (options.ca_file.empty()) {
      tls_->set_default_verify_paths();
    } else {
      tls_->load_verify_file(options.ca_file.string());
    }
  } else {
    tls_->set_verify_mode(asio::ssl::verify_none);
  }
}

namespace {

template <typename Stream>
asio::awaitable<HttpResponse> write_and_read(Stream& stream, HttpRequest& request) {
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{64} * 1024 * 1024);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  co_return parser.release();
}

}  // namespace

asio::awaitable<HttpResponse> HttpClient::send(HttpRequest request) {
  const auto executor = co_await asio::this_coro::executor;
  request.set(http::field::host, url_.host_header());
  request.version(11);
  request.keep_alive(false);
  request.prepare_payload();

  tcp::resolver resolver(executor);
  std::optional<asio::ssl::stream<tcp::socket>> tls_stream;
  tcp::socket plain(executor);
  if (tls_) tls_stream.emplace(executor, *tls_);
  tcp::socket& socket = tls_ ? tls_stream->next_layer() : plain;

  // Failures come back as a value: operator|| waits for the first *success*, so an
  // exchange that threw would otherwise wait out the whole timeout.
  struct Exchanged {
    HttpResponse response;
    std::exception_ptr failure;
  };
  auto exchange = [&]() -> asio::awaitable<Exchanged> {
    Exchanged out;
    try {
      const auto endpoints = co_await resolver.async_resolve(url_.host, url_.port, asio::use_awaitable);
      co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
      if (tls_stream) {
        // SNI, and the certificate must name the host we asked for.
        SSL_set_tlsext_host_name(tls_stream->native_handle(), url_.host.c_str());
        tls_stream->set_verify_callback(asio::ssl::host_name_verification(url_.host));
        co_await tls_stream->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        ++sent_;
        out.response = co_await write_and_read(*tls_stream, request);
      } else {
        ++sent_;
        out.response = co_await write_and_read(plain, request);
      }
    } catch (...) {
      out.failure = std::current_exception();
    }
    co_return out;
  };
  // A timer closes the socket: every pending operation on it then fails at once,
  // whatever its support for per-operation cancellation.
  asio::steady_timer timer(executor);
  timer.expires_after(timeout_);
  auto watchdog = [&]() -> asio::awaitable<void> {
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    resolver.cancel();
    socket.close(ec);
  };
  const std::string where = url_.host_header();
  try {
    auto race = exchange() || watchdog();
    std::variant<Exchanged, std::monostate> outcome = co_await std::move(race);
    if (outcome.index() == 1) {
      throw OmeroWebError(OmeroWebError::Kind::transient, 0,
                          "OMERO.web at " + where + " did not answer " + std::string(request.target()) + " within " +
                              std::to_string(timeout_.count()) + " ms");
    }
    Exchanged& done = std::get<0>(outcome);
    if (done.failure) std::rethrow_exception(done.failure);
    co_return std::move(done.response);
  } catch (const boost::system::system_error& e) {
    const bool verification = e.code().category() == asio::error::get_ssl_category();
    throw OmeroWebError(verification && tls_ ? OmeroWebError::Kind::permanent : OmeroWebError::Kind::transient, 0,
                        "OMERO.web at " + where + ": " + std::string(request.target()) + ": " + e.code().message() +
                            (verification ? " (TLS: check omero.web.ca_file / the server certificate)" : ""));
  }
}

}  // namespace biomero_reactor
