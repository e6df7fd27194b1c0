#include "biomero_reactor/config.hpp"
#include "biomero_reactor/conninfo.hpp"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

using namespace biomero_reactor;
using namespace std::chrono_literals;

namespace {

Getenv environment(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto found = vars.find(std::string(name));
    if (found == vars.end()) return std::nullopt;
    return found->second;
  };
}

const Getenv no_environment = environment({});

Config from_yaml(std::string_view yaml) {
  return config_from_yaml_text(yaml, no_environment);
}

// The ConfigError a YAML text raises; fails the test when it loads.
ConfigError error_of(std::string_view yaml, const Getenv& env = no_environment) {
  try {
    (void)config_from_yaml_text(yaml, env);
  } catch (const ConfigError& e) {
    return e;
  }
  BOOST_FAIL("expected a ConfigError for:\n" << yaml);
  throw std::logic_error("unreachable");
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config_test)

BOOST_AUTO_TEST_CASE(durations_read_every_unit_and_combinations_largest_first) {
  BOOST_TEST(parse_duration("250ms").count() == 250);
  BOOST_TEST(parse_duration("30s").count() == Duration(30s).count());
  BOOST_TEST(parse_duration("5m").count() == Duration(5min).count());
  BOOST_TEST(parse_duration("1h").count() == Duration(1h).count());
  BOOST_TEST(parse_duration("2d").count() == Duration(48h).count());
  BOOST_TEST(parse_duration("1h30m").count() == Duration(90min).count());
  BOOST_TEST(parse_duration("1d2h3m4s5ms").count() == Duration(26h + 3min + 4s + 5ms).count());
  BOOST_TEST(parse_duration("90s").count() == Duration(90s).count());
  BOOST_TEST(parse_duration("0s").count() == 0);
}

BOOST_AUTO_TEST_CASE(a_bare_number_a_negative_or_junk_is_not_a_duration) {
  for (const char* text : {"30", "-5s", "5 minutes", "", "s", "1.5h", "30S", "5x", " 30s", "30s ", "+5s", "1h1h",
                           "30m1h", "5ms1s", "99999999999999999999d", "9999999999999999d"}) {
    BOOST_TEST_CONTEXT(text) {
      BOOST_CHECK_EXCEPTION((void)parse_duration(text), std::invalid_argument, [&](const std::invalid_argument& e) {
        return contains(e.what(), "is not a duration") && contains(e.what(), "use e.g. 30s");
      });
    }
  }
  BOOST_CHECK_EXCEPTION((void)parse_duration("30"), std::invalid_argument,
                        [](const std::invalid_argument& e) { return contains(e.what(), "no unit"); });
}

BOOST_AUTO_TEST_CASE(formatted_durations_read_back_as_the_same_duration) {
  BOOST_TEST(format_duration(Duration(90min)) == "1h30m");
  BOOST_TEST(format_duration(Duration(250ms)) == "250ms");
  BOOST_TEST(format_duration(Duration(0)) == "0s");
  for (auto d : {Duration(1), Duration(999), Duration(61s), Duration(26h + 3min + 4s + 5ms), Duration(48h)})
    BOOST_TEST(parse_duration(format_duration(d)).count() == d.count());
}

BOOST_AUTO_TEST_CASE(sizes_read_bytes_and_decimal_and_binary_units) {
  BOOST_TEST(parse_size("10GiB") == std::uint64_t{10} << 30);
  BOOST_TEST(parse_size("500MB") == 500'000'000u);
  BOOST_TEST(parse_size("1024") == 1024u);
  BOOST_TEST(parse_size("7B") == 7u);
  BOOST_TEST(parse_size("4 KiB") == 4096u);
  BOOST_TEST(parse_size("3kB") == 3000u);
  BOOST_TEST(parse_size("2tb") == 2'000'000'000'000u);
  BOOST_TEST(parse_size("1TiB") == std::uint64_t{1} << 40);
  BOOST_TEST(parse_size("2MiB") == std::uint64_t{2} << 20);
  BOOST_TEST(parse_size("1GB") == 1'000'000'000u);
}

BOOST_AUTO_TEST_CASE(a_negative_fractional_or_unknown_size_is_refused) {
  for (const char* text : {"-1", "1.5GiB", "GiB", "", "10G", "10 GB s", "ten", "20000000TiB", "99999999999999999999"}) {
    BOOST_TEST_CONTEXT(text) {
      BOOST_CHECK_EXCEPTION((void)parse_size(text), std::invalid_argument,
                            [](const std::invalid_argument& e) { return contains(e.what(), "is not a size"); });
    }
  }
}

BOOST_AUTO_TEST_CASE(sqlalchemy_urls_become_libpq_uris_without_their_driver) {
  BOOST_TEST(libpq_conninfo("postgresql+psycopg2://u:p@host:5432/db") == "postgresql://u:p@host:5432/db");
  BOOST_TEST(libpq_conninfo("postgresql+psycopg://u:p@host/db") == "postgresql://u:p@host/db");
  BOOST_TEST(libpq_conninfo("postgresql://u@host/db?sslmode=require") == "postgresql://u@host/db?sslmode=require");
  BOOST_TEST(libpq_conninfo("postgres://u@host/db") == "postgresql://u@host/db");
  BOOST_TEST(libpq_conninfo("postgresql+psycopg2://u:p%40ss%2Fw@db-host:5432/biomero") ==
             "postgresql://u:p%40ss%2Fw@db-host:5432/biomero");
  BOOST_TEST(libpq_conninfo("host=db dbname=biomero user=omero") == "host=db dbname=biomero user=omero");
  BOOST_TEST(libpq_conninfo("") == "");
}

BOOST_AUTO_TEST_CASE(a_url_of_another_database_is_refused_naming_the_key_without_its_password) {
  for (const char* url : {"mysql://root:hunter2@db/biomero", "sqlite:///tmp/biomero.db", "hunter2",
                          "postgresql+psycopg2://u:hunter2@host:notaport/db", "host=db pasword=hunter2",
                          "host=db port=x password=hunter2"}) {
    BOOST_TEST_CONTEXT(url) {
      BOOST_CHECK_EXCEPTION((void)libpq_conninfo(url, "database.importer_url"), ConfigError, [](const ConfigError& e) {
        return e.key == "database.importer_url" && contains(e.what(), "config key \"database.importer_url\"") &&
               !contains(e.what(), "hunter2");
      });
    }
  }
}

BOOST_AUTO_TEST_CASE(redaction_hides_passwords_in_uris_and_keyword_strings) {
  BOOST_TEST(redact_conninfo("postgresql+psycopg2://omero:s3cret@db:5432/biomero") ==
             "postgresql+psycopg2://omero:***@db:5432/biomero");
  BOOST_TEST(redact_conninfo("postgresql://omero:p@ss/w@db/biomero") == "postgresql://omero:***@db/biomero");
  BOOST_TEST(redact_conninfo("postgresql://omero@db/biomero") == "postgresql://omero@db/biomero");
  BOOST_TEST(redact_conninfo("postgresql://db/biomero?user=omero&password=s3cret&sslmode=require") ==
             "postgresql://db/biomero?user=omero&password=***&sslmode=require");
  BOOST_TEST(redact_conninfo("host=db password=s3cret dbname=biomero") == "host=db password=*** dbname=biomero");
  BOOST_TEST(redact_conninfo("host=db password = 'it\\'s a secret' dbname=x") == "host=db password = *** dbname=x");
  BOOST_TEST(redact_conninfo("host=db dbname=biomero") == "host=db dbname=biomero");
  BOOST_TEST(redact_conninfo("password='unterminated") == "***");
}

BOOST_AUTO_TEST_CASE(templates_expand_job_and_workflow_ids_and_refuse_other_placeholders) {
  BOOST_TEST(expand_template("/tmp/{job_id}_out.zip", "4242", "wf") == "/tmp/4242_out.zip");
  BOOST_TEST(expand_template("/r/{workflow_id}/{job_id}/{job_id}.log", "7", "abc") == "/r/abc/7/7.log");
  BOOST_TEST(expand_template("/plain", "7", "abc") == "/plain");
  BOOST_CHECK_THROW((void)expand_template("/tmp/{jobid}.zip", "7", "w"), std::invalid_argument);
  BOOST_CHECK_THROW((void)expand_template("/tmp/{job_id.zip", "7", "w"), std::invalid_argument);
  BOOST_CHECK_THROW((void)expand_template("/tmp/job_id}.zip", "7", "w"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_example_config_loads_cleanly_and_documents_the_defaults) {
  const auto example = std::filesystem::path(BIOMERO_TEST_FIXTURES) / "../../config/reactor.yml";
  const auto config = load_config(example, no_environment);
  BOOST_TEST((config == default_config()));
  BOOST_TEST(config.import.timeout.count() == Duration(1h).count());
  BOOST_TEST(config.limits.max_total_bytes == std::uint64_t{10} << 30);
  BOOST_TEST(config.importer.group_mappings.front() == "/opt/omero/server/biomero-config.json");
}

BOOST_AUTO_TEST_CASE(an_empty_file_means_all_defaults_and_importer_url_follows_events_url) {
  BOOST_TEST((from_yaml("") == default_config()));
  const auto config = from_yaml("database:\n  events_url: postgresql+psycopg2://u:p@db/biomero\n");
  BOOST_TEST(config.database.importer_url == "postgresql+psycopg2://u:p@db/biomero");
  BOOST_TEST(from_yaml("database:\n  events_url: host=ev\n  importer_url: \"\"\n").database.importer_url == "host=ev");
}

BOOST_AUTO_TEST_CASE(every_key_is_read_into_its_field) {
  const auto config = from_yaml(R"(
database: {events_url: "host=ev", importer_url: "host=imp", pool_size: 2}
importer:
  settings: /etc/importer/settings.yml
  group_mappings: [/a.json, /b.json]
  base_dir_override: /mnt/data
results: {zip: "/r/{workflow_id}/{job_id}.zip", log: "/r/{job_id}.log", dir: "/r/{job_id}/out", wait: 10s}
import:
  timeout: 2h
  poll_interval: 1m
  degraded_poll_interval: 500ms
  pending_alert: 15m
  max_attempts: 1
  skip_when_imported_by: [A.py, B.py]
  labels: images-only
destination:
  type: Screen
  id: "0042"
  groups:
    team-a: {id: 1201}
    lab b: {type: Dataset, id: 5}
names:
  users: {52: alice, "53": bob}
  groups: {3: team-a}
limits: {max_total_bytes: 500MB, max_entries: 10, max_ratio: 50.5, extract_threads: 2}
intake: {poll_interval: 1m, batch: 20}
listener: {heartbeat_interval: 20s, heartbeat_timeout: 2s, backoff_initial: 1s, backoff_max: 1m}
jobs: {lease: 2m, max_attempts: 9, shutdown_grace: 0s, file_step_timeout: 90s}
log: {level: debug, format: json}
http: {listen: "127.0.0.1:9464"}
)");
  BOOST_TEST(config.database.events_url == "host=ev");
  BOOST_TEST(config.database.importer_url == "host=imp");
  BOOST_TEST(config.database.pool_size == 2);
  BOOST_TEST(config.importer.settings == "/etc/importer/settings.yml");
  BOOST_TEST(config.importer.group_mappings.size() == 2u);
  BOOST_TEST(config.importer.group_mappings.back() == "/b.json");
  BOOST_TEST(config.importer.base_dir_override == "/mnt/data");
  BOOST_TEST(config.results.dir == "/r/{job_id}/out");
  BOOST_TEST(config.results.wait.count() == Duration(10s).count());
  BOOST_TEST(config.import.degraded_poll_interval.count() == 500);
  BOOST_TEST(config.import.max_attempts == 1);
  BOOST_TEST(config.import.skip_when_imported_by == (std::vector<std::string>{"A.py", "B.py"}));
  BOOST_TEST(to_string(config.import.labels) == "images-only");
  BOOST_TEST(config.destination.type == "Screen");
  BOOST_TEST(config.destination.id == "42");
  BOOST_TEST(config.destination.groups.at("team-a").type == "Screen");  // inherits destination.type
  BOOST_TEST(config.destination.groups.at("team-a").id == "1201");
  BOOST_TEST(config.destination.groups.at("lab b").type == "Dataset");
  BOOST_TEST(config.names.users.at(52) == "alice");
  BOOST_TEST(config.names.users.at(53) == "bob");
  BOOST_TEST(config.names.groups.at(3) == "team-a");
  BOOST_TEST(config.limits.max_total_bytes == 500'000'000u);
  BOOST_TEST(config.limits.max_entries == 10u);
  BOOST_TEST(config.limits.max_ratio == 50.5);
  BOOST_TEST(config.limits.extract_threads == 2);
  BOOST_TEST(config.intake.batch == 20);
  BOOST_TEST(config.listener.backoff_max.count() == Duration(1min).count());
  BOOST_TEST(config.jobs.shutdown_grace.count() == 0);
  BOOST_TEST(config.jobs.file_step_timeout.count() == Duration(90s).count());
  BOOST_TEST(config.log.level == "debug");
  BOOST_TEST(config.log.format == "json");
  BOOST_TEST(config.http.listen == "127.0.0.1:9464");
}

BOOST_AUTO_TEST_CASE(an_unknown_key_is_named_with_its_full_dotted_path) {
  BOOST_TEST(error_of("import:\n  timout: 5m\n").key == "import.timout");
  BOOST_TEST(error_of("databse:\n  events_url: x\n").key == "databse");
  BOOST_TEST(error_of("destination:\n  groups:\n    team-a: {ide: 3}\n").key == "destination.groups.team-a.ide");
  const auto e = error_of("listener:\n  heartbeat: 5s\n");
  BOOST_TEST(contains(e.what(), "config key \"listener.heartbeat\": unknown key"));
  BOOST_TEST(contains(e.what(), "heartbeat_interval"));
}

BOOST_AUTO_TEST_CASE(a_wrong_type_or_value_is_named_by_its_key) {
  BOOST_TEST(std::string(error_of("import:\n  timeout: 5 minutes\n").what()) ==
             "config key \"import.timeout\": \"5 minutes\" is not a duration (use e.g. 30s, 5m, 1h)");
  const std::map<std::string, std::string> cases{
      {"import:\n  max_attempts: three\n", "import.max_attempts"},
      {"import:\n  max_attempts: 0\n", "import.max_attempts"},
      {"import:\n  timeout: [1h]\n", "import.timeout"},
      {"import:\n  skip_when_imported_by: A.py\n", "import.skip_when_imported_by"},
      {"import:\n  skip_when_imported_by: [A.py, [B]]\n", "import.skip_when_imported_by[1]"},
      {"import:\n  labels: labels\n", "import.labels"},
      {"database: 5\n", "database"},
      {"database:\n  pool_size: 2.5\n", "database.pool_size"},
      {"log:\n  level: verbose\n", "log.level"},
      {"log:\n  format: xml\n", "log.format"},
      {"names:\n  users:\n    abc: alice\n", "names.users.abc"},
      {"names:\n  groups: [a, b]\n", "names.groups"},
      {"results:\n  zip: /tmp/{job}.zip\n", "results.zip"},
      {"results:\n  log: omero-{job_id}.log\n", "results.log"},
      {"results:\n  dir: relative/{job_id}\n", "results.dir"},
      {"destination:\n  id: -3\n", "destination.id"},
      {"destination:\n  type: Project\n", "destination.type"},
      {"destination:\n  groups:\n    team-a: {type: Plate}\n", "destination.groups.team-a.type"},
      {"http:\n  listen: localhost\n", "http.listen"},
      {"http:\n  listen: \"host:99999\"\n", "http.listen"},
      {"limits:\n  max_total_bytes: 10 gigs\n", "limits.max_total_bytes"},
      {"limits:\n  max_total_bytes: 0\n", "limits.max_total_bytes"},
      {"limits:\n  max_ratio: 0.5\n", "limits.max_ratio"},
      {"limits:\n  max_ratio: .nan\n", "limits.max_ratio"},
      {"limits:\n  extract_threads: 0\n", "limits.extract_threads"},
      {"limits:\n  extract_threads: 65\n", "limits.extract_threads"},
      {"importer:\n  base_dir_override: data\n", "importer.base_dir_override"},
      {"database:\n  events_url: mysql://u:p@h/db\n", "database.events_url"},
      {"database:\n  importer_url: sqlite:///x.db\n", "database.importer_url"},
      {"intake:\n  poll_interval: 0s\n", "intake.poll_interval"},
      {"listener:\n  backoff_initial: 1m\n  backoff_max: 30s\n", "listener.backoff_max"},
      {"import:\n  timeout: 1h\n  timeout: 2h\n", "import.timeout"},
  };
  for (const auto& [yaml, key] : cases) {
    BOOST_TEST_CONTEXT(yaml) {
      const auto e = error_of(yaml);
      BOOST_TEST(e.key == key);
      BOOST_TEST(contains(e.what(), "config key \"" + key + "\""));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_missing_or_unparsable_file_is_an_error_naming_the_file) {
  const std::filesystem::path missing = "/nonexistent/biomero-reactor/reactor.yml";
  BOOST_CHECK_EXCEPTION((void)load_config(missing, no_environment), ConfigError, [&](const ConfigError& e) {
    return contains(e.what(), missing.string()) && contains(e.what(), "does not exist");
  });
  BOOST_CHECK_EXCEPTION((void)from_yaml("import:\n  timeout: [1h\n"), ConfigError,
                        [](const ConfigError& e) { return contains(e.what(), "line "); });
  BOOST_CHECK_EXCEPTION((void)from_yaml("- a\n- b\n"), ConfigError,
                        [](const ConfigError& e) { return contains(e.what(), "at the top"); });
}

BOOST_AUTO_TEST_CASE(biomero_environment_variables_override_the_file) {
  const auto config =
      config_from_yaml_text("database:\n  events_url: host=file\nimporter:\n  settings: /file/settings.yml\n",
                            environment({{"SQLALCHEMY_URL", "postgresql+psycopg2://w:pw@events:5432/biomero"},
                                         {"INGEST_TRACKING_DB_URL", "postgresql+psycopg2://w:pw@importer:5432/ingest"},
                                         {"IMPORTER_CONFIG_PATH", "/env/settings.yml"},
                                         {"OMERO_BIOMERO_CONFIG_FILE", "/env/biomero-config.json"},
                                         {"OMERO_BIOMERO_GROUP_MAPPINGS_FILE", "/env/group-mappings.json"}}));
  BOOST_TEST(config.database.events_url == "postgresql+psycopg2://w:pw@events:5432/biomero");
  BOOST_TEST(config.database.importer_url == "postgresql+psycopg2://w:pw@importer:5432/ingest");
  BOOST_TEST(config.importer.settings == "/env/settings.yml");
  const std::vector<std::filesystem::path> mappings{"/env/biomero-config.json", "/opt/omero/server/group-mappings.json",
                                                    "/env/group-mappings.json"};
  BOOST_TEST((config.importer.group_mappings == mappings));
}

BOOST_AUTO_TEST_CASE(the_importer_url_follows_an_overridden_events_url_unless_set) {
  const auto env = environment({{"SQLALCHEMY_URL", "host=from-env"}});
  BOOST_TEST(config_from_yaml_text("", env).database.importer_url == "host=from-env");
  BOOST_TEST(config_from_yaml_text("database:\n  importer_url: host=imp\n", env).database.importer_url == "host=imp");
}

BOOST_AUTO_TEST_CASE(an_empty_environment_variable_counts_as_unset) {
  const auto config = config_from_yaml_text("database:\n  events_url: host=file\n",
                                            environment({{"SQLALCHEMY_URL", ""}, {"IMPORTER_CONFIG_PATH", ""}}));
  BOOST_TEST(config.database.events_url == "host=file");
  BOOST_TEST(config.importer.settings == default_config().importer.settings);
}

BOOST_AUTO_TEST_CASE(a_bad_url_from_the_environment_names_the_variable_not_the_password) {
  const auto e = error_of("", environment({{"SQLALCHEMY_URL", "mysql+pymysql://root:hunter2@db/biomero"}}));
  BOOST_TEST(e.key == "database.events_url");
  BOOST_TEST(contains(e.what(), "SQLALCHEMY_URL"));
  BOOST_TEST(!contains(e.what(), "hunter2"));
}

// Item 17: a path the daemon reads as a file that is a directory would read as an empty
// file (no settings, no mappings) without a word; it is refused, naming the key.
BOOST_AUTO_TEST_CASE(a_settings_or_mappings_path_that_is_a_directory_is_refused_naming_the_key) {
  const auto dir = std::filesystem::temp_directory_path() / ("config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "settings.yml");
  std::filesystem::create_directories(dir / "mappings.json");
  const auto settings = error_of("importer:\n  settings: " + (dir / "settings.yml").string() + "\n");
  BOOST_TEST(settings.key == "importer.settings");
  BOOST_TEST(contains(settings.what(), "is a directory"));
  const auto mappings = error_of("importer:\n  group_mappings: [" + (dir / "mappings.json").string() + "]\n");
  BOOST_TEST(mappings.key == "importer.group_mappings");
  BOOST_TEST(contains(mappings.what(), "is a directory"));
  const auto env = error_of("", environment({{"IMPORTER_CONFIG_PATH", (dir / "settings.yml").string()}}));
  BOOST_TEST(env.key == "importer.settings");
  BOOST_TEST(contains(env.what(), "IMPORTER_CONFIG_PATH"));
  // Absent files stay allowed (the importer's defaults apply); regular files load.
  std::ofstream(dir / "real.yml") << "base_dir: /data\n";
  BOOST_TEST(from_yaml("importer:\n  settings: " + (dir / "real.yml").string() + "\n").importer.settings ==
             dir / "real.yml");
  BOOST_TEST(from_yaml("importer:\n  settings: " + (dir / "absent.yml").string() + "\n").importer.settings ==
             dir / "absent.yml");
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(an_empty_or_directory_config_path_is_refused_naming_the_file) {
  BOOST_CHECK_EXCEPTION((void)load_config("", no_environment), ConfigError,
                        [](const ConfigError& e) { return contains(e.what(), "empty"); });
  const auto dir = std::filesystem::temp_directory_path();
  BOOST_CHECK_EXCEPTION((void)load_config(dir, no_environment), ConfigError, [&](const ConfigError& e) {
    return contains(e.what(), dir.string()) && contains(e.what(), "is a directory");
  });
}

BOOST_AUTO_TEST_CASE(the_description_hides_passwords_and_loads_back_as_the_same_config) {
  const auto config = from_yaml(R"(
database: {events_url: "postgresql://omero@db/biomero", importer_url: "host=imp dbname=ingest"}
importer: {group_mappings: [/a.json], base_dir_override: /mnt/data}
results: {dir: "/r/{job_id}", wait: 1m30s}
import: {labels: images-and-labels, skip_when_imported_by: []}
destination: {type: Screen, id: 7, groups: {"team: a": {id: 9}}}
names: {users: {52: "alice o'hara"}, groups: {3: team-a}}
limits: {max_total_bytes: 1234567, max_ratio: 12.25}
log: {level: warning}
http: {listen: "[::1]:8080"}
)");
  const auto text = describe(config);
  BOOST_TEST_INFO(text);
  BOOST_TEST((config_from_yaml_text(text, no_environment) == config));

  const auto secret = from_yaml(
      "database:\n  events_url: postgresql+psycopg2://omero:hunter2@db/biomero\n"
      "  importer_url: host=imp password=hunter2\n");
  const auto described = describe(secret);
  BOOST_TEST(!contains(described, "hunter2"));
  BOOST_TEST(contains(described, "postgresql+psycopg2://omero:***@db/biomero"));
  BOOST_TEST(contains(described, "host=imp password=***"));
}

BOOST_AUTO_TEST_SUITE_END()
