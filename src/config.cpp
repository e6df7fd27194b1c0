#include "biomero_reactor/config.hpp"

#include <libpq-fe.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

namespace biomero_reactor {

namespace {

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// A run of decimal digits as an unsigned number; nullopt on overflow or if not all digits.
std::optional<std::uint64_t> parse_digits(std::string_view digits) {
  std::uint64_t value = 0;
  if (digits.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

struct Unit {
  std::string_view name;
  std::int64_t ms;
};
// Largest first: a combined duration must name its units in this order, each once.
constexpr std::array<Unit, 5> duration_units{
    {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

}  // namespace

ConfigError::ConfigError(std::string key_name, std::string_view problem, std::string_view origin)
    : ConfigError(Verbatim{}, key_name,
                  "config key " + in_quotes(key_name) + (origin.empty() ? "" : " (from " + std::string(origin) + ")") +
                      ": " + std::string(problem)) {}

ConfigError::ConfigError(Verbatim, std::string key_name, const std::string& what)
    : std::runtime_error(what), key(std::move(key_name)) {}

ConfigError ConfigError::for_file(const std::filesystem::path& file, std::string_view problem) {
  return ConfigError(Verbatim{}, "", "config file " + in_quotes(file.string()) + ": " + std::string(problem));
}

Duration parse_duration(std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return std::invalid_argument(in_quotes(text) + " is not a duration" + std::string(why) + " (use e.g. 30s, 5m, 1h)");
  };
  if (text.empty()) throw invalid("");
  std::int64_t total = 0;
  std::size_t next_unit = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t digits_at = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    const auto number = parse_digits(text.substr(digits_at, i - digits_at));
    if (!number) throw invalid(digits_at == i ? "" : ": the number is too large");
    const std::size_t unit_at = i;
    while (i < text.size() && is_alpha(text[i])) ++i;
    const auto unit_name = text.substr(unit_at, i - unit_at);
    if (unit_name.empty()) throw invalid(i == text.size() ? ": it has no unit" : "");
    std::size_t unit = next_unit;
    while (unit < duration_units.size() && duration_units[unit].name != unit_name) ++unit;
    if (unit == duration_units.size()) throw invalid("");
    next_unit = unit + 1;
    const auto ms = duration_units[unit].ms;
    if (*number > static_cast<std::uint64_t>((std::numeric_limits<std::int64_t>::max() - total) / ms))
      throw invalid(": it is too long");
    total += static_cast<std::int64_t>(*number) * ms;
  }
  return Duration(total);
}

std::string format_duration(Duration d) {
  if (d.count() == 0) return "0s";
  std::string out;
  std::int64_t rest = d.count();
  if (rest < 0) {
    out = "-";
    rest = -rest;
  }
  for (const auto& unit : duration_units) {
    if (rest >= unit.ms) {
      out += std::to_string(rest / unit.ms) + std::string(unit.name);
      rest %= unit.ms;
    }
  }
  return out;
}

std::uint64_t parse_size(std::string_view text) {
  const auto invalid = [&] {
    return std::invalid_argument(in_quotes(text) + " is not a size (use e.g. 500MB, 10GiB or a number of bytes)");
  };
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  const auto number = parse_digits(text.substr(0, i));
  if (!number) throw invalid();
  while (i < text.size() && text[i] == ' ') ++i;
  const auto unit = lowercase(text.substr(i));
  static const std::map<std::string, std::uint64_t, std::less<>> units{
      {"", 1},
      {"b", 1},
      {"kb", 1'000},
      {"mb", 1'000'000},
      {"gb", 1'000'000'000},
      {"tb", 1'000'000'000'000},
      {"kib", std::uint64_t{1} << 10},
      {"mib", std::uint64_t{1} << 20},
      {"gib", std::uint64_t{1} << 30},
      {"tib", std::uint64_t{1} << 40},
  };
  const auto found = units.find(unit);
  if (found == units.end() || (unit.empty() && i != text.size())) throw invalid();
  if (*number > std::numeric_limits<std::uint64_t>::max() / found->second) throw invalid();
  return *number * found->second;
}

namespace {

std::string format_size(std::uint64_t bytes) {
  for (const auto& [suffix, shift] : {std::pair{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}}) {
    const auto unit = std::uint64_t{1} << shift;
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

using PgOptions = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

std::string trim_trailing_space(std::string text) {
  while (!text.empty() && is_space(text.back())) text.pop_back();
  return text;
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
  char* error = nullptr;
  const PgOptions options(PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
  if (!options) {
    const std::string reason = error ? trim_trailing_space(error) : "out of memory";
    PQfreemem(error);
    // libpq's reason names the bad part; the string itself may hold a mistyped password.
    throw std::invalid_argument("not a valid connection string: " + reason);
  }
  // libpq checks ports only when connecting; a typo should fail `check`, not the first job.
  for (const auto* option = options.get(); option->keyword != nullptr; ++option) {
    if (std::string_view(option->keyword) != "port" || option->val == nullptr) continue;
    std::string_view ports(option->val);
    for (std::size_t start = 0; start <= ports.size();) {
      const auto end = std::min(ports.find(',', start), ports.size());
      const auto port = ports.substr(start, end - start);
      const auto number = parse_digits(port);
      if (!port.empty() && (!number || *number < 1 || *number > 65535))
        throw std::invalid_argument("port " + in_quotes(port) + " is not a port number");
      start = end + 1;
    }
  }
  return conninfo;
}

}  // namespace

std::string libpq_conninfo(std::string_view url, std::string_view key) {
  try {
    return conninfo_of(url);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(key), e.what());
  }
}

namespace {

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

}  // namespace

std::string redact_conninfo(std::string_view conninfo) {
  constexpr std::string_view hidden = "***";
  std::string out(conninfo);
  if (const auto scheme_end = out.find("://"); scheme_end != std::string::npos) {
    const auto authority_at = scheme_end + 3;
    auto query_at = out.find('?', authority_at);
    // The last '@' before the query ends the userinfo: passwords typed raw may hold '/' or '@'.
    const auto at = out.rfind('@', query_at == std::string::npos ? std::string::npos : query_at);
    if (at != std::string::npos && at >= authority_at) {
      const auto colon = out.find(':', authority_at);
      if (colon < at) {
        out.replace(colon + 1, at - colon - 1, hidden);
        query_at = out.find('?', authority_at);
      }
    }
    if (query_at != std::string::npos) {
      std::size_t param_at = query_at + 1;
      while (param_at < out.size()) {
        auto param_end = out.find('&', param_at);
        if (param_end == std::string::npos) param_end = out.size();
        const auto eq = out.find('=', param_at);
        if (eq < param_end && std::string_view(out).substr(param_at, eq - param_at) == "password") {
          out.replace(eq + 1, param_end - eq - 1, hidden);
          param_end = eq + 1 + hidden.size();
        }
        param_at = param_end + 1;
      }
    }
    return out;
  }
  const auto pairs = scan_keywords(conninfo);
  if (!pairs) return std::string(hidden);  // not libpq's syntax: no telling where a password is
  // Back to front so earlier spans stay valid.
  for (auto pair = pairs->rbegin(); pair != pairs->rend(); ++pair)
    if (pair->key == "password") out.replace(pair->value_at, pair->value_size, hidden);
  return out;
}

std::string expand_template(std::string_view tmpl, std::string_view job_id, std::string_view workflow_id) {
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '}') throw std::invalid_argument(in_quotes(tmpl) + " has a '}' without its '{'");
    if (tmpl[i] != '{') {
      out += tmpl[i++];
      continue;
    }
    const auto close = tmpl.find('}', i);
    if (close == std::string_view::npos) throw std::invalid_argument(in_quotes(tmpl) + " has a '{' without its '}'");
    const auto name = tmpl.substr(i + 1, close - i - 1);
    if (name == "job_id") {
      out += job_id;
    } else if (name == "workflow_id") {
      out += workflow_id;
    } else {
      throw std::invalid_argument(in_quotes(tmpl) + " uses {" + std::string(name) +
                                  "}; the placeholders are {job_id} and {workflow_id}");
    }
    i = close + 1;
  }
  return out;
}

std::string_view to_string(LabelsMode mode) {
  switch (mode) {
    case LabelsMode::labels_only_when_present:
      return "labels-only-when-present";
    case LabelsMode::images_and_labels:
      return "images-and-labels";
    case LabelsMode::images_only:
      return "images-only";
  }
  return "labels-only-when-present";
}

Getenv process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Config default_config() {
  return Config{};
}

namespace {

std::string_view kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

// One YAML mapping being read: remembers which keys the reader asked for, so what is
// left over is a typo reported with its full dotted name.
class Section {
 public:
  Section(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
    if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap())
      throw ConfigError(path_, "expected a mapping of keys, got " + std::string(kind_of(node_)));
  }

  [[nodiscard]] std::string key_of(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // The value at `key`; undefined when absent or null, which keeps the default.
  [[nodiscard]] YAML::Node child(std::string_view key) {
    known_.emplace_back(key);
    if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    for (const auto& entry : node_)
      if (entry.first.IsScalar() && entry.first.Scalar() == key)
        return entry.second.IsNull() ? YAML::Node(YAML::NodeType::Undefined) : entry.second;
    return YAML::Node(YAML::NodeType::Undefined);
  }

  [[nodiscard]] Section section(std::string_view key) { return Section(child(key), key_of(key)); }

  void reject_unknown_keys() const {
    if (!node_.IsMap()) return;
    std::vector<std::string> seen;
    for (const auto& entry : node_) {
      const std::string name = entry.first.IsScalar() ? entry.first.Scalar() : "?";
      // yaml-cpp keeps both copies of a repeated key; only the first would count.
      if (std::find(seen.begin(), seen.end(), name) != seen.end())
        throw ConfigError(key_of(name), "appears twice in the same section");
      seen.push_back(name);
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
      std::string known;
      for (const auto& k : known_) known += (known.empty() ? "" : ", ") + k;
      throw ConfigError(key_of(name), "unknown key (valid here: " + known + ")");
    }
  }

 private:
  YAML::Node node_;
  std::string path_;
  std::vector<std::string> known_;
};

std::optional<std::string> scalar(Section& section, std::string_view key) {
  const auto node = section.child(key);
  if (!node.IsDefined()) return std::nullopt;
  if (!node.IsScalar())
    throw ConfigError(section.key_of(key), "expected a single value, got " + std::string(kind_of(node)));
  return node.Scalar();
}

template <class Parse>
void read_with(Section& section, std::string_view key, Parse&& parse) {
  if (auto text = scalar(section, key)) {
    try {
      parse(*text);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(section.key_of(key), e.what());
    }
  }
}

void read(Section& section, std::string_view key, std::string& out) {
  read_with(section, key, [&](const std::string& text) { out = text; });
}

void read(Section& section, std::string_view key, std::filesystem::path& out) {
  read_with(section, key, [&](const std::string& text) {
    if (text.empty()) throw std::invalid_argument("expected a path, got an empty value");
    out = text;
  });
}

void read(Section& section, std::string_view key, Duration& out) {
  read_with(section, key, [&](const std::string& text) { out = parse_duration(text); });
}

std::int64_t parse_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    throw std::invalid_argument(in_quotes(text) + " is not a whole number");
  return value;
}

void read(Section& section, std::string_view key, int& out, int minimum,
          int maximum = std::numeric_limits<int>::max()) {
  read_with(section, key, [&](const std::string& text) {
    const auto value = parse_integer(text);
    if (value < minimum) throw std::invalid_argument(text + " is too small (at least " + std::to_string(minimum) + ")");
    if (value > maximum) throw std::invalid_argument(text + " is too large (at most " + std::to_string(maximum) + ")");
    out = static_cast<int>(value);
  });
}

void read_count(Section& section, std::string_view key, std::uint64_t& out) {
  read_with(section, key, [&](const std::string& text) {
    const auto value = parse_integer(text);
    if (value < 1) throw std::invalid_argument(text + " is too small (at least 1)");
    out = static_cast<std::uint64_t>(value);
  });
}

void read_size(Section& section, std::string_view key, std::uint64_t& out) {
  read_with(section, key, [&](const std::string& text) {
    const auto value = parse_size(text);
    if (value == 0) throw std::invalid_argument("a size of 0 bytes would refuse every archive");
    out = value;
  });
}

void read(Section& section, std::string_view key, double& out, double minimum) {
  read_with(section, key, [&](const std::string& text) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || !std::isfinite(value))
      throw std::invalid_argument(in_quotes(text) + " is not a number");
    if (value < minimum) {
      std::ostringstream least;
      least << minimum;
      throw std::invalid_argument(text + " is too small (at least " + least.str() + ")");
    }
    out = value;
  });
}

template <class Item>
void read_list(Section& section, std::string_view key, std::vector<Item>& out) {
  const auto node = section.child(key);
  if (!node.IsDefined()) return;
  if (!node.IsSequence()) throw ConfigError(section.key_of(key), "expected a list, got " + std::string(kind_of(node)));
  out.clear();
  for (std::size_t i = 0; i < node.size(); ++i) {
    const auto item_key = section.key_of(key) + "[" + std::to_string(i) + "]";
    if (!node[i].IsScalar() || node[i].Scalar().empty())
      throw ConfigError(item_key, "expected a non-empty single value, got " + std::string(kind_of(node[i])));
    out.emplace_back(node[i].Scalar());
  }
}

template <class Check>
void read_checked(Section& section, std::string_view key, std::string& out, Check&& check) {
  read_with(section, key, [&](const std::string& text) {
    check(text);
    out = text;
  });
}

void check_one_of(const std::string& text, std::initializer_list<std::string_view> allowed) {
  std::string list;
  for (auto a : allowed) {
    if (text == a) return;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw std::invalid_argument(in_quotes(text) + " is not one of " + list);
}

void check_template(const std::string& text, bool may_be_empty) {
  if (text.empty() && may_be_empty) return;
  if (text.empty() || text.front() != '/')
    throw std::invalid_argument(in_quotes(text) +
                                " is not an absolute path (the reactor's working directory is not "
                                "meaningful)");
  (void)expand_template(text, "1", "w");
}

// A positive OMERO id, kept as its canonical decimal text.
std::string canonical_id(const std::string& text) {
  std::int64_t value = 0;
  try {
    value = parse_integer(text);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(in_quotes(text) + " is not an OMERO id (a positive whole number)");
  }
  if (value < 1) throw std::invalid_argument(in_quotes(text) + " is not an OMERO id (a positive whole number)");
  return std::to_string(value);
}

void check_listen(const std::string& text) {
  if (text.empty()) return;
  const auto colon = text.rfind(':');
  const auto bad = [&] { return std::invalid_argument(in_quotes(text) + " is not host:port (e.g. 127.0.0.1:9464)"); };
  if (colon == std::string::npos || colon == 0) throw bad();
  const auto port = parse_digits(std::string_view(text).substr(colon + 1));
  if (!port || *port < 1 || *port > 65535) throw bad();
}

void read_names(Section& section, std::string_view key, std::map<std::int64_t, std::string>& out) {
  const auto node = section.child(key);
  if (!node.IsDefined()) return;
  const auto path = section.key_of(key);
  if (!node.IsMap())
    throw ConfigError(path, "expected a mapping of OMERO id to name, got " + std::string(kind_of(node)));
  out.clear();
  for (const auto& entry : node) {
    const std::string id_text = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    const auto entry_key = path + "." + id_text;
    std::int64_t id = 0;
    try {
      id = parse_integer(id_text);
    } catch (const std::invalid_argument&) {
      throw ConfigError(entry_key, in_quotes(id_text) + " is not an OMERO id (a whole number)");
    }
    if (!entry.second.IsScalar() || entry.second.Scalar().empty())
      throw ConfigError(entry_key, "expected a name, got " + std::string(kind_of(entry.second)));
    out[id] = entry.second.Scalar();
  }
}

void read_destination(Section& section, Destination& out) {
  read_checked(section, "type", out.type, [](const std::string& t) { check_one_of(t, {"Dataset", "Screen"}); });
  read_with(section, "id", [&](const std::string& text) { out.id = text.empty() ? "" : canonical_id(text); });
}

void read_group_destinations(Section& section, std::map<std::string, Destination>& out,
                             const std::string& default_type) {
  const auto node = section.child("groups");
  if (!node.IsDefined()) return;
  const auto path = section.key_of("groups");
  if (!node.IsMap())
    throw ConfigError(path, "expected a mapping of group name to {type, id}, got " + std::string(kind_of(node)));
  out.clear();
  for (const auto& entry : node) {
    const std::string group = entry.first.IsScalar() ? entry.first.Scalar() : "?";
    Section group_section(entry.second, path + "." + group);
    Destination destination{default_type, {}};
    read_destination(group_section, destination);
    group_section.reject_unknown_keys();
    out[group] = destination;
  }
}

void read_labels(Section& section, LabelsMode& out) {
  read_with(section, "labels", [&](const std::string& text) {
    for (auto mode : {LabelsMode::labels_only_when_present, LabelsMode::images_and_labels, LabelsMode::images_only}) {
      if (text == to_string(mode)) {
        out = mode;
        return;
      }
    }
    check_one_of(text, {"labels-only-when-present", "images-and-labels", "images-only"});
  });
}

// What load_config learned beyond the values: whether importer_url was given, and
// where each URL came from for error messages.
struct Origins {
  bool importer_url_set = false;
  std::string events_url;
  std::string importer_url;
};

void read_yaml(const YAML::Node& root, Config& config, Origins& origins) {
  Section top(root, "");

  auto database = top.section("database");
  read(database, "events_url", config.database.events_url);
  if (auto url = scalar(database, "importer_url"); url && !url->empty()) {
    config.database.importer_url = *url;
    origins.importer_url_set = true;
  }
  read(database, "pool_size", config.database.pool_size, 1);
  database.reject_unknown_keys();

  auto importer = top.section("importer");
  read(importer, "settings", config.importer.settings);
  read_list(importer, "group_mappings", config.importer.group_mappings);
  read_checked(importer, "base_dir_override", config.importer.base_dir_override, [](const std::string& t) {
    if (!t.empty() && t.front() != '/') throw std::invalid_argument(in_quotes(t) + " is not an absolute path");
  });
  importer.reject_unknown_keys();

  auto results = top.section("results");
  read_checked(results, "zip", config.results.zip, [](const std::string& t) { check_template(t, false); });
  read_checked(results, "log", config.results.log, [](const std::string& t) { check_template(t, false); });
  read_checked(results, "dir", config.results.dir, [](const std::string& t) { check_template(t, true); });
  read(results, "wait", config.results.wait);
  results.reject_unknown_keys();

  auto import = top.section("import");
  read(import, "timeout", config.import.timeout);
  read(import, "poll_interval", config.import.poll_interval);
  read(import, "degraded_poll_interval", config.import.degraded_poll_interval);
  read(import, "pending_alert", config.import.pending_alert);
  read(import, "max_attempts", config.import.max_attempts, 1);
  read_list(import, "skip_when_imported_by", config.import.skip_when_imported_by);
  read_labels(import, config.import.labels);
  import.reject_unknown_keys();

  auto destination = top.section("destination");
  Destination default_destination{config.destination.type, config.destination.id};
  read_destination(destination, default_destination);
  config.destination.type = default_destination.type;
  config.destination.id = default_destination.id;
  read_group_destinations(destination, config.destination.groups, config.destination.type);
  destination.reject_unknown_keys();

  auto names = top.section("names");
  read_names(names, "users", config.names.users);
  read_names(names, "groups", config.names.groups);
  names.reject_unknown_keys();

  auto limits = top.section("limits");
  read_size(limits, "max_total_bytes", config.limits.max_total_bytes);
  read_count(limits, "max_entries", config.limits.max_entries);
  read(limits, "max_ratio", config.limits.max_ratio, 1.0);
  read(limits, "extract_threads", config.limits.extract_threads, 1, 64);
  limits.reject_unknown_keys();

  auto intake = top.section("intake");
  read(intake, "poll_interval", config.intake.poll_interval);
  read(intake, "batch", config.intake.batch, 1);
  intake.reject_unknown_keys();

  auto listener = top.section("listener");
  read(listener, "heartbeat_interval", config.listener.heartbeat_interval);
  read(listener, "heartbeat_timeout", config.listener.heartbeat_timeout);
  read(listener, "backoff_initial", config.listener.backoff_initial);
  read(listener, "backoff_max", config.listener.backoff_max);
  listener.reject_unknown_keys();

  auto jobs = top.section("jobs");
  read(jobs, "lease", config.jobs.lease);
  read(jobs, "max_attempts", config.jobs.max_attempts, 1);
  read(jobs, "shutdown_grace", config.jobs.shutdown_grace);
  jobs.reject_unknown_keys();

  auto log = top.section("log");
  read_checked(log, "level", config.log.level, [](const std::string& t) {
    check_one_of(t, {"trace", "debug", "info", "warning", "error"});
  });
  read_checked(log, "format", config.log.format, [](const std::string& t) {
    check_one_of(t, {"auto", "json", "text"});
  });
  log.reject_unknown_keys();

  auto http = top.section("http");
  read_checked(http, "listen", config.http.listen, check_listen);
  http.reject_unknown_keys();

  top.reject_unknown_keys();
}

void apply_environment(const Getenv& getenv, Config& config, Origins& origins) {
  const auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto value = getenv(name);
    // Compose files expand an unset ${VAR} to "": treat that as unset, like BIOMERO's `or`.
    if (value && value->empty()) return std::nullopt;
    return value;
  };
  if (auto v = get("SQLALCHEMY_URL")) {
    config.database.events_url = *v;
    origins.events_url = "environment SQLALCHEMY_URL";
  }
  if (auto v = get("INGEST_TRACKING_DB_URL")) {
    config.database.importer_url = *v;
    origins.importer_url = "environment INGEST_TRACKING_DB_URL";
    origins.importer_url_set = true;
  }
  if (auto v = get("IMPORTER_CONFIG_PATH")) config.importer.settings = *v;
  auto& mappings = config.importer.group_mappings;
  if (auto v = get("OMERO_BIOMERO_CONFIG_FILE")) {
    if (mappings.empty())
      mappings.emplace_back(*v);
    else
      mappings.front() = *v;
  }
  if (auto v = get("OMERO_BIOMERO_GROUP_MAPPINGS_FILE")) mappings.emplace_back(*v);
}

void check_url(const std::string& url, const char* key, const std::string& origin) {
  try {
    (void)conninfo_of(url);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(key, e.what(), origin);
  }
}

void check_consistency(Config& config, const Origins& origins) {
  check_url(config.database.events_url, "database.events_url", origins.events_url);
  if (origins.importer_url_set)
    check_url(config.database.importer_url, "database.importer_url", origins.importer_url);
  else
    config.database.importer_url = config.database.events_url;
  if (config.listener.backoff_initial > config.listener.backoff_max)
    throw ConfigError("listener.backoff_max", format_duration(config.listener.backoff_max) +
                                                  " is shorter than listener.backoff_initial (" +
                                                  format_duration(config.listener.backoff_initial) + ")");
  const std::pair<const char*, Duration> must_be_positive[] = {
      {"import.timeout", config.import.timeout},
      {"import.poll_interval", config.import.poll_interval},
      {"import.degraded_poll_interval", config.import.degraded_poll_interval},
      {"import.pending_alert", config.import.pending_alert},
      {"intake.poll_interval", config.intake.poll_interval},
      {"listener.heartbeat_interval", config.listener.heartbeat_interval},
      {"listener.heartbeat_timeout", config.listener.heartbeat_timeout},
      {"listener.backoff_initial", config.listener.backoff_initial},
      {"jobs.lease", config.jobs.lease},
  };
  for (const auto& [key, value] : must_be_positive)
    if (value.count() <= 0) throw ConfigError(key, "must be longer than 0s");
}

Config config_from_node(const YAML::Node& root, const Getenv& getenv) {
  Config config;
  Origins origins;
  read_yaml(root, config, origins);
  apply_environment(getenv, config, origins);
  check_consistency(config, origins);
  return config;
}

YAML::Node parse_yaml(std::string_view text, const std::filesystem::path& source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw ConfigError::for_file(source, "line " + std::to_string(e.mark.line + 1) + ", column " +
                                            std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsDefined() && !root.IsNull() && !root.IsMap())
    throw ConfigError::for_file(source, "expected a mapping of sections (database:, import:, ...) at the top");
  return root;
}

}  // namespace

Config config_from_yaml_text(std::string_view yaml, const Getenv& getenv) {
  return config_from_node(parse_yaml(yaml, "<text>"), getenv);
}

Config load_config(const std::filesystem::path& file, const Getenv& getenv) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw ConfigError::for_file(file, "does not exist");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError::for_file(file, std::string("cannot be read: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError::for_file(file, "cannot be read");
  return config_from_node(parse_yaml(text.str(), file), getenv);
}

std::string describe(const Config& config) {
  YAML::Emitter out;
  const auto text = [&](std::string_view key, const std::string& value) {
    out << YAML::Key << std::string(key) << YAML::Value << YAML::DoubleQuoted << value;
  };
  const auto duration = [&](std::string_view key, Duration value) {
    out << YAML::Key << std::string(key) << YAML::Value << format_duration(value);
  };
  const auto list = [&](std::string_view key, const auto& items) {
    out << YAML::Key << std::string(key) << YAML::Value;
    if (items.empty()) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& item : items) out << YAML::DoubleQuoted << std::string(item);
    out << YAML::EndSeq;
  };
  const auto section = [&](std::string_view name, const auto& body) {
    out << YAML::Key << std::string(name) << YAML::Value << YAML::BeginMap;
    body();
    out << YAML::EndMap;
  };
  // An empty block mapping would print as a dangling "{}" line.
  const auto begin_map = [&](bool empty) {
    if (empty) out << YAML::Flow;
    out << YAML::BeginMap;
  };
  const auto names = [&](std::string_view key, const std::map<std::int64_t, std::string>& table) {
    out << YAML::Key << std::string(key) << YAML::Value;
    begin_map(table.empty());
    for (const auto& [id, name] : table) out << YAML::Key << id << YAML::Value << YAML::DoubleQuoted << name;
    out << YAML::EndMap;
  };

  out << YAML::BeginMap;
  section("database", [&] {
    text("events_url", redact_conninfo(config.database.events_url));
    text("importer_url", redact_conninfo(config.database.importer_url));
    out << YAML::Key << "pool_size" << YAML::Value << config.database.pool_size;
  });
  section("importer", [&] {
    text("settings", config.importer.settings.string());
    std::vector<std::string> files;
    for (const auto& f : config.importer.group_mappings) files.push_back(f.string());
    list("group_mappings", files);
    text("base_dir_override", config.importer.base_dir_override);
  });
  section("results", [&] {
    text("zip", config.results.zip);
    text("log", config.results.log);
    text("dir", config.results.dir);
    duration("wait", config.results.wait);
  });
  section("import", [&] {
    duration("timeout", config.import.timeout);
    duration("poll_interval", config.import.poll_interval);
    duration("degraded_poll_interval", config.import.degraded_poll_interval);
    duration("pending_alert", config.import.pending_alert);
    out << YAML::Key << "max_attempts" << YAML::Value << config.import.max_attempts;
    list("skip_when_imported_by", config.import.skip_when_imported_by);
    out << YAML::Key << "labels" << YAML::Value << std::string(to_string(config.import.labels));
  });
  section("destination", [&] {
    text("type", config.destination.type);
    text("id", config.destination.id);
    out << YAML::Key << "groups" << YAML::Value;
    begin_map(config.destination.groups.empty());
    for (const auto& [group, destination] : config.destination.groups) {
      out << YAML::Key << YAML::DoubleQuoted << group << YAML::Value << YAML::BeginMap;
      text("type", destination.type);
      text("id", destination.id);
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  });
  section("names", [&] {
    names("users", config.names.users);
    names("groups", config.names.groups);
  });
  section("limits", [&] {
    out << YAML::Key << "max_total_bytes" << YAML::Value << format_size(config.limits.max_total_bytes);
    out << YAML::Key << "max_entries" << YAML::Value << config.limits.max_entries;
    out << YAML::Key << "max_ratio" << YAML::Value << config.limits.max_ratio;
    out << YAML::Key << "extract_threads" << YAML::Value << config.limits.extract_threads;
  });
  section("intake", [&] {
    duration("poll_interval", config.intake.poll_interval);
    out << YAML::Key << "batch" << YAML::Value << config.intake.batch;
  });
  section("listener", [&] {
    duration("heartbeat_interval", config.listener.heartbeat_interval);
    duration("heartbeat_timeout", config.listener.heartbeat_timeout);
    duration("backoff_initial", config.listener.backoff_initial);
    duration("backoff_max", config.listener.backoff_max);
  });
  section("jobs", [&] {
    duration("lease", config.jobs.lease);
    out << YAML::Key << "max_attempts" << YAML::Value << config.jobs.max_attempts;
    duration("shutdown_grace", config.jobs.shutdown_grace);
  });
  section("log", [&] {
    text("level", config.log.level);
    text("format", config.log.format);
  });
  section("http", [&] { text("listen", config.http.listen); });
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace biomero_reactor
