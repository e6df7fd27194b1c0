#include "omero_web_standin.hpp"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

namespace biomero_reactor::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view schema = "http://www.openmicroscopy.org/Schemas/OME/2016-06#";
constexpr std::string_view client_map_ns = "openmicroscopy.org/omero/client/mapAnnotation";
// Django's CSRF_ALLOWED_CHARS: ascii_letters + digits.
constexpr std::string_view csrf_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr std::size_t csrf_secret_length = 32;
constexpr std::size_t gunicorn_request_line_limit = 4094;

using Params = std::multimap<std::string, std::string>;

std::string url_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Params parse_params(std::string_view text) {
  Params out;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    const auto eq = pair.find('=');
    if (!pair.empty()) {
      out.emplace(url_decode(pair.substr(0, eq)), eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

std::optional<std::string> first(const Params& p, const std::string& key) {
  const auto it = p.find(key);
  if (it == p.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> all(const Params& p, const std::string& key) {
  std::vector<std::string> out;
  const auto [b, e] = p.equal_range(key);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

std::optional<std::int64_t> to_id(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 18) {
    return std::nullopt;
  }
  return std::stoll(text);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string json_class(const std::string& type) {
  if (type == "image") return "ImageI";
  if (type == "dataset") return "DatasetI";
  if (type == "plate") return "PlateI";
  return "ScreenI";
}

std::string capitalised(const std::string& type) {
  std::string out = type;
  out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// A self-signed certificate for 127.0.0.1/localhost: PEM certificate and key.
std::pair<std::string, std::string> self_signed_certificate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(std::random_device{}() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert, key, EVP_sha256());
  const auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return out;
  };
  std::string cert_pem = pem([&](BIO* b) { PEM_write_bio_X509(b, cert); });
  std::string key_pem = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(cert);
  EVP_PKEY_free(key);
  return {cert_pem, key_pem};
}

}  // namespace

struct OmeroWebStandin::Impl {
  struct Group {
    std::string name;
  };
  struct User {
    std::string name, password;
    bool admin = false;
    std::vector<std::int64_t> groups;
  };
  struct OmeroSession {
    std::int64_t user = 0;
    std::int64_t group = 0;
    std::optional<Clock::time_point> expires;
  };
  struct DjangoSession {
    std::optional<std::string> omero_key;  // the "connector"
  };
  struct FaultRule {
    std::string method, path;
    Fault fault;
    int count, skip;
    int pid = 0;  // kill_after's victim
  };
  enum class Action { respond, hang, drop };
  struct Outcome {
    Action action = Action::respond;
    Response response;
  };
  // What a request carries once parsed.
  struct Call {
    const Request& req;
    std::string path;  // without prefix and query
    Params query;
    Params form;
    std::map<std::string, std::string> cookies;
    std::vector<std::string> set_cookies;
  };

  Options options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::optional<asio::ssl::context> tls;
  fs::path ca_path;
  std::thread thread;

  mutable std::mutex mutex;
  std::mt19937_64 random{std::random_device{}()};
  std::int64_t next_id = 1;
  std::map<std::int64_t, Group> groups;
  std::map<std::int64_t, User> users;
  std::map<std::int64_t, Object> objects;
  std::map<std::int64_t, Annotation> anns;
  std::map<std::string, OmeroSession> omero_sessions;
  std::map<std::string, DjangoSession> django_sessions;
  std::vector<FaultRule> faults;
  std::map<std::string, std::size_t> counts;  // "METHOD path"

  std::string random_text(std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(csrf_chars[random() % csrf_chars.size()]);
    return out;
  }

  // Django's _mask_cipher_secret / _unmask_cipher_token.
  std::string mask(const std::string& secret) {
    const std::string m = random_text(csrf_secret_length);
    std::string cipher;
    for (std::size_t i = 0; i < secret.size(); ++i) {
      cipher.push_back(csrf_chars[(csrf_chars.find(secret[i]) + csrf_chars.find(m[i])) % csrf_chars.size()]);
    }
    return m + cipher;
  }
  static std::string unmask(const std::string& token) {
    const std::string m = token.substr(0, csrf_secret_length);
    const std::string cipher = token.substr(csrf_secret_length);
    std::string secret;
    const auto n = static_cast<long>(csrf_chars.size());
    for (std::size_t i = 0; i < cipher.size(); ++i) {
      const long x = static_cast<long>(csrf_chars.find(cipher[i])) - static_cast<long>(csrf_chars.find(m[i]));
      secret.push_back(csrf_chars[static_cast<std::size_t>(((x % n) + n) % n)]);
    }
    return secret;
  }
  static std::optional<std::string> token_format_error(const std::string& token) {
    if (token.size() != 32 && token.size() != 64) return "has incorrect length.";
    if (token.find_first_not_of(csrf_chars) != std::string::npos) return "has invalid characters.";
    return std::nullopt;
  }

  Response reply(unsigned status, std::string body, std::string content_type = "application/json") {
    Response r{static_cast<http::status>(status), 11};
    r.set(http::field::content_type, content_type);
    r.body() = std::move(body);
    return r;
  }
  Response json_reply(unsigned status, const json::value& v, bool api = false) {
    Response r = reply(status, json::serialize(v));
    if (api) r.set("X-OMERO-ApiVersion", "0.2");
    return r;
  }
  Response message(unsigned status, const std::string& text, bool api = true) {
    return json_reply(status, json::object{{"message", text}}, api);
  }

  // Django's CsrfViewMiddleware.process_view for unsafe methods.
  std::optional<std::string> csrf_failure(const Call& c) {
    const std::string host(c.req[http::field::host]);
    const std::string scheme = options.tls ? "https://" : "http://";
    if (c.req.find(http::field::origin) != c.req.end()) {
      const std::string origin(c.req[http::field::origin]);
      if (origin != scheme + host) return "Origin checking failed - " + origin + " does not match any trusted origins.";
    } else if (options.tls) {
      if (c.req.find(http::field::referer) == c.req.end()) return "Referer checking failed - no Referer.";
      const std::string referer(c.req[http::field::referer]);
      if (!referer.starts_with("https://")) {
        return referer.starts_with("http://") ? "Referer checking failed - Referer is insecure while host is secure."
                                              : "Referer checking failed - Referer is malformed.";
      }
      const std::string rest = referer.substr(8);
      if (rest.substr(0, rest.find('/')) != host) {
        return "Referer checking failed - " + referer + " does not match any trusted origins.";
      }
    }
    const auto cookie = c.cookies.find("csrftoken");
    if (cookie == c.cookies.end()) return "CSRF cookie not set.";
    if (const auto bad = token_format_error(cookie->second)) return "CSRF cookie " + *bad;
    std::string token;
    std::string source;
    if (const auto field = first(c.form, "csrfmiddlewaretoken")) {
      token = *field;
      source = "POST";
    } else if (c.req.find("X-CSRFToken") != c.req.end()) {
      token = std::string(c.req["X-CSRFToken"]);
      source = "the 'X-Csrftoken' HTTP header";
    } else {
      return "CSRF token missing.";
    }
    if (const auto bad = token_format_error(token)) return "CSRF token from " + source + " " + *bad;
    const std::string secret = cookie->second.size() == 64 ? unmask(cookie->second) : cookie->second;
    const std::string given = token.size() == 64 ? unmask(token) : token;
    if (secret != given) return "CSRF token from " + source + " incorrect.";
    return std::nullopt;
  }

  DjangoSession* django_session(const Call& c) {
    const auto id = c.cookies.find("sessionid");
    if (id == c.cookies.end()) return nullptr;
    const auto s = django_sessions.find(id->second);
    return s == django_sessions.end() ? nullptr : &s->second;
  }

  DjangoSession& django_session_for_write(Call& c) {
    if (DjangoSession* s = django_session(c)) return *s;
    const std::string key = lower(random_text(32));
    c.set_cookies.push_back("sessionid=" + key + "; HttpOnly; Path=/; SameSite=Lax");
    c.cookies["sessionid"] = key;
    return django_sessions[key];
  }

  // The OMERO session the request joins, if it is alive; a dead one is forgotten, as
  // OMERO.web drops the connector when joining fails.
  OmeroSession* joined(Call& c) {
    DjangoSession* ds = django_session(c);
    if (ds == nullptr || !ds->omero_key) return nullptr;
    const auto s = omero_sessions.find(*ds->omero_key);
    if (s == omero_sessions.end() || (s->second.expires && Clock::now() >= *s->second.expires)) {
      if (s != omero_sessions.end()) omero_sessions.erase(s);
      ds->omero_key.reset();
      return nullptr;
    }
    return &s->second;
  }

  Response not_logged_in(const Call& c) {
    if (c.path.starts_with("/api/")) return message(403, "Not logged in");
    if (c.req["X-Requested-With"] == "XMLHttpRequest") return reply(403, "", "text/html");
    Response r = reply(302, "", "text/html");
    r.set(http::field::location, options.prefix + "/webclient/login/?url=" + c.path);
    return r;
  }

  std::string new_omero_session(std::int64_t user, std::optional<Clock::time_point> expires) {
    const std::string key = random_text(36);
    const auto& groups_of = users.at(user).groups;
    omero_sessions[key] = {user, groups_of.empty() ? 0 : groups_of.front(), expires};
    return key;
  }

  json::object event_context(const std::string& key) {
    const OmeroSession& s = omero_sessions.at(key);
    const User& u = users.at(s.user);
    json::array member;
    for (const auto g : u.groups) member.push_back(g);
    return {{"sessionId", key},
            {"sessionUuid", key},
            {"userId", s.user},
            {"userName", u.name},
            {"groupId", s.group},
            {"groupName", groups.count(s.group) ? groups.at(s.group).name : ""},
            {"isAdmin", u.admin},
            {"eventId", -1},
            {"eventType", "User"},
            {"memberOfGroups", member},
            {"leaderOfGroups", json::array{}}};
  }

  bool visible(const OmeroSession& s, std::int64_t group) const {
    const User& u = users.at(s.user);
    return u.admin || std::find(u.groups.begin(), u.groups.end(), group) != u.groups.end();
  }

  json::object encode(const Object& o) {
    json::object details{{"@type", "TBD#Details"},
                         {"owner", json::object{{"@id", o.owner},
                                                {"@type", std::string(schema) + "Experimenter"},
                                                {"UserName", users.count(o.owner) ? users.at(o.owner).name : ""}}},
                         {"group", json::object{{"@id", o.group},
                                                {"@type", std::string(schema) + "ExperimenterGroup"},
                                                {"Name", groups.count(o.group) ? groups.at(o.group).name : ""}}}};
    json::object out{{"@id", o.id}, {"@type", std::string(schema) + capitalised(o.type)}, {"Name", o.name}};
    if (!o.description.empty()) out["Description"] = o.description;
    out["omero:details"] = std::move(details);
    return out;
  }

  // The JSON API's limit rules: default 200, at most 500, a negative one is the default.
  Response page_of(std::vector<const Object*> found, const Params& q) {
    std::sort(found.begin(), found.end(), [](const Object* a, const Object* b) {
      const auto la = lower(a->name), lb = lower(b->name);
      return la != lb ? la < lb : a->id < b->id;
    });
    long limit = 200;
    long offset = 0;
    if (const auto l = first(q, "limit")) limit = std::stol(*l);
    if (limit < 0) limit = 200;
    limit = std::min(limit, 500L);
    if (const auto o = first(q, "offset")) offset = std::max(0L, std::stol(*o));
    json::array data;
    for (long i = offset; i < static_cast<long>(found.size()) && i < offset + limit; ++i) {
      data.push_back(encode(*found[static_cast<std::size_t>(i)]));
    }
    json::object meta{{"offset", offset}, {"limit", limit}, {"maxLimit", 500}, {"totalCount", found.size()}};
    return json_reply(200, json::object{{"data", data}, {"meta", meta}}, true);
  }

  Response route(Call& c) {
    const std::string& p = c.path;
    const auto method = c.req.method();
    const bool unsafe = method != http::verb::get && method != http::verb::head;
    if (unsafe) {
      if (const auto reason = csrf_failure(c)) return message(403, "CSRF Failed: " + *reason, false);
    }
    if (p == "/api/v0/servers/") {
      return json_reply(200,
                        json::object{{"data", json::array{json::object{
                                                  {"id", 1}, {"host", "omero"}, {"port", 4064}, {"server", "omero"}}}}},
                        true);
    }
    if (p == "/api/v0/token/") {
      auto cookie = c.cookies.find("csrftoken");
      std::string secret;
      if (cookie != c.cookies.end() && !token_format_error(cookie->second)) {
        secret = cookie->second.size() == 64 ? unmask(cookie->second) : cookie->second;
      } else {
        secret = random_text(csrf_secret_length);
        c.set_cookies.push_back("csrftoken=" + secret + "; Path=/; SameSite=Lax; Max-Age=31449600");
      }
      return json_reply(200, json::object{{"data", mask(secret)}}, true);
    }
    if (p == "/api/v0/login/") return login(c);
    if (p.starts_with("/webgateway/su/")) return su(c);
    if (p == "/webclient/logout/") {
      if (DjangoSession* ds = django_session(c)) {
        if (ds->omero_key) omero_sessions.erase(*ds->omero_key);
        django_sessions.erase(c.cookies["sessionid"]);
      }
      Response r = reply(302, "", "text/html");
      r.set(http::field::location, options.prefix + "/webclient/login/");
      r.insert(http::field::set_cookie,
               "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax");
      return r;
    }
    OmeroSession* s = joined(c);
    if (s == nullptr) return not_logged_in(c);
    if (p.starts_with("/api/v0/m/")) return api(c, *s);
    if (p == "/webclient/api/annotations/") return list_annotations(c, *s);
    if (p == "/webclient/annotate_map/") return annotate_map(c, *s);
    if (p == "/webclient/annotate_file/") return annotate_file(c, *s);
    if (p.starts_with("/webclient/action/savename/")) return savename(c, *s);
    return reply(404, "Not found", "text/plain");
  }

  Response login(Call& c) {
    if (c.req.method() != http::verb::post) {
      return message(405, "POST only with username, password, server and csrftoken");
    }
    Params fields = c.form;
    if (c.req[http::field::content_type].starts_with("application/json")) {
      boost::system::error_code ec;
      const json::value body = json::parse(c.req.body(), ec);
      if (!ec && body.is_object()) {
        for (const auto& [k, v] : body.as_object()) {
          fields.emplace(std::string(k), v.is_string() ? std::string(v.get_string()) : json::serialize(v));
        }
      }
    }
    if (fields.empty()) {
      // omero-web PR #422: an empty POST returns the session's event context.
      OmeroSession* s = joined(c);
      if (s == nullptr) return message(403, "Not logged in");
      return json_reply(
          200, json::object{{"success", true}, {"eventContext", event_context(*django_session(c)->omero_key)}}, true);
    }
    std::vector<std::string> errors;
    const auto server = first(fields, "server");
    const auto username = first(fields, "username");
    const auto password = first(fields, "password");
    if (!username || username->empty()) {
      errors.push_back("Username: This field is required.");
    } else if (*username == "guest") {
      errors.push_back("Username: Guest account is not supported.");
    }
    if (!password || password->empty()) errors.push_back("Password: This field is required.");
    if (!server || server->empty()) {
      errors.push_back("Server: This field is required.");
    } else if (*server != "1") {
      errors.push_back("Server: Select a valid choice. That choice is not one of the available choices.");
    }
    if (!errors.empty()) {
      std::string text;
      for (const auto& e : errors) text += (text.empty() ? "" : " ") + e;
      return message(403, text);
    }
    const auto user = std::find_if(users.begin(), users.end(), [&](const auto& u) {
      return u.second.name == *username && u.second.password == *password;
    });
    if (user == users.end()) {
      return message(403, "Connection not available, please check your user name and password.");
    }
    DjangoSession& ds = django_session_for_write(c);
    if (ds.omero_key) omero_sessions.erase(*ds.omero_key);
    ds.omero_key = new_omero_session(user->first, std::nullopt);
    return json_reply(200, json::object{{"success", true}, {"eventContext", event_context(*ds.omero_key)}}, true);
  }

  Response su(Call& c) {
    OmeroSession* s = joined(c);
    if (s == nullptr) return not_logged_in(c);
    if (!users.at(s->user).admin) return reply(404, "Not Found", "text/plain");  // login_required(isAdmin=True)
    if (c.req.method() != http::verb::post) return reply(200, "<form method='post'>su</form>", "text/html");
    std::string name = c.path.substr(std::string_view("/webgateway/su/").size());
    if (!name.empty() && name.back() == '/') name.pop_back();
    name = url_decode(name);
    const auto user = std::find_if(users.begin(), users.end(), [&](const auto& u) { return u.second.name == name; });
    if (user == users.end()) {
      return json_reply(500, json::object{{"message", "'NoneType' object has no attribute '_sessionUuid'"},
                                          {"stacktrace", "Traceback (most recent call last): ..."}});
    }
    DjangoSession* ds = django_session(c);
    omero_sessions.erase(*ds->omero_key);  // conn.close(hard=True) on the admin's session
    ds->omero_key = new_omero_session(user->first, Clock::now() + options.su_lifetime);
    return reply(200, "true");
  }

  Response api(Call& c, OmeroSession& s) {
    // /api/v0/m/<kind>s/[<id>/[<child>s/]]
    std::vector<std::string> parts;
    std::string rest = c.path.substr(std::string_view("/api/v0/m/").size());
    for (std::size_t at; (at = rest.find('/')) != std::string::npos; rest.erase(0, at + 1)) {
      parts.push_back(rest.substr(0, at));
    }
    const auto method = c.req.method();
    if (parts.size() == 2 && (parts[0] == "experimenters" || parts[0] == "experimentergroups")) {
      const auto id = to_id(parts[1]);
      if (parts[0] == "experimenters") {
        if (!id || !users.count(*id)) return message(404, "Experimenter " + parts[1] + " not found");
        return json_reply(200,
                          json::object{{"data", json::object{{"@id", *id},
                                                             {"@type", std::string(schema) + "Experimenter"},
                                                             {"UserName", users.at(*id).name},
                                                             {"FirstName", ""},
                                                             {"LastName", ""}}}},
                          true);
      }
      if (!id || !groups.count(*id)) return message(404, "ExperimenterGroup " + parts[1] + " not found");
      return json_reply(200,
                        json::object{{"data", json::object{{"@id", *id},
                                                           {"@type", std::string(schema) + "ExperimenterGroup"},
                                                           {"Name", groups.at(*id).name}}}},
                        true);
    }
    if (parts.size() == 1 && parts[0] == "save") return save(c, s);
    if (parts.empty() || (parts[0] != "datasets" && parts[0] != "screens")) return message(404, "Not found");
    const std::string type = parts[0].substr(0, parts[0].size() - 1);
    if (parts.size() == 1 && method == http::verb::get) {
      std::vector<const Object*> found;
      const auto group = first(c.query, "group");
      const auto owner = first(c.query, "owner");
      for (const auto& [id, o] : objects) {
        if (o.type != type || !visible(s, o.group)) continue;
        if (group && std::to_string(o.group) != *group && *group != "-1") continue;
        if (owner && std::to_string(o.owner) != *owner && *owner != "-1") continue;
        found.push_back(&o);
      }
      return page_of(found, c.query);
    }
    const auto id = parts.size() >= 2 ? to_id(parts[1]) : std::nullopt;
    const auto it = id ? objects.find(*id) : objects.end();
    if (it == objects.end() || it->second.type != type || !visible(s, it->second.group)) {
      return message(404, capitalised(type) + " " + (parts.size() >= 2 ? parts[1] : "") + " not found");
    }
    if (parts.size() == 2 && method == http::verb::delete_) {
      const User& u = users.at(s.user);
      if (it->second.owner != s.user && !u.admin) return message(403, "SecurityViolation: not the owner");
      json::object data = encode(it->second);
      objects.erase(it);
      return json_reply(200, json::object{{"data", data}}, true);
    }
    if (parts.size() == 3 && method == http::verb::get) {
      const std::string child = parts[2].substr(0, parts[2].size() - 1);
      std::vector<const Object*> found;
      for (const auto& [cid, o] : objects) {
        if (o.type == child && o.parent == *id && visible(s, o.group)) found.push_back(&o);
      }
      return page_of(found, c.query);
    }
    return message(405, "Method not supported");
  }

  Response save(Call& c, OmeroSession& s) {
    if (c.req.method() != http::verb::post) return message(405, "Method not supported");
    boost::system::error_code ec;
    const json::value body = json::parse(c.req.body(), ec);
    if (ec || !body.is_object()) return message(400, "Invalid JSON");
    const json::object& o = body.as_object();
    if (!o.contains("@type")) return message(400, "Need to specify @type attribute");
    if (o.contains("@id")) return message(400, "Object has '@id' attribute. Use PUT to update objects");
    const std::string at_type(o.at("@type").as_string());
    const std::string kind = at_type.substr(at_type.find('#') + 1);
    if (kind != "Dataset" && kind != "Screen" && kind != "Project") {
      return message(405, "Creation of " + kind + " not supported");
    }
    std::optional<std::int64_t> group;
    if (const auto g = first(c.query, "group")) group = to_id(*g);
    if (!group) return message(400, "Specify Group in omero:details or query parameters ?group=:id");
    if (!groups.count(*group) || !visible(s, *group))
      return message(403, "SecurityViolation: not a member of the group");
    Object created{lower(kind), next_id++, "", "", s.user, *group, 0};
    if (const auto* n = o.if_contains("Name"); n && n->is_string()) created.name = std::string(n->get_string());
    if (const auto* d = o.if_contains("Description"); d && d->is_string()) {
      created.description = std::string(d->get_string());
    }
    objects[created.id] = created;
    return json_reply(201, json::object{{"data", encode(created)}}, true);
  }

  Response list_annotations(Call& c, OmeroSession& s) {
    const auto type = first(c.query, "type");
    const auto ns = first(c.query, "ns");
    long page = 1, limit = 20000;
    if (const auto v = first(c.query, "page")) page = std::max(1L, std::stol(*v));
    if (const auto v = first(c.query, "limit")) limit = std::stol(*v);
    json::array out;
    for (const std::string object_type : {"dataset", "image", "screen", "plate"}) {
      std::vector<std::int64_t> ids;
      for (const auto& text : all(c.query, object_type)) {
        if (const auto id = to_id(text)) ids.push_back(*id);
      }
      if (ids.empty()) continue;
      struct Row {
        const Annotation* ann;
        std::size_t link;
      };
      std::vector<Row> rows;
      for (const auto& [aid, a] : anns) {
        if (type && *type == "map" && a.kind != "map") continue;
        if (type && *type == "file" && a.kind != "file") continue;
        if (ns && a.ns != *ns) continue;
        if (!visible(s, a.group)) continue;
        for (std::size_t i = 0; i < a.links.size(); ++i) {
          if (a.links[i].first == object_type && std::find(ids.begin(), ids.end(), a.links[i].second) != ids.end()) {
            rows.push_back({&a, i});
          }
        }
      }
      std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.ann->ns < y.ann->ns; });
      for (long i = (page - 1) * limit; i < static_cast<long>(rows.size()) && i < page * limit; ++i) {
        const Row& r = rows[static_cast<std::size_t>(i)];
        const auto& [ltype, lid] = r.ann->links[r.link];
        json::array values;
        for (const auto& [k, v] : r.ann->values) values.push_back(json::array{json::string(k), json::string(v)});
        json::object entry{
            {"id", r.ann->id},
            {"ns", r.ann->ns},
            {"name", nullptr},
            {"description", nullptr},
            {"owner", json::object{{"id", r.ann->owner}}},
            {"date", "2026-12-03T10:00:00Z"},
            {"permissions", json::object{{"canEdit", true}, {"canDelete", true}, {"canLink", true}}},
            {"link", json::object{{"id", r.ann->id * 1000 + static_cast<std::int64_t>(r.link)},
                                  {"owner", json::object{{"id", r.ann->link_owner}}},
                                  {"parent", json::object{{"id", lid},
                                                          {"class", json_class(ltype)},
                                                          {"name", objects.count(lid) ? objects.at(lid).name : ""}}}}},
            {"class", r.ann->kind == "map" ? "MapAnnotationI" : "FileAnnotationI"}};
        if (r.ann->kind == "map") entry["values"] = values;
        if (r.ann->kind == "file") {
          entry["file"] = json::object{{"id", r.ann->id},
                                       {"name", r.ann->file_name},
                                       {"size", r.ann->file_content.size()},
                                       {"mimetype", "text/plain"}};
        }
        out.push_back(std::move(entry));
      }
    }
    return json_reply(200, json::object{{"annotations", out}, {"experimenters", json::array{}}});
  }

  // webclient's getObjects: `request.GET or request.POST`, only what the session sees.
  std::vector<const Object*> objects_of(const Call& c, const OmeroSession& s) {
    const Params& source = c.query.empty() ? c.form : c.query;
    std::vector<const Object*> out;
    for (const std::string type : {"image", "dataset", "project", "screen", "plate"}) {
      std::vector<std::int64_t> ids;
      for (const auto& text : all(source, type)) {
        if (const auto id = to_id(text)) ids.push_back(*id);
      }
      std::sort(ids.begin(), ids.end());
      for (const auto id : ids) {
        const auto it = objects.find(id);
        if (it != objects.end() && it->second.type == type && visible(s, it->second.group)) out.push_back(&it->second);
      }
    }
    return out;
  }

  Response annotate_map(Call& c, OmeroSession& s) {
    if (c.req.method() != http::verb::post) {
      return reply(404, "Need to POST map annotation data as list of ['key', 'value'] pairs", "text/plain");
    }
    const std::vector<const Object*> found = objects_of(c, s);
    const std::int64_t group = found.empty() ? s.group : found.front()->group;
    const auto raw = first(c.form, "mapAnnotation");
    boost::system::error_code ec;
    const json::value data = raw ? json::parse(*raw, ec) : json::value();
    if (!raw || ec || !data.is_array()) return reply(500, "Internal Server Error: mapAnnotation", "text/plain");
    KeyValues values;
    for (const json::value& pair : data.as_array()) {
      const json::array* kv = pair.if_array();
      if (kv == nullptr || kv->size() != 2 || !(*kv)[0].is_string() || !(*kv)[1].is_string()) {
        // NamedValue takes strings: Ice refuses anything else when saving.
        return reply(500, "Internal Server Error: NamedValue needs strings", "text/plain");
      }
      values.emplace_back(std::string((*kv)[0].get_string()), std::string((*kv)[1].get_string()));
    }
    std::vector<std::string> ann_ids = all(c.form, "annId");
    const std::string ns = first(c.form, "ns").value_or(std::string(client_map_ns));
    json::array result;
    if (ann_ids.empty() && !values.empty()) {
      // `duplicate.lower() == "true"` has no effect: any non-empty string is true.
      const bool duplicate = !first(c.form, "duplicate").value_or("false").empty() || ns == client_map_ns;
      const auto new_annotation = [&]() -> Annotation& {
        Annotation& a = anns[next_id];
        a.id = next_id++;
        a.kind = "map";
        a.ns = ns;
        a.values = values;
        a.owner = s.user;
        a.link_owner = s.user;
        a.group = group;
        return a;
      };
      if (duplicate) {
        for (const Object* o : found) {
          Annotation& a = new_annotation();
          a.links.emplace_back(o->type, o->id);
          result.push_back(a.id);
        }
      } else {
        Annotation& a = new_annotation();
        for (const Object* o : found) a.links.emplace_back(o->type, o->id);
        result.push_back(a.id);
      }
      return json_reply(200, json::object{{"annId", result}});
    }
    for (const std::string& text : ann_ids) {
      const auto id = to_id(text);
      const auto it = id ? anns.find(*id) : anns.end();
      if (it == anns.end() || it->second.kind != "map") continue;
      if (values.empty()) {
        anns.erase(it);
      } else {
        it->second.values = values;
      }
      result.push_back(json::string(text));
    }
    if (values.empty()) return json_reply(200, json::object{{"annId", nullptr}});
    return json_reply(200, json::object{{"annId", result}});
  }

  // manage_action_containers, action "savename": a GET is redirected to the edit form;
  // an object that does not exist or is not visible is handlerInternalError's 404 (to an
  // AJAX request); ContainerNameForm needs a non-empty `name`, else {"bad": "true"} with
  // 200. Writing another user's object is refused as the other writes here refuse it.
  Response savename(Call& c, OmeroSession& s) {
    const std::string rest = c.path.substr(std::string_view("/webclient/action/savename/").size());
    const auto slash = rest.find('/');
    const std::string type = rest.substr(0, slash);
    const auto id = slash == std::string::npos ? std::nullopt : to_id(rest.substr(slash + 1, rest.size() - slash - 2));
    if (c.req.method() != http::verb::post) {
      Response r = reply(302, "", "text/html");
      r.set(http::field::location, options.prefix + "/webclient/action/edit/" + rest);
      return r;
    }
    const auto it = id ? objects.find(*id) : objects.end();
    if (it == objects.end() || it->second.type != type || !visible(s, it->second.group)) {
      return reply(404, "We are sorry, but that " + capitalised(type) + " (id:" + (id ? std::to_string(*id) : "") +
                            ") does not exist, or if it does, you have no permission to see it.",
                   "text/html");
    }
    const std::string name = first(c.form, "name").value_or("");
    if (name.empty()) {
      return json_reply(200, json::object{{"bad", "true"}, {"errs", json::object{{"name", "This field is required."}}}});
    }
    if (it->second.owner != s.user && !users.at(s.user).admin) return message(403, "SecurityViolation: not the owner");
    it->second.name = name;
    return json_reply(200, json::object{{"bad", "false"}, {"o_type", type}});
  }

  Response annotate_file(Call& c, OmeroSession& s) {
    const std::string content_type(c.req[http::field::content_type]);
    const auto b = content_type.find("boundary=");
    if (c.req.method() != http::verb::post || b == std::string::npos) return reply(404, "Not found", "text/plain");
    const std::string boundary = "--" + content_type.substr(b + 9);
    const std::string& body = c.req.body();
    std::string file_name, file_content;
    Params fields;
    for (std::size_t at = body.find(boundary); at != std::string::npos;) {
      const std::size_t start = at + boundary.size() + 2;
      const std::size_t next = body.find(boundary, start);
      if (next == std::string::npos) break;
      const std::string part = body.substr(start, next - start - 2);
      const auto split = part.find("\r\n\r\n");
      const std::string headers = part.substr(0, split);
      const std::string content = split == std::string::npos ? "" : part.substr(split + 4);
      const auto name_at = headers.find("name=\"");
      const std::string name = headers.substr(name_at + 6, headers.find('"', name_at + 6) - name_at - 6);
      if (const auto f = headers.find("filename=\""); f != std::string::npos) {
        file_name = headers.substr(f + 10, headers.find('"', f + 10) - f - 10);
        file_content = content;
      } else {
        fields.emplace(name, content);
      }
      at = next;
    }
    Call inner{c.req, c.path, {}, fields, c.cookies, {}};
    const std::vector<const Object*> found = objects_of(inner, s);
    if (found.empty()) return reply(404, "Need to specify objects via e.g. ?image=1", "text/plain");
    Annotation& a = anns[next_id];
    a.id = next_id++;
    a.kind = "file";
    a.file_name = file_name;
    a.file_content = file_content;
    a.owner = a.link_owner = s.user;
    a.group = found.front()->group;
    for (const Object* o : found) a.links.emplace_back(o->type, o->id);
    return json_reply(200, json::object{{"fileIds", json::array{a.id}}});
  }

  // Counts the request, applies a matching fault, and answers.
  Outcome handle(const Request& req) {
    std::lock_guard lock(mutex);
    const std::string target(req.target());
    const auto q = target.find('?');
    std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    if (!options.prefix.empty()) {
      if (!path.starts_with(options.prefix)) return {Action::respond, reply(404, "Not found", "text/plain")};
      path = path.substr(options.prefix.size());
    }
    const std::string method(req.method_string());
    ++counts[method + " " + path];

    std::optional<Fault> fault;
    int victim = 0;
    for (FaultRule& rule : faults) {
      if (rule.count <= 0 || (!rule.method.empty() && rule.method != method) || !path.starts_with(rule.path)) continue;
      if (rule.skip > 0) {
        --rule.skip;
        continue;
      }
      --rule.count;
      fault = rule.fault;
      victim = rule.pid;
      break;
    }
    if (fault == Fault::hang) return {Action::hang, {}};
    if (fault == Fault::drop) return {Action::drop, {}};
    if (fault == Fault::status_503) return {Action::respond, reply(503, "Service Unavailable", "text/html")};
    if (fault == Fault::status_404) return {Action::respond, reply(404, "Not Found", "text/html")};
    if (method.size() + target.size() + 10 > gunicorn_request_line_limit) {
      return {Action::respond, reply(400, "Bad Request: Request Line is too large", "text/html")};
    }

    Call c{req, path, parse_params(query), {}, {}, {}};
    if (req[http::field::content_type].starts_with("application/x-www-form-urlencoded")) {
      c.form = parse_params(req.body());
    }
    for (std::string_view cookies = req[http::field::cookie]; !cookies.empty();) {
      const auto semi = cookies.find(';');
      std::string_view pair = cookies.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos) c.cookies[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      cookies.remove_prefix(semi + 1);
    }
    Response response = route(c);
    for (const std::string& cookie : c.set_cookies) response.insert(http::field::set_cookie, cookie);
    if (fault == Fault::status_502_after) response = reply(502, "Bad Gateway", "text/html");
    if (fault == Fault::expire_sessions_after) omero_sessions.clear();
    if (fault == Fault::kill_after) {
      // Hanging rather than closing: the client must learn nothing before it dies.
      ::kill(victim, SIGKILL);
      return {Action::hang, {}};
    }
    return {Action::respond, std::move(response)};
  }

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(64 * 1024 * 1024);
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      Request req = parser.release();
      Outcome out = handle(req);
      if (out.action == Action::drop) co_return;
      if (out.action == Action::hang) {
        asio::steady_timer forever(io, std::chrono::hours(1));
        co_await forever.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_return;
      }
      out.response.keep_alive(req.keep_alive());
      out.response.prepare_payload();
      co_await http::async_write(stream, out.response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !req.keep_alive()) co_return;
    }
  }

  asio::awaitable<void> connection(tcp::socket socket) {
    if (!tls) {
      co_await serve(socket);
      boost::system::error_code ec;
      socket.shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    asio::ssl::stream<tcp::socket> stream(std::move(socket), *tls);
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    co_await serve(stream);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(io, connection(std::move(socket)), asio::detached);
    }
  }
};

OmeroWebStandin::OmeroWebStandin() : OmeroWebStandin(Options{}) {}

OmeroWebStandin::OmeroWebStandin(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.tls) {
    const auto [cert, key] = self_signed_certificate();
    impl_->tls.emplace(asio::ssl::context::tls_server);
    impl_->tls->use_certificate_chain(asio::buffer(cert));
    impl_->tls->use_private_key(asio::buffer(key), asio::ssl::context::pem);
    static std::atomic<int> serial{0};
    impl_->ca_path = fs::temp_directory_path() /
                     ("omero-web-standin-" + std::to_string(::getpid()) + "-" + std::to_string(serial++) + ".pem");
    std::ofstream(impl_->ca_path) << cert;
  }
  const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), impl_->options.port);
  impl_->acceptor.open(at.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(at);
  impl_->acceptor.listen();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

OmeroWebStandin::~OmeroWebStandin() {
  impl_->io.stop();
  impl_->thread.join();
  if (!impl_->ca_path.empty()) {
    std::error_code ec;
    fs::remove(impl_->ca_path, ec);
  }
}

std::string OmeroWebStandin::url() const {
  return std::string(impl_->options.tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port()) + impl_->options.prefix;
}

fs::path OmeroWebStandin::ca_file() const {
  return impl_->ca_path;
}

std::int64_t OmeroWebStandin::add_group(const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  const std::int64_t id = impl_->next_id++;
  impl_->groups[id] = {name};
  return id;
}

std::int64_t OmeroWebStandin::add_user(const std::string& ome_name, const std::string& password, bool admin,
                                       const std::vector<std::int64_t>& groups) {
  std::lock_guard lock(impl_->mutex);
  const std::int64_t id = impl_->next_id++;
  impl_->users[id] = {ome_name, password, admin, groups};
  return id;
}

std::int64_t OmeroWebStandin::add_container(const std::string& type, const std::string& name, std::int64_t owner,
                                            std::int64_t group, const std::string& description) {
  std::lock_guard lock(impl_->mutex);
  const std::int64_t id = impl_->next_id++;
  impl_->objects[id] = {type, id, name, description, owner, group, 0};
  return id;
}

std::int64_t OmeroWebStandin::add_child(const std::string& type, std::int64_t container, const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  const Object& parent = impl_->objects.at(container);
  const std::int64_t id = impl_->next_id++;
  impl_->objects[id] = {type, id, name, "", parent.owner, parent.group, container};
  return id;
}

std::int64_t OmeroWebStandin::add_map_annotation(const std::string& object_type, std::int64_t object_id,
                                                 const std::string& ns, const KeyValues& values, std::int64_t owner) {
  std::lock_guard lock(impl_->mutex);
  const std::int64_t id = impl_->next_id++;
  Annotation& a = impl_->anns[id];
  a.id = id;
  a.kind = "map";
  a.ns = ns;
  a.values = values;
  a.owner = a.link_owner = owner;
  a.group = impl_->objects.at(object_id).group;
  a.links.emplace_back(object_type, object_id);
  return id;
}

std::vector<OmeroWebStandin::Object> OmeroWebStandin::objects(const std::string& type) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<Object> out;
  for (const auto& [id, o] : impl_->objects) {
    if (o.type == type) out.push_back(o);
  }
  return out;
}

std::vector<OmeroWebStandin::Annotation> OmeroWebStandin::annotations_on(const std::string& object_type,
                                                                         std::int64_t id) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<Annotation> out;
  for (const auto& [aid, a] : impl_->anns) {
    for (const auto& link : a.links) {
      if (link.first == object_type && link.second == id) out.push_back(a);
    }
  }
  return out;
}

std::vector<OmeroWebStandin::Annotation> OmeroWebStandin::annotations() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<Annotation> out;
  for (const auto& [id, a] : impl_->anns) out.push_back(a);
  return out;
}

int OmeroWebStandin::live_omero_sessions() const {
  std::lock_guard lock(impl_->mutex);
  return static_cast<int>(impl_->omero_sessions.size());
}

void OmeroWebStandin::inject(const std::string& method, const std::string& path_prefix, Fault fault, int count,
                             int skip) {
  if (fault == Fault::kill_after) throw std::invalid_argument("Fault::kill_after needs kill_after(), with a pid");
  std::lock_guard lock(impl_->mutex);
  impl_->faults.push_back({method, path_prefix, fault, count, skip});
}

void OmeroWebStandin::kill_after(const std::string& method, const std::string& path_prefix, int pid, int skip) {
  if (pid <= 0) throw std::invalid_argument("kill_after needs a process id");  // kill(0) is the whole group
  std::lock_guard lock(impl_->mutex);
  impl_->faults.push_back({method, path_prefix, Fault::kill_after, 1, skip, pid});
}

void OmeroWebStandin::expire_sessions() {
  std::lock_guard lock(impl_->mutex);
  impl_->omero_sessions.clear();
}

std::size_t OmeroWebStandin::requests(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard lock(impl_->mutex);
  std::size_t n = 0;
  for (const auto& [key, count] : impl_->counts) {
    const auto space = key.find(' ');
    if ((method.empty() || key.substr(0, space) == method) && key.substr(space + 1).starts_with(path_prefix)) {
      n += count;
    }
  }
  return n;
}

}  // namespace biomero_reactor::test
