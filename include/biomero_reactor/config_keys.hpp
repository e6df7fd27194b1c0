#pragma once
// Every configuration key, listed once: visit_config below. The YAML reader, the value
// checks and describe() are visitors over this list, so a new key means a field in
// Config, one line here and its documented entry in config/reactor.yml.
//
// A visitor has `template <class T, class... Rules> void field(std::string_view section,
// std::string_view key, T& value, const Rules&... rules)`; `section` is dotted for nested
// sections ("omero.web"). Rules are markers (how a value is spelled) or checks (callables
// that throw std::invalid_argument for a value the key does not allow, or normalise it).
#include <concepts>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "biomero_reactor/config.hpp"

namespace biomero_reactor {

// Markers.
struct Redacted {};   // a connection string: describe() shows it without its password
struct SizeUnits {};  // a byte count spelled with parse_size / format_size
template <class Rule>
inline constexpr bool is_marker = std::is_same_v<Rule, Redacted> || std::is_same_v<Rule, SizeUnits>;

// Checks.
template <class T>
struct AtLeast {
  T least;
  void operator()(const T& value) const;
};
template <class T>
struct AtMost {
  T most;
  void operator()(const T& value) const;
};
struct Positive {  // a duration longer than 0s
  void operator()(const Duration& value) const;
};
struct OneOf {
  std::vector<std::string_view> allowed;
  void operator()(const std::string& value) const;
};
struct AbsolutePath {
  bool may_be_empty = false;
  void operator()(const std::string& value) const;
  void operator()(const std::filesystem::path& value) const { (*this)(value.string()); }
};
struct FileIfPresent {  // a file the daemon reads: absent is allowed, a directory or a FIFO is not
  void operator()(const std::filesystem::path& value) const;
  void operator()(const std::vector<std::filesystem::path>& values) const;
};
struct PathTemplate {  // see expand_template
  bool may_be_empty = false;
  bool needs_job_id = false;  // one file per job: without {job_id} every job would share it
  void operator()(const std::string& value) const;
};
struct OmeroId {  // empty, or a positive whole number made canonical ("0042" -> "42")
  void operator()(std::string& value) const;
};
struct HostPort {  // empty, or host:port
  void operator()(const std::string& value) const;
};
struct HttpUrl {  // empty, or http(s)://host... without credentials
  void operator()(const std::string& value) const;
};

template <class C, class V>
  requires std::same_as<std::remove_const_t<C>, Config>
void visit_config(C& c, V& v) {
  using std::chrono::seconds;
  v.field("database", "events_url", c.database.events_url, Redacted{});
  v.field("database", "importer_url", c.database.importer_url, Redacted{});
  v.field("database", "pool_size", c.database.pool_size, AtLeast<int>{1});
  v.field("database", "importer_pool_size", c.database.importer_pool_size, AtLeast<int>{1});
  v.field("database", "timeout", c.database.timeout, Positive{});

  v.field("importer", "settings", c.importer.settings, AbsolutePath{}, FileIfPresent{});
  v.field("importer", "group_mappings", c.importer.group_mappings, FileIfPresent{});
  v.field("importer", "base_dir_override", c.importer.base_dir_override, AbsolutePath{.may_be_empty = true});

  v.field("results", "zip", c.results.zip, PathTemplate{.needs_job_id = true});
  v.field("results", "log", c.results.log, PathTemplate{});
  v.field("results", "dir", c.results.dir, PathTemplate{.may_be_empty = true, .needs_job_id = true});
  v.field("results", "wait", c.results.wait);
  v.field("results", "settle", c.results.settle);

  v.field("import", "timeout", c.import.timeout, Positive{});
  v.field("import", "poll_interval", c.import.poll_interval, Positive{});
  v.field("import", "degraded_poll_interval", c.import.degraded_poll_interval, Positive{});
  v.field("import", "pending_alert", c.import.pending_alert, Positive{});
  v.field("import", "max_attempts", c.import.max_attempts, AtLeast<int>{1});
  v.field("import", "skip_when_imported_by", c.import.skip_when_imported_by);
  v.field("import", "labels", c.import.labels);

  v.field("destination", "type", c.destination.type, OneOf{{"Dataset", "Screen"}});
  v.field("destination", "id", c.destination.id, OmeroId{});
  v.field("destination", "groups", c.destination.groups);

  v.field("names", "users", c.names.users);
  v.field("names", "groups", c.names.groups);

  v.field("limits", "max_total_bytes", c.limits.max_total_bytes, SizeUnits{}, AtLeast<std::uint64_t>{1});
  v.field("limits", "max_entries", c.limits.max_entries, AtLeast<std::uint64_t>{1});
  v.field("limits", "max_ratio", c.limits.max_ratio, AtLeast<double>{1.0});
  v.field("limits", "extract_threads", c.limits.extract_threads, AtLeast<int>{1}, AtMost<int>{64});
  v.field("limits", "max_log_bytes", c.limits.max_log_bytes, SizeUnits{}, AtLeast<std::uint64_t>{1});

  v.field("intake", "poll_interval", c.intake.poll_interval, Positive{});
  v.field("intake", "batch", c.intake.batch, AtLeast<int>{1});

  v.field("listener", "heartbeat_interval", c.listener.heartbeat_interval, Positive{});
  v.field("listener", "heartbeat_timeout", c.listener.heartbeat_timeout, Positive{});
  v.field("listener", "backoff_initial", c.listener.backoff_initial, Positive{});
  v.field("listener", "backoff_max", c.listener.backoff_max);

  // Shorter leases would expire between two renewals on a busy host.
  v.field("jobs", "lease", c.jobs.lease, AtLeast<Duration>{seconds(5)});
  v.field("jobs", "max_attempts", c.jobs.max_attempts, AtLeast<int>{1});
  v.field("jobs", "shutdown_grace", c.jobs.shutdown_grace);
  v.field("jobs", "slots", c.jobs.slots, AtLeast<int>{1});
  v.field("jobs", "workers", c.jobs.workers, AtLeast<int>{1}, AtMost<int>{64});
  v.field("jobs", "retry_initial", c.jobs.retry_initial, Positive{});
  v.field("jobs", "retry_max", c.jobs.retry_max);
  v.field("jobs", "transient_retry_total", c.jobs.transient_retry_total);
  v.field("jobs", "file_step_timeout", c.jobs.file_step_timeout, Positive{});

  v.field("log", "level", c.log.level, OneOf{{"trace", "debug", "info", "warning", "error"}});
  v.field("log", "format", c.log.format, OneOf{{"auto", "json", "text"}});

  v.field("http", "listen", c.http.listen, HostPort{});

  v.field("handoff", "spool", c.handoff.spool, AbsolutePath{});
  v.field("handoff", "scan_interval", c.handoff.scan_interval, Positive{});
  // The handoff script in wait mode polls result.json every 10 s.
  v.field("handoff", "result_keep", c.handoff.result_keep, AtLeast<Duration>{seconds(10)});

  v.field("omero.web", "url", c.omero.web.url, HttpUrl{});
  v.field("omero.web", "server_id", c.omero.web.server_id, AtLeast<int>{1});
  v.field("omero.web", "username", c.omero.web.username);
  v.field("omero.web", "password_file", c.omero.web.password_file, AbsolutePath{.may_be_empty = true});
  v.field("omero.web", "ca_file", c.omero.web.ca_file, AbsolutePath{.may_be_empty = true});
  v.field("omero.web", "tls_verify", c.omero.web.tls_verify);
  v.field("omero.web", "timeout", c.omero.web.timeout, Positive{});
  v.field("omero", "annotations", c.omero.annotations);
  v.field("omero", "attach_log", c.omero.attach_log);
  v.field("omero", "names_ttl", c.omero.names_ttl);
  v.field("omero", "annotation_retry", c.omero.annotation_retry);
}

// Every key as "section.key", in visit order.
[[nodiscard]] std::vector<std::string> config_keys();

// The loader's parts. read_config_yaml sets the keys `yaml` holds (a ConfigError naming
// `source` for text that is not YAML, naming the key for an unknown key or a wrong type);
// check_config_values applies every key's checks, naming `origins[key]` (e.g.
// "environment SQLALCHEMY_URL") for a value that came from elsewhere than the file.
void read_config_yaml(std::string_view yaml, const std::filesystem::path& source, Config& config);
void check_config_values(Config& config, const std::map<std::string, std::string>& origins);

}  // namespace biomero_reactor
