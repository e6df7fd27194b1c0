// The HTTP(S) transport under the OMERO.web client: one connection per request (a
// POST is never replayed on a half-dead keep-alive connection), TLS with peer and host
// name verification through OpenSSL, and a deadline per request raced against a timer
// (Boost 1.81 has no cancel_after). Failures to get any answer are transient
// OmeroWebErrors; what an answer means is for the caller.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace biomero_reactor {

// Transient: worth retrying later (no answer, timeouts, 5xx, a session that could not be
// renewed). Permanent: retrying cannot help until someone fixes something (credentials,
// not an administrator, no such user, refused by OMERO). Messages never hold a password.
class OmeroWebError : public std::runtime_error {
 public:
  enum class Kind { transient, permanent };
  OmeroWebError(Kind kind, unsigned status, const std::string& what)
      : std::runtime_error(what), kind_(kind), status_(status) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] bool transient() const noexcept { return kind_ == Kind::transient; }
  // The HTTP status that caused it; 0 when no answer came.
  [[nodiscard]] unsigned status() const noexcept { return status_; }

 private:
  Kind kind_;
  unsigned status_;
};

// "https://host[:port]/prefix": the prefix is OMERO.web's omero.web.prefix, without a
// trailing slash. Throws std::invalid_argument for anything else.
struct WebUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;
  // The Host header value: host, plus ":port" when it is not the scheme's default.
  [[nodiscard]] std::string host_header() const;
  // scheme://host[:port], what Django compares Referer and Origin with.
  [[nodiscard]] std::string origin() const;
};
[[nodiscard]] WebUrl parse_web_url(std::string_view url);

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

struct HttpOptions {
  std::filesystem::path ca_file;  // empty: the system's trust store
  bool tls_verify = true;
  std::chrono::milliseconds timeout{30000};
};

class HttpClient {
 public:
  HttpClient(WebUrl url, const HttpOptions& options);
  [[nodiscard]] const WebUrl& url() const noexcept { return url_; }
  // Sends the request (Host set here) and reads the whole answer within the timeout.
  boost::asio::awaitable<HttpResponse> send(HttpRequest request);
  // Requests that reached the point of being written, for benchmarks and tests.
  [[nodiscard]] std::uint64_t requests_sent() const noexcept { return sent_; }

 private:
  WebUrl url_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::uint64_t sent_ = 0;
};

}  // namespace biomero_reactor
