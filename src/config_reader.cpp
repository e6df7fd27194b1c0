// The YAML side of loading: which keys a file may hold, and each value's type. Whether a
// value is allowed is for the checks (config_checks.cpp), which also see the environment.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "biomero_reactor/config_keys.hpp"

namespace biomero_reactor {

namespace {

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

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

std::string dotted(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

std::string key_text(const YAML::Node& key) {
  return key.IsScalar() ? key.Scalar() : "?";
}

// The value at `key` of a mapping; undefined when absent or null, which keeps the default.
YAML::Node child(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& entry : map)
    if (entry.first.IsScalar() && entry.first.Scalar() == key)
      return entry.second.IsNull() ? YAML::Node(YAML::NodeType::Undefined) : entry.second;
  return YAML::Node(YAML::NodeType::Undefined);
}

// Refuses a repeated key (yaml-cpp keeps both copies; only the first would count) and
// any key not in `valid`, naming it with its full dotted path.
void check_keys(const YAML::Node& map, std::string_view path, const std::vector<std::string>& valid) {
  std::vector<std::string> seen;
  for (const auto& entry : map) {
    const auto name = key_text(entry.first);
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      throw ConfigError(dotted(path, name), "appears twice in the same section");
    seen.push_back(name);
    if (std::find(valid.begin(), valid.end(), name) != valid.end()) continue;
    std::string list;
    for (const auto& k : valid) list += (list.empty() ? "" : ", ") + k;
    throw ConfigError(dotted(path, name), "unknown key (valid here: " + list + ")");
  }
}

// Checks the sections of `node` (at `path`) against the keys the visitor lists.
void check_section(const YAML::Node& node, const std::string& path, const std::vector<std::string>& keys) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) throw ConfigError(path, "expected a mapping of keys, got " + std::string(kind_of(node)));
  const auto prefix = path.empty() ? std::string() : path + ".";
  std::vector<std::string> valid;
  for (const auto& key : keys) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const auto name = key.substr(prefix.size(), key.find('.', prefix.size()) - prefix.size());
    if (std::find(valid.begin(), valid.end(), name) == valid.end()) valid.push_back(name);
  }
  check_keys(node, path, valid);
  for (const auto& entry : node) {
    const auto name = dotted(path, key_text(entry.first));
    if (std::find(keys.begin(), keys.end(), name) == keys.end()) check_section(entry.second, name, keys);
  }
}

std::int64_t parse_integer(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    throw std::invalid_argument(in_quotes(text) + " is not a whole number");
  return value;
}

std::string scalar(const YAML::Node& node, std::string_view what = "a single value") {
  if (!node.IsScalar()) throw std::invalid_argument("expected " + std::string(what) + ", got " + std::string(kind_of(node)));
  return node.Scalar();
}

bool parse_bool(const std::string& text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "true") return true;
  if (lower == "false") return false;
  throw std::invalid_argument(in_quotes(text) + " is not true or false");
}

class Reader {
 public:
  explicit Reader(YAML::Node root) : root_(std::move(root)) {}

  template <class T, class... Rules>
  void field(std::string_view section, std::string_view key, T& value, const Rules&...) {
    // reset(), not =: assigning a YAML::Node writes into the node it refers to.
    YAML::Node node;
    node.reset(root_);
    for (std::size_t at = 0; at <= section.size();) {
      const auto end = std::min(section.find('.', at), section.size());
      node.reset(child(node, section.substr(at, end - at)));
      at = end + 1;
    }
    node.reset(child(node, key));
    if (!node.IsDefined()) return;
    const auto name = dotted(section, key);
    try {
      read(node, name, value, (std::is_same_v<Rules, SizeUnits> || ...));
    } catch (const std::invalid_argument& e) {
      throw ConfigError(name, e.what());
    }
  }

 private:
  static void read(const YAML::Node& node, const std::string&, std::string& out, bool) { out = scalar(node); }
  static void read(const YAML::Node& node, const std::string&, std::filesystem::path& out, bool) {
    out = scalar(node);
  }
  static void read(const YAML::Node& node, const std::string&, Duration& out, bool) {
    out = parse_duration(scalar(node));
  }
  static void read(const YAML::Node& node, const std::string&, bool& out, bool) { out = parse_bool(scalar(node)); }
  static void read(const YAML::Node& node, const std::string&, std::optional<bool>& out, bool) {
    const auto text = scalar(node);
    out = text == "auto" ? std::nullopt : std::optional<bool>(parse_bool(text));
  }
  static void read(const YAML::Node& node, const std::string&, int& out, bool) {
    const auto text = scalar(node);
    const auto value = parse_integer(text);
    if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
      throw std::invalid_argument(text + " is out of range");
    out = static_cast<int>(value);
  }
  static void read(const YAML::Node& node, const std::string&, std::uint64_t& out, bool size_units) {
    const auto text = scalar(node);
    if (size_units) {
      out = parse_size(text);
      return;
    }
    const auto value = parse_integer(text);
    if (value < 0) throw std::invalid_argument(text + " is negative");
    out = static_cast<std::uint64_t>(value);
  }
  static void read(const YAML::Node& node, const std::string&, double& out, bool) {
    const auto text = scalar(node);
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || !std::isfinite(value))
      throw std::invalid_argument(in_quotes(text) + " is not a number");
    out = value;
  }
  static void read(const YAML::Node& node, const std::string&, LabelsMode& out, bool) {
    const auto text = scalar(node);
    for (auto mode : {LabelsMode::labels_only_when_present, LabelsMode::images_and_labels, LabelsMode::images_only}) {
      if (text == to_string(mode)) {
        out = mode;
        return;
      }
    }
    OneOf{{"labels-only-when-present", "images-and-labels", "images-only"}}(text);
  }
  template <class Item>
  static void read(const YAML::Node& node, const std::string& name, std::vector<Item>& out, bool) {
    if (!node.IsSequence()) throw std::invalid_argument("expected a list, got " + std::string(kind_of(node)));
    out.clear();
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar() || node[i].Scalar().empty())
        throw ConfigError(name + "[" + std::to_string(i) + "]",
                          "expected a non-empty single value, got " + std::string(kind_of(node[i])));
      out.emplace_back(node[i].Scalar());
    }
  }
  static void read(const YAML::Node& node, const std::string& name, std::map<std::int64_t, std::string>& out, bool) {
    if (!node.IsMap()) throw std::invalid_argument("expected a mapping of OMERO id to name, got " + std::string(kind_of(node)));
    out.clear();
    for (const auto& entry : node) {
      const auto id_text = key_text(entry.first);
      const auto entry_key = name + "." + id_text;
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
  // A group's type is left empty when not given: the loader fills in destination.type.
  static void read(const YAML::Node& node, const std::string& name, std::map<std::string, Destination>& out, bool) {
    if (!node.IsMap())
      throw std::invalid_argument("expected a mapping of group name to {type, id}, got " + std::string(kind_of(node)));
    out.clear();
    for (const auto& entry : node) {
      const auto path = name + "." + key_text(entry.first);
      Destination destination{"", ""};
      check_section(entry.second, path, {path + ".type", path + ".id"});
      const auto entry_field = [&](std::string_view key, auto&& check) {
        const auto value = child(entry.second, key);
        if (!value.IsDefined()) return;
        try {
          std::string text = scalar(value);
          check(text);
          (key == "type" ? destination.type : destination.id) = text;
        } catch (const std::invalid_argument& e) {
          throw ConfigError(dotted(path, key), e.what());
        }
      };
      entry_field("type", OneOf{{"Dataset", "Screen"}});
      entry_field("id", OmeroId{});
      out[key_text(entry.first)] = destination;
    }
  }

  YAML::Node root_;
};

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

void read_config_yaml(std::string_view yaml, const std::filesystem::path& source, Config& config) {
  const auto root = parse_yaml(yaml, source);
  check_section(root, "", config_keys());
  Reader reader(root);
  visit_config(config, reader);
}

}  // namespace biomero_reactor
