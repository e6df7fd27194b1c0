#include "biomero_reactor/omero_web.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "biomero_reactor/log.hpp"
#include "omero_web_detail.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

using namespace omero_web_detail;

std::string_view container_type(ContainerKind kind) {
  return kind == ContainerKind::dataset ? "dataset" : "screen";
}

std::string_view child_type(ContainerKind kind) {
  return kind == ContainerKind::dataset ? "image" : "plate";
}

OmeroWebSession::OmeroWebSession(OmeroWebSettings settings)
    : settings_(std::move(settings)),
      http_(parse_web_url(settings_.url), HttpOptions{settings_.ca_file, settings_.tls_verify, settings_.timeout}) {}

std::string OmeroWebSession::redact(std::string text) const {
  if (settings_.password.empty()) return text;
  for (std::size_t at = 0; (at = text.find(settings_.password, at)) != std::string::npos;) {
    text.replace(at, settings_.password.size(), "***");
  }
  return text;
}

OmeroWebError OmeroWebSession::error(const HttpResponse& response, const std::string& what) const {
  const unsigned status = response.result_int();
  const json::value body = parse_or_null(response.body());
  std::string message = string_at(body, {"message"});
  if (message.empty() && !body.is_object()) message = response.body().substr(0, 200);
  std::string text = what + ": HTTP " + std::to_string(status);
  if (!message.empty()) text += ": " + message;
  const auto kind = status >= 500 ? OmeroWebError::Kind::transient : OmeroWebError::Kind::permanent;
  if (status == 403) text += " (refused: not logged in, not allowed, or the CSRF/Referer check failed)";
  return {kind, status, redact(text)};
}

asio::awaitable<HttpResponse> OmeroWebSession::call(HttpRequest request, bool may_renew) {
  const auto decorate = [this](HttpRequest& r) {
    r.set("X-Requested-With", "XMLHttpRequest");
    r.set(http::field::accept, "application/json");
    std::string cookie;
    for (const auto& [name, value] : cookies_) {
      if (!cookie.empty()) cookie += "; ";
      cookie.append(name).append("=").append(value);
    }
    if (!cookie.empty()) r.set(http::field::cookie, cookie);
    if (r.method() != http::verb::get && r.method() != http::verb::head) {
      // Django wants the token in a header for non-form bodies, and a Referer of the
      // same origin whenever the request is secure. No Origin header: if sent it
      // would have to match exactly.
      if (!csrf_token_.empty()) r.set("X-CSRFToken", csrf_token_);
      r.set(http::field::referer, http_.url().origin() + http_.url().prefix + "/");
    }
  };
  const auto remember_cookies = [this](const HttpResponse& response) {
    const auto [begin, end] = response.equal_range(http::field::set_cookie);
    for (auto header = begin; header != end; ++header) {
      const std::string_view line(header->value().data(), header->value().size());
      const auto eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string name(line.substr(0, eq));
      const std::string value(line.substr(eq + 1, line.find(';') - eq - 1));
      std::string lower(line);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.find("max-age=0") != std::string::npos || value.empty()) {
        cookies_.erase(name);
      } else {
        cookies_[name] = value;
      }
    }
  };

  HttpRequest first = request;
  decorate(first);
  HttpResponse response = co_await http_.send(std::move(first));
  remember_cookies(response);
  const bool logged_out = response.result_int() == 403 ||
                          (response.result_int() == 302 &&
                           response[http::field::location].find("login") != boost::beast::string_view::npos);
  if (!(may_renew && logged_in_ && logged_out)) co_return response;

  log::info("OMERO.web session expired; logging in again",
            {{"url", settings_.url}, {"path", std::string(request.target())}});
  co_await renew();
  decorate(request);
  HttpResponse again = co_await http_.send(std::move(request));
  remember_cookies(again);
  co_return again;
}

asio::awaitable<HttpResponse> OmeroWebSession::get(std::string path) {
  HttpRequest request{http::verb::get, http_.url().prefix + path, 11};
  co_return co_await call(std::move(request), true);
}

asio::awaitable<HttpResponse> OmeroWebSession::post(std::string path, std::string body, std::string content_type) {
  HttpRequest request{http::verb::post, http_.url().prefix + path, 11};
  request.set(http::field::content_type, content_type);
  request.body() = std::move(body);
  co_return co_await call(std::move(request), true);
}

asio::awaitable<void> OmeroWebSession::renew() {
  cookies_.clear();
  csrf_token_.clear();
  logged_in_ = false;
  co_await login();
  if (!su_user_.empty()) {
    const std::string user = su_user_;
    co_await su(user);
  }
}

asio::awaitable<void> OmeroWebSession::login() {
  const std::string prefix = http_.url().prefix;
  HttpRequest token_request{http::verb::get, prefix + "/api/v0/token/", 11};
  const HttpResponse token = co_await call(std::move(token_request), false);
  if (token.result_int() != 200) throw error(token, "OMERO.web token (" + settings_.url + "/api/v0/token/)");
  csrf_token_ = string_at(parse_or_null(token.body()), {"data"});
  if (csrf_token_.empty()) throw broken_answer("OMERO.web token");

  std::string form;
  add_field(form, "server", std::to_string(settings_.server_id));
  add_field(form, "username", settings_.username);
  add_field(form, "password", settings_.password);
  HttpRequest login_request{http::verb::post, prefix + "/api/v0/login/", 11};
  login_request.set(http::field::content_type, "application/x-www-form-urlencoded");
  login_request.body() = std::move(form);
  const HttpResponse answer = co_await call(std::move(login_request), false);
  if (answer.result_int() != 200) {
    throw error(answer,
                "OMERO.web login as " + settings_.username + " (server " + std::to_string(settings_.server_id) + ")");
  }
  const json::value context = parse_or_null(answer.body());
  const json::value* is_admin = context.is_object() ? context.as_object().if_contains("eventContext") : nullptr;
  if (is_admin == nullptr || !is_admin->is_object()) throw broken_answer("OMERO.web login");
  logged_in_ = true;  // whoever it is, logout() must end this session
  const json::value* admin_flag = is_admin->as_object().if_contains("isAdmin");
  if (admin_flag == nullptr || !admin_flag->is_bool() || !admin_flag->get_bool()) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 200,
                        "OMERO user " + settings_.username +
                            " is not an OMERO administrator: the reactor needs one to act for workflow owners");
  }
  user_id_ = int_at(context, {"eventContext", "userId"});
  user_name_ = string_at(context, {"eventContext", "userName"});
  group_id_ = int_at(context, {"eventContext", "groupId"});
}

asio::awaitable<std::vector<int>> OmeroWebSession::server_ids() {
  HttpRequest request{http::verb::get, http_.url().prefix + "/api/v0/servers/", 11};
  const HttpResponse answer = co_await call(std::move(request), false);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web servers (" + settings_.url + "/api/v0/servers/)");
  const json::value body = parse_or_null(answer.body());
  const json::array* data =
      body.is_object() && body.as_object().contains("data") ? body.as_object().at("data").if_array() : nullptr;
  if (data == nullptr) throw broken_answer("OMERO.web servers (is " + settings_.url + " OMERO.web?)");
  std::vector<int> out;
  for (const json::value& server : *data) out.push_back(static_cast<int>(int_at(server, {"id"})));
  co_return out;
}

asio::awaitable<void> OmeroWebSession::su(std::string ome_name) {
  HttpRequest request{http::verb::post, http_.url().prefix + "/webgateway/su/" + url_encode(ome_name) + "/", 11};
  const HttpResponse answer = co_await call(std::move(request), false);
  const unsigned status = answer.result_int();
  if (status == 404) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 404,
                        "OMERO.web refused su to " + ome_name + " (404): " + settings_.username +
                            " is not an OMERO administrator, or this OMERO.web has no /webgateway/su/");
  }
  if (status == 500 && answer.body().find("_sessionUuid") != std::string::npos) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 500, "no OMERO user named " + ome_name + " (su failed)");
  }
  if (status != 200) throw error(answer, "OMERO.web su to " + ome_name);
  su_user_ = ome_name;
  // The session now belongs to the user; its event context says who that is.
  HttpRequest whoami{http::verb::post, http_.url().prefix + "/api/v0/login/", 11};
  const HttpResponse context = co_await call(std::move(whoami), false);
  if (context.result_int() != 200) throw error(context, "OMERO.web event context after su to " + ome_name);
  const json::value body = parse_or_null(context.body());
  user_id_ = int_at(body, {"eventContext", "userId"});
  user_name_ = string_at(body, {"eventContext", "userName"});
  group_id_ = int_at(body, {"eventContext", "groupId"});
  if (user_name_ != ome_name) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 200,
                        "after su to " + ome_name + " OMERO.web reports user " + user_name_);
  }
}

asio::awaitable<void> OmeroWebSession::logout() {
  if (!logged_in_) co_return;
  logged_in_ = false;
  try {
    HttpRequest request{http::verb::post, http_.url().prefix + "/webclient/logout/", 11};
    const HttpResponse answer = co_await call(std::move(request), false);
    (void)answer;
  } catch (const OmeroWebError& e) {
    log::warn("OMERO.web logout failed; the session ends at its timeout", {{"error", e.what()}});
  }
  cookies_.clear();
  csrf_token_.clear();
  su_user_.clear();
}

asio::awaitable<std::string> OmeroWebSession::experimenter_name(std::int64_t user_id) {
  const std::string path = "/api/v0/m/experimenters/" + std::to_string(user_id) + "/";
  const HttpResponse answer = co_await get(path);
  if (answer.result_int() == 404) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 404, "no OMERO user with id " + std::to_string(user_id));
  }
  if (answer.result_int() != 200) throw error(answer, "OMERO user " + std::to_string(user_id));
  std::string name = string_at(parse_or_null(answer.body()), {"data", "UserName"});
  if (name.empty()) throw broken_answer("OMERO user " + std::to_string(user_id));
  co_return name;
}

asio::awaitable<std::string> OmeroWebSession::group_name(std::int64_t group_id) {
  const std::string path = "/api/v0/m/experimentergroups/" + std::to_string(group_id) + "/";
  const HttpResponse answer = co_await get(path);
  if (answer.result_int() == 404) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 404, "no OMERO group with id " + std::to_string(group_id));
  }
  if (answer.result_int() != 200) throw error(answer, "OMERO group " + std::to_string(group_id));
  std::string name = string_at(parse_or_null(answer.body()), {"data", "Name"});
  if (name.empty()) throw broken_answer("OMERO group " + std::to_string(group_id));
  co_return name;
}

}  // namespace biomero_reactor
