#include "biomero_reactor/omero_web.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <random>

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

// The JSON API caps `limit` at omero.web.api.max_limit (500 by default).
constexpr int api_page = 500;
// gunicorn refuses request lines over 4094 bytes: 200 "image=<id>&" fit well within.
constexpr std::size_t ids_per_read = 200;
constexpr int annotations_page = 5000;

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

void add_field(std::string& form, std::string_view key, std::string_view value) {
  if (!form.empty()) form.push_back('&');
  form += url_encode(key);
  form.push_back('=');
  form += url_encode(value);
}

json::value parse_or_null(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  return ec ? json::value() : v;
}

std::int64_t int_at(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* at = &v;
  for (const std::string_view key : path) {
    const json::object* o = at->if_object();
    if (o == nullptr || (at = o->if_contains(key)) == nullptr) return 0;
  }
  if (at->is_int64()) return at->get_int64();
  if (at->is_uint64()) return static_cast<std::int64_t>(at->get_uint64());
  return 0;
}

std::string string_at(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* at = &v;
  for (const std::string_view key : path) {
    const json::object* o = at->if_object();
    if (o == nullptr || (at = o->if_contains(key)) == nullptr) return "";
  }
  if (const auto* s = at->if_string()) return std::string(*s);
  return "";
}

OmeroObject object_of(const json::value& item) {
  return {int_at(item, {"@id"}), string_at(item, {"Name"}), string_at(item, {"Description"}),
          int_at(item, {"omero:details", "owner", "@id"}), int_at(item, {"omero:details", "group", "@id"})};
}

OmeroWebError broken_answer(const std::string& what) {
  return OmeroWebError(OmeroWebError::Kind::transient, 200, what + ": OMERO.web's answer is not what it should be");
}

}  // namespace

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
  return OmeroWebError(kind, status, redact(text));
}

asio::awaitable<HttpResponse> OmeroWebSession::call(HttpRequest request, bool may_renew) {
  const auto decorate = [this](HttpRequest& r) {
    r.set("X-Requested-With", "XMLHttpRequest");
    r.set(http::field::accept, "application/json");
    std::string cookie;
    for (const auto& [name, value] : cookies_) cookie += (cookie.empty() ? "" : "; ") + name + "=" + value;
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
  const json::value* admin_flag = is_admin->as_object().if_contains("isAdmin");
  if (admin_flag == nullptr || !admin_flag->is_bool() || !admin_flag->get_bool()) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 200,
                        "OMERO user " + settings_.username +
                            " is not an OMERO administrator: the reactor needs one to act for workflow owners");
  }
  logged_in_ = true;
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

asio::awaitable<std::vector<OmeroObject>> OmeroWebSession::containers(ContainerKind kind, std::int64_t group_id,
                                                                      std::int64_t owner_id) {
  std::vector<OmeroObject> out;
  for (std::int64_t offset = 0;;) {
    const std::string path = "/api/v0/m/" + std::string(container_type(kind)) + "s/?group=" + std::to_string(group_id) +
                             "&owner=" + std::to_string(owner_id) + "&limit=" + std::to_string(api_page) +
                             "&offset=" + std::to_string(offset);
    const HttpResponse answer = co_await get(path);
    if (answer.result_int() != 200) throw error(answer, "OMERO.web list of " + std::string(container_type(kind)) + "s");
    const json::value body = parse_or_null(answer.body());
    const json::array* data =
        body.is_object() && body.as_object().contains("data") ? body.as_object().at("data").if_array() : nullptr;
    if (data == nullptr) throw broken_answer("OMERO.web list of containers");
    for (const json::value& item : *data) out.push_back(object_of(item));
    offset += static_cast<std::int64_t>(data->size());
    if (data->empty() || offset >= int_at(body, {"meta", "totalCount"})) break;
  }
  co_return out;
}

asio::awaitable<std::int64_t> OmeroWebSession::create_container(ContainerKind kind, std::int64_t group_id,
                                                                std::string name, std::string description) {
  json::object object;
  object["@type"] = std::string("http://www.openmicroscopy.org/Schemas/OME/2016-06#") +
                    (kind == ContainerKind::dataset ? "Dataset" : "Screen");
  object["Name"] = name;
  object["Description"] = description;
  const std::string path = "/api/v0/m/save/?group=" + std::to_string(group_id);
  const std::string content_type = "application/json";
  std::string body = json::serialize(object);
  const HttpResponse answer = co_await post(path, std::move(body), content_type);
  if (answer.result_int() != 201) throw error(answer, "OMERO.web creating " + std::string(container_type(kind)));
  const std::int64_t id = int_at(parse_or_null(answer.body()), {"data", "@id"});
  if (id <= 0) throw broken_answer("OMERO.web creating a container");
  co_return id;
}

asio::awaitable<void> OmeroWebSession::delete_container(ContainerKind kind, std::int64_t id) {
  HttpRequest request{
      http::verb::delete_,
      http_.url().prefix + "/api/v0/m/" + std::string(container_type(kind)) + "s/" + std::to_string(id) + "/", 11};
  const HttpResponse answer = co_await call(std::move(request), true);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web deleting " + std::string(container_type(kind)));
}

asio::awaitable<std::vector<OmeroObject>> OmeroWebSession::children(ContainerKind kind, std::int64_t container_id) {
  std::vector<OmeroObject> out;
  for (std::int64_t offset = 0;;) {
    const std::string path = "/api/v0/m/" + std::string(container_type(kind)) + "s/" + std::to_string(container_id) +
                             "/" + std::string(child_type(kind)) + "s/?limit=" + std::to_string(api_page) +
                             "&offset=" + std::to_string(offset);
    const HttpResponse answer = co_await get(path);
    if (answer.result_int() != 200) {
      throw error(answer,
                  "OMERO.web contents of " + std::string(container_type(kind)) + " " + std::to_string(container_id));
    }
    const json::value body = parse_or_null(answer.body());
    const json::array* data =
        body.is_object() && body.as_object().contains("data") ? body.as_object().at("data").if_array() : nullptr;
    if (data == nullptr) throw broken_answer("OMERO.web container contents");
    for (const json::value& item : *data) out.push_back(object_of(item));
    offset += static_cast<std::int64_t>(data->size());
    if (data->empty() || offset >= int_at(body, {"meta", "totalCount"})) break;
  }
  co_return out;
}

asio::awaitable<std::vector<LinkedMapAnnotation>> OmeroWebSession::map_annotations(std::string object_type,
                                                                                   std::vector<std::int64_t> ids,
                                                                                   std::string ns) {
  std::vector<LinkedMapAnnotation> out;
  for (std::size_t first = 0; first < ids.size(); first += ids_per_read) {
    std::string query = "type=map";
    if (!ns.empty()) add_field(query, "ns", ns);
    for (std::size_t i = first; i < std::min(ids.size(), first + ids_per_read); ++i) {
      add_field(query, object_type, std::to_string(ids[i]));
    }
    for (int page = 1;; ++page) {
      const std::string path = "/webclient/api/annotations/?" + query + "&page=" + std::to_string(page) +
                               "&limit=" + std::to_string(annotations_page);
      const HttpResponse answer = co_await get(path);
      if (answer.result_int() != 200) throw error(answer, "OMERO.web map annotations");
      const json::value body = parse_or_null(answer.body());
      const json::array* list = body.is_object() && body.as_object().contains("annotations")
                                    ? body.as_object().at("annotations").if_array()
                                    : nullptr;
      if (list == nullptr) throw broken_answer("OMERO.web map annotations");
      for (const json::value& item : *list) {
        LinkedMapAnnotation a{int_at(item, {"id"}),
                              string_at(item, {"ns"}),
                              int_at(item, {"owner", "id"}),
                              int_at(item, {"link", "parent", "id"}),
                              {}};
        if (const json::object* o = item.if_object(); o != nullptr && o->contains("values")) {
          if (const json::array* pairs = o->at("values").if_array()) {
            for (const json::value& pair : *pairs) {
              const json::array* kv = pair.if_array();
              if (kv == nullptr || kv->size() != 2 || !(*kv)[0].is_string() || !(*kv)[1].is_string()) continue;
              a.values.emplace_back(std::string((*kv)[0].get_string()), std::string((*kv)[1].get_string()));
            }
          }
        }
        out.push_back(std::move(a));
      }
      if (list->size() < static_cast<std::size_t>(annotations_page)) break;
    }
  }
  co_return out;
}

asio::awaitable<std::vector<std::int64_t>> OmeroWebSession::annotate_map(std::string object_type,
                                                                         std::vector<std::int64_t> ids,
                                                                         MapAnnotation annotation) {
  if (ids.empty()) co_return std::vector<std::int64_t>{};
  if (ids.size() > max_objects_per_write) {
    throw std::invalid_argument("annotate_map takes at most 500 objects per request");
  }
  json::array pairs;
  for (const auto& [key, value] : annotation.values)
    pairs.push_back(json::array{json::string(key), json::string(value)});
  // Ids go in the body and the URL stays bare: with any query string, OMERO.web reads
  // the ids from it instead.
  std::string form;
  for (const std::int64_t id : ids) add_field(form, object_type, std::to_string(id));
  add_field(form, "mapAnnotation", json::serialize(pairs));
  add_field(form, "ns", annotation.ns);
  const std::string path = "/webclient/annotate_map/";
  const std::string content_type = "application/x-www-form-urlencoded";
  const HttpResponse answer = co_await post(path, std::move(form), content_type);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web annotate_map " + annotation.ns);
  const json::value body = parse_or_null(answer.body());
  const json::array* created =
      body.is_object() && body.as_object().contains("annId") ? body.as_object().at("annId").if_array() : nullptr;
  if (created == nullptr) throw broken_answer("OMERO.web annotate_map");
  std::vector<std::int64_t> out;
  for (const json::value& id : *created) out.push_back(id.is_int64() ? id.get_int64() : 0);
  if (out.size() != ids.size()) {
    throw OmeroWebError(OmeroWebError::Kind::permanent, 200,
                        "OMERO.web annotated " + std::to_string(out.size()) + " of " + std::to_string(ids.size()) +
                            " " + object_type + "s in " + annotation.ns + ": the others are not visible to " +
                            user_name_);
  }
  co_return out;
}

asio::awaitable<void> OmeroWebSession::delete_map_annotation(std::int64_t annotation_id) {
  std::string form;
  add_field(form, "annId", std::to_string(annotation_id));
  add_field(form, "mapAnnotation", "[]");
  const std::string path = "/webclient/annotate_map/";
  const std::string content_type = "application/x-www-form-urlencoded";
  const HttpResponse answer = co_await post(path, std::move(form), content_type);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web deleting map annotation");
}

asio::awaitable<std::int64_t> OmeroWebSession::annotate_file(std::string object_type, std::int64_t id,
                                                             std::string file_name, std::string content) {
  std::random_device random;
  const std::string boundary = "biomero-reactor-" + std::to_string(random()) + std::to_string(random());
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + object_type + "\"\r\n\r\n" +
                     std::to_string(id) + "\r\n--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"annotation_file\"; filename=\"" + file_name +
                     "\"\r\nContent-Type: text/plain\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
  const std::string path = "/webclient/annotate_file/";
  const std::string content_type = "multipart/form-data; boundary=" + boundary;
  const HttpResponse answer = co_await post(path, std::move(body), content_type);
  if (answer.result_int() != 200) throw error(answer, "OMERO.web annotate_file");
  const json::value parsed = parse_or_null(answer.body());
  const json::array* ids = parsed.is_object() && parsed.as_object().contains("fileIds")
                               ? parsed.as_object().at("fileIds").if_array()
                               : nullptr;
  if (ids == nullptr || ids->empty() || !ids->front().is_int64()) throw broken_answer("OMERO.web annotate_file");
  co_return ids->front().get_int64();
}

}  // namespace biomero_reactor
