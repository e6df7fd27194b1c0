#include "biomero_reactor/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/units.hpp"

namespace biomero_reactor {

namespace {

constexpr std::string_view hidden = "***";

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string trim_trailing_space(std::string text) {
  while (!text.empty() && is_space(text.back())) text.pop_back();
  return text;
}

using PgOptions = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// libpq's reading of `conninfo`, or its reason for refusing it (the raw libpq text).
PgOptions parse_options(const std::string& conninfo, std::string& reason) {
  char* error = nullptr;
  PgOptions options(PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
  if (!options) {
    reason = error ? trim_trailing_space(error) : "out of memory";
    PQfreemem(error);
  }
  return options;
}

// `key=value` pairs as libpq reads them; each value's span in the text so it can be
// replaced. nullopt when the text is not a keyword string.
struct KeywordValue {
  std::string key;
  std::size_t value_at;
  std::size_t value_size;
};

std::optional<std::vector<KeywordValue>> scan_keywords(std::string_view text) {
  std::vector<KeywordValue> pairs;
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < text.size() && is_space(text[i])) ++i;
  };
  for (skip_space(); i < text.size(); skip_space()) {
    const std::size_t key_at = i;
    while (i < text.size() && text[i] != '=' && !is_space(text[i])) ++i;
    std::string key(text.substr(key_at, i - key_at));
    skip_space();
    if (key.empty() || i == text.size() || text[i] != '=') return std::nullopt;
    ++i;
    skip_space();
    const std::size_t value_at = i;
    if (i < text.size() && text[i] == '\'') {
      for (++i; i < text.size() && text[i] != '\''; ++i)
        if (text[i] == '\\') ++i;
      if (i >= text.size()) return std::nullopt;
      ++i;
    } else {
      for (; i < text.size() && !is_space(text[i]); ++i)
        if (text[i] == '\\') ++i;
      i = std::min(i, text.size());
    }
    pairs.push_back({std::move(key), value_at, i - value_at});
  }
  return pairs;
}

struct Span {
  std::size_t at;
  std::size_t size;
};

// Where `conninfo` keeps passwords, in order; nullopt when it is neither a URI nor a
// keyword string, so there is no telling.
std::optional<std::vector<Span>> password_spans(std::string_view conninfo) {
  std::vector<Span> spans;
  const auto scheme_end = conninfo.find("://");
  if (scheme_end == std::string_view::npos) {
    const auto pairs = scan_keywords(conninfo);
    if (!pairs) return std::nullopt;
    for (const auto& pair : *pairs)
      if (pair.key == "password") spans.push_back({pair.value_at, pair.value_size});
    return spans;
  }
  const auto authority_at = scheme_end + 3;
  const auto query_at = conninfo.find('?', authority_at);
  // The last '@' before the query ends the userinfo: passwords typed raw may hold '/' or '@'.
  const auto at = conninfo.rfind('@', query_at);
  if (at != std::string_view::npos && at >= authority_at) {
    const auto colon = conninfo.find(':', authority_at);
    if (colon < at) spans.push_back({colon + 1, at - colon - 1});
  }
  if (query_at == std::string_view::npos) return spans;
  for (std::size_t param_at = query_at + 1; param_at < conninfo.size();) {
    const auto param_end = std::min(conninfo.find('&', param_at), conninfo.size());
    const auto eq = conninfo.find('=', param_at);
    if (eq < param_end && conninfo.substr(param_at, eq - param_at) == "password")
      spans.push_back({eq + 1, param_end - eq - 1});
    param_at = param_end + 1;
  }
  return spans;
}

// The libpq form of `url`, or std::invalid_argument saying why there is none.
std::string conninfo_of(std::string_view url) {
  if (url.empty()) return {};
  const auto not_postgres = [&] {
    return std::invalid_argument(
        in_quotes(redact_conninfo(url)) +
        " is not a PostgreSQL connection (use postgresql://user:password@host:5432/db, "
        "SQLAlchemy's postgresql+psycopg2://... or libpq keywords like host=db dbname=biomero)");
  };
  std::string conninfo;
  if (const auto scheme_end = url.find("://"); scheme_end != std::string_view::npos) {
    const auto scheme = url.substr(0, scheme_end);
    const auto dialect = scheme.substr(0, scheme.find('+'));
    if (dialect != "postgresql" && dialect != "postgres") throw not_postgres();
    // SQLAlchemy's `+driver` names the Python driver; the rest of its URL is libpq's URI.
    conninfo = "postgresql" + std::string(url.substr(scheme_end));
  } else if (url.find('=') != std::string_view::npos) {
    conninfo = url;
  } else {
    throw not_postgres();
  }
  std::string reason;
  const auto options = parse_options(conninfo, reason);
  // libpq's reason may quote the string, or a piece of it such as a mistyped password.
  if (!options) throw std::invalid_argument("not a valid connection string: " + pg::redact_secrets(reason, conninfo));
  // libpq checks ports only when connecting; a typo should fail `check`, not the first job.
  for (const auto* option = options.get(); option->keyword != nullptr; ++option) {
    if (std::string_view(option->keyword) != "port" || option->val == nullptr) continue;
    std::string_view ports(option->val);
    for (std::size_t start = 0; start <= ports.size();) {
      const auto end = std::min(ports.find(',', start), ports.size());
      const auto port = ports.substr(start, end - start);
      const auto number = parse_digits(port);
      if (!port.empty() && (!number || *number < 1 || *number > 65535))
        throw std::invalid_argument(pg::redact_secrets("port " + in_quotes(port) + " is not a port number", conninfo));
      start = end + 1;
    }
  }
  return conninfo;
}

// The parameters libpq reads from a valid connection string, for comparison.
std::map<std::string, std::string> parameters(const std::string& conninfo) {
  std::string reason;
  const auto options = parse_options(conninfo, reason);
  std::map<std::string, std::string> out;
  if (!options) return out;  // conninfo_of accepted it, so libpq did too
  for (const auto* option = options.get(); option->keyword != nullptr; ++option)
    if (option->val != nullptr) out[option->keyword] = option->val;
  return out;
}

}  // namespace

std::string libpq_conninfo(std::string_view url, std::string_view key, std::string_view origin) {
  try {
    return conninfo_of(url);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(key), e.what(), origin);
  }
}

std::string redact_conninfo(std::string_view conninfo) {
  const auto spans = password_spans(conninfo);
  if (!spans) return std::string(hidden);  // not libpq's syntax: no telling where a password is
  std::string out(conninfo);
  // Back to front so earlier spans stay valid.
  for (auto span = spans->rbegin(); span != spans->rend(); ++span) out.replace(span->at, span->size, hidden);
  return out;
}

bool same_database(const Config& config) {
  const auto events = libpq_conninfo(config.database.events_url, "database.events_url");
  if (config.database.importer_url.empty()) return true;
  return parameters(events) == parameters(libpq_conninfo(config.database.importer_url, "database.importer_url"));
}

}  // namespace biomero_reactor
