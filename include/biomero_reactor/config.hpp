#pragma once
// The reactor's configuration: one YAML file (config/reactor.yml documents every key)
// plus the environment variables BIOMERO deployments already set. Loading is strict:
// an unknown key, a wrong type or an impossible value is a ConfigError that names the
// key, so `biomero-reactor check` tells the operator exactly which line to fix.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace biomero_reactor {

using Duration = std::chrono::milliseconds;

struct ConfigError : std::runtime_error {
  // what(): `config key "<key>": <problem>`, or with an origin such as
  // `environment SQLALCHEMY_URL`: `config key "<key>" (from <origin>): <problem>`.
  ConfigError(std::string key, std::string_view problem, std::string_view origin = {});
  // A problem with a whole file (missing, not YAML); `key` stays empty.
  [[nodiscard]] static ConfigError for_file(const std::filesystem::path& file, std::string_view problem);
  std::string key;

 private:
  struct Verbatim {};
  ConfigError(Verbatim, std::string key, const std::string& what);
};

// `250ms`, `30s`, `5m`, `1h`, `2d` and combinations from the largest unit down (`1h30m`).
// Throws std::invalid_argument (bare numbers, negatives, junk); the loader adds the key.
[[nodiscard]] Duration parse_duration(std::string_view text);
// The shortest form parse_duration reads back: 5400000ms -> "1h30m".
[[nodiscard]] std::string format_duration(Duration d);
// Bytes: a plain integer, or an integer with B, kB/MB/GB/TB (powers of 1000) or
// KiB/MiB/GiB/TiB (powers of 1024), unit case-insensitive. Throws std::invalid_argument.
[[nodiscard]] std::uint64_t parse_size(std::string_view text);

// A libpq connection string from what BIOMERO deployments set: SQLAlchemy URLs
// (`postgresql+psycopg2://u:p@host:5432/db`) lose their `+driver`; libpq URIs and keyword
// strings (`host=db dbname=biomero`) pass through; "" stays "" (libpq's PG* defaults).
// Anything else (mysql://, sqlite://, a malformed string) is a ConfigError naming `key`.
[[nodiscard]] std::string libpq_conninfo(std::string_view url, std::string_view key = "database.events_url");
// The same string with its password (URI userinfo, `password=` in a keyword string or
// a URI query) replaced by ***. Fit for logs and error messages.
[[nodiscard]] std::string redact_conninfo(std::string_view conninfo);

// Replaces {job_id} and {workflow_id}. Any other {...} or a lone brace throws
// std::invalid_argument; load_config checks every template so this never throws later.
[[nodiscard]] std::string expand_template(std::string_view tmpl, std::string_view job_id, std::string_view workflow_id);

enum class LabelsMode {
  labels_only_when_present,  // "labels-only-when-present"
  images_and_labels,         // "images-and-labels"
  images_only,               // "images-only"
};
[[nodiscard]] std::string_view to_string(LabelsMode mode);

struct Destination {
  std::string type = "Dataset";  // "Dataset" or "Screen", the importer's destination_type
  std::string id;                // decimal OMERO id; empty = none
  bool operator==(const Destination&) const = default;
};

struct Config {
  struct Database {
    std::string events_url;    // as given (SQLAlchemy URL, libpq URI or keywords)
    std::string importer_url;  // after loading: events_url unless set (non-empty)
    int pool_size = 4;
    bool operator==(const Database&) const = default;
  } database;

  struct Importer {
    std::filesystem::path settings = "/opt/omero/server/config-importer/settings.yml";
    // Read in order, later files winning per group id (BIOMERO's legacy file first).
    std::vector<std::filesystem::path> group_mappings = {"/opt/omero/server/biomero-config.json",
                                                         "/opt/omero/server/group-mappings.json"};
    std::string base_dir_override;  // empty = base_dir from the importer's settings.yml
    bool operator==(const Importer&) const = default;
  } importer;

  struct Results {
    std::string zip = "/tmp/{job_id}_out.zip";    // template
    std::string log = "/tmp/omero-{job_id}.log";  // template
    std::string dir;                              // template; when set, zipped instead of `zip`
    Duration wait = std::chrono::minutes(2);      // for the sources to appear (NFS lag)
    bool operator==(const Results&) const = default;
  } results;

  struct Import {
    Duration timeout = std::chrono::hours(1);
    Duration poll_interval = std::chrono::seconds(30);  // backstop while LISTEN is healthy
    Duration degraded_poll_interval = std::chrono::seconds(2);
    Duration pending_alert = std::chrono::minutes(10);
    int max_attempts = 3;
    std::vector<std::string> skip_when_imported_by = {"SLURM_Import_Results.py"};
    LabelsMode labels = LabelsMode::labels_only_when_present;
    bool operator==(const Import&) const = default;
  } import;

  struct Destinations {
    std::string type = "Dataset";
    std::string id;
    std::map<std::string, Destination> groups;  // by OMERO group name
    bool operator==(const Destinations&) const = default;
  } destination;

  struct Names {
    std::map<std::int64_t, std::string> users;   // OMERO user id -> name
    std::map<std::int64_t, std::string> groups;  // OMERO group id -> name
    bool operator==(const Names&) const = default;
  } names;

  struct Limits {
    std::uint64_t max_total_bytes = std::uint64_t{10} << 30;
    std::uint64_t max_entries = 100000;
    double max_ratio = 200.0;
    int extract_threads = 4;
    bool operator==(const Limits&) const = default;
  } limits;

  struct Intake {
    Duration poll_interval = std::chrono::seconds(30);  // backstop read of the event store
    int batch = 500;
    bool operator==(const Intake&) const = default;
  } intake;

  struct Listener {
    Duration heartbeat_interval = std::chrono::seconds(15);
    Duration heartbeat_timeout = std::chrono::seconds(5);
    Duration backoff_initial = std::chrono::milliseconds(500);
    Duration backoff_max = std::chrono::seconds(30);
    bool operator==(const Listener&) const = default;
  } listener;

  struct Jobs {
    Duration lease = std::chrono::seconds(60);
    int max_attempts = 5;
    Duration shutdown_grace = std::chrono::seconds(20);
    bool operator==(const Jobs&) const = default;
  } jobs;

  struct Log {
    std::string level = "info";   // trace|debug|info|warning|error
    std::string format = "auto";  // auto|json|text
    bool operator==(const Log&) const = default;
  } log;

  struct Http {
    std::string listen;  // "host:port"; empty = off
    bool operator==(const Http&) const = default;
  } http;

  bool operator==(const Config&) const = default;
};

// Looks up an environment variable; tests pass a map instead of ::getenv.
using Getenv = std::function<std::optional<std::string>(std::string_view)>;
[[nodiscard]] Getenv process_environment();

[[nodiscard]] Config default_config();
// Reads `file` (missing is an error), applies the environment overrides BIOMERO deployments already set
// (SQLALCHEMY_URL, INGEST_TRACKING_DB_URL, IMPORTER_CONFIG_PATH, OMERO_BIOMERO_CONFIG_FILE,
// OMERO_BIOMERO_GROUP_MAPPINGS_FILE; an empty variable counts as unset) and validates.
[[nodiscard]] Config load_config(const std::filesystem::path& file, const Getenv& getenv);
[[nodiscard]] Config config_from_yaml_text(std::string_view yaml, const Getenv& getenv);

// The effective configuration as YAML that load_config reads back, passwords redacted.
[[nodiscard]] std::string describe(const Config& config);

}  // namespace biomero_reactor
