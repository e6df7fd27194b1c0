// Loading: the file, then the environment, then every value's checks and the rules
// between values.
#include "biomero_reactor/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "biomero_reactor/config_keys.hpp"
#include "biomero_reactor/conninfo.hpp"

namespace biomero_reactor {

namespace {

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// Where a value came from when not from the file, by key, for error messages.
using Origins = std::map<std::string, std::string>;

void apply_environment(const Getenv& getenv, Config& config, Origins& origins) {
  const auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto value = getenv(name);
    // Compose files expand an unset ${VAR} to "": treat that as unset, like BIOMERO's `or`.
    if (value && value->empty()) return std::nullopt;
    return value;
  };
  const auto set = [&](std::string_view name, std::string key, auto& field) {
    if (auto v = get(name)) {
      field = *v;
      origins[std::move(key)] = "environment " + std::string(name);
    }
  };
  set("SQLALCHEMY_URL", "database.events_url", config.database.events_url);
  set("INGEST_TRACKING_DB_URL", "database.importer_url", config.database.importer_url);
  set("IMPORTER_CONFIG_PATH", "importer.settings", config.importer.settings);
  set("BIOMERO_REACTOR_SPOOL", "handoff.spool", config.handoff.spool);
  auto& mappings = config.importer.group_mappings;
  if (auto v = get("OMERO_BIOMERO_CONFIG_FILE")) {
    if (mappings.empty())
      mappings.emplace_back(*v);
    else
      mappings.front() = *v;
  }
  if (auto v = get("OMERO_BIOMERO_GROUP_MAPPINGS_FILE")) mappings.emplace_back(*v);
}

std::string origin_of(const Origins& origins, const std::string& key) {
  const auto found = origins.find(key);
  return found == origins.end() ? "" : found->second;
}

void check_url(const std::string& url, const std::string& key, const Origins& origins) {
  (void)libpq_conninfo(url, key, origin_of(origins, key));
}

void check_consistency(Config& config, const Origins& origins) {
  check_url(config.database.events_url, "database.events_url", origins);
  if (config.database.importer_url.empty())
    config.database.importer_url = config.database.events_url;
  else
    check_url(config.database.importer_url, "database.importer_url", origins);
  for (auto& [group, destination] : config.destination.groups)
    if (destination.type.empty()) destination.type = config.destination.type;

  if (config.listener.backoff_initial > config.listener.backoff_max)
    throw ConfigError("listener.backoff_max", format_duration(config.listener.backoff_max) +
                                                  " is shorter than listener.backoff_initial (" +
                                                  format_duration(config.listener.backoff_initial) + ")");
  if (config.jobs.retry_initial > config.jobs.retry_max)
    throw ConfigError("jobs.retry_max", format_duration(config.jobs.retry_max) +
                                            " is shorter than jobs.retry_initial (" +
                                            format_duration(config.jobs.retry_initial) + ")");
  // A heartbeat that may take longer than the interval overlaps the next one.
  if (config.listener.heartbeat_timeout >= config.listener.heartbeat_interval)
    throw ConfigError("listener.heartbeat_timeout", format_duration(config.listener.heartbeat_timeout) +
                                                        " is not shorter than listener.heartbeat_interval (" +
                                                        format_duration(config.listener.heartbeat_interval) + ")");
  if (!config.omero.web.url.empty() && config.omero.web.username.empty())
    throw ConfigError("omero.web.username", "is needed with omero.web.url");
}

Config config_from_text(std::string_view yaml, const std::filesystem::path& source, const Getenv& getenv) {
  Config config;
  Origins origins;
  read_config_yaml(yaml, source, config);
  apply_environment(getenv, config, origins);
  check_config_values(config, origins);
  check_consistency(config, origins);
  return config;
}

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

Config config_from_yaml_text(std::string_view yaml, const Getenv& getenv) {
  return config_from_text(yaml, "<text>", getenv);
}

Config load_config(const std::filesystem::path& file, const Getenv& getenv) {
  if (file.empty()) throw ConfigError::for_file(file, "the path is empty (--config \"\"); give the configuration file");
  std::error_code ec;
  const auto type = std::filesystem::status(file, ec).type();
  if (type == std::filesystem::file_type::not_found) throw ConfigError::for_file(file, "does not exist");
  if (type == std::filesystem::file_type::directory) throw ConfigError::for_file(file, "is a directory, not a file");
  if (type != std::filesystem::file_type::regular && !ec)
    throw ConfigError::for_file(file, "is not a regular file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError::for_file(file, std::string("cannot be read: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError::for_file(file, "cannot be read");
  return config_from_text(text.str(), file, getenv);
}

std::string omero_password(const Config& config, const Getenv& getenv) {
  constexpr const char* key = "omero.web.password_file";
  if (auto env = getenv("BIOMERO_REACTOR_OMERO_PASSWORD"); env && !env->empty()) return *env;
  const auto& file = config.omero.web.password_file;
  if (file.empty()) throw ConfigError(key, "is not set, nor is the environment variable BIOMERO_REACTOR_OMERO_PASSWORD");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(key, in_quotes(file.string()) + " cannot be read: " + std::strerror(errno));
  std::string line;
  std::getline(in, line);
  if (in.bad()) throw ConfigError(key, in_quotes(file.string()) + " cannot be read");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw ConfigError(key, in_quotes(file.string()) + " has no password on its first line");
  return line;
}

bool annotations_enabled(const Config& config) {
  return config.omero.annotations.value_or(!config.omero.web.url.empty());
}

}  // namespace biomero_reactor
