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

#include "biomero_reactor/units.hpp"

namespace biomero_reactor {

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
    int importer_pool_size = 2;  // when importer_url is another database
    Duration timeout = std::chrono::seconds(30);  // pool acquire and query I/O
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
    Duration settle = std::chrono::seconds(2);    // unchanged this long = complete; also the poll step
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
    std::uint64_t max_log_bytes = std::uint64_t{64} << 20;
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
    int slots = 16;   // job steps running at once
    int workers = 2;  // threads for blocking work (archives, files)
    Duration retry_initial = std::chrono::seconds(1);  // a failed step's backoff: first delay,
    Duration retry_max = std::chrono::seconds(60);     // doubling up to this
    // Transient storage faults (ENOSPC, EROFS, EACCES, EMFILE) are retried this long.
    Duration transient_retry_total = std::chrono::minutes(30);
    // One task on the worker pool (a job's file step) taking longer fails that step
    // (transient); its thread, stuck in a blocking read, is counted and reported.
    Duration file_step_timeout = std::chrono::minutes(30);
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

  struct Handoff {
    std::filesystem::path spool = "/data/.biomero-reactor/spool";
    Duration scan_interval = std::chrono::seconds(30);
    Duration result_keep = std::chrono::seconds(30);  // result.json kept this long before cleanup
    bool operator==(const Handoff&) const = default;
  } handoff;

  struct Omero {
    struct Web {
      std::string url;  // http(s)://host...; empty = no OMERO connection
      int server_id = 1;
      std::string username;
      std::filesystem::path password_file;  // see omero_password()
      std::filesystem::path ca_file;        // empty = the system's CAs
      bool tls_verify = true;
      Duration timeout = std::chrono::seconds(30);
      bool operator==(const Web&) const = default;
    } web;
    std::optional<bool> annotations;  // unset = on when web.url is set; see annotations_enabled()
    bool attach_log = false;
    Duration names_ttl = std::chrono::minutes(10);
    Duration annotation_retry = std::chrono::hours(1);  // background retries of a failed annotation
    bool operator==(const Omero&) const = default;
  } omero;

  bool operator==(const Config&) const = default;
};

// Looks up an environment variable; tests pass a map instead of ::getenv.
using Getenv = std::function<std::optional<std::string>(std::string_view)>;
[[nodiscard]] Getenv process_environment();

[[nodiscard]] Config default_config();
// Reads `file` (missing is an error), applies the environment overrides BIOMERO
// deployments set (SQLALCHEMY_URL, INGEST_TRACKING_DB_URL, IMPORTER_CONFIG_PATH,
// OMERO_BIOMERO_CONFIG_FILE, OMERO_BIOMERO_GROUP_MAPPINGS_FILE) and the reactor's own
// (BIOMERO_REACTOR_SPOOL); an empty variable counts as unset. Then validates every value
// and the rules between values.
[[nodiscard]] Config load_config(const std::filesystem::path& file, const Getenv& getenv);
[[nodiscard]] Config config_from_yaml_text(std::string_view yaml, const Getenv& getenv);

// The effective configuration as YAML that load_config reads back, passwords redacted.
[[nodiscard]] std::string describe(const Config& config);

// The OMERO password: the environment variable BIOMERO_REACTOR_OMERO_PASSWORD when set,
// else the first line of omero.web.password_file. A ConfigError naming that key when
// neither gives one; its message never holds the password.
[[nodiscard]] std::string omero_password(const Config& config, const Getenv& getenv);
// Whether to annotate imported images: omero.annotations, by default on with an OMERO connection.
[[nodiscard]] bool annotations_enabled(const Config& config);

}  // namespace biomero_reactor
