#include "biomero_reactor/group_storage.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>

#include "biomero_reactor/storage_refresh.hpp"

using namespace biomero_reactor;
namespace fs = std::filesystem;

namespace {

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// A fresh directory under the temp dir, removed (made writable first) at the end.
struct Scratch {
  fs::path root;
  Scratch() {
    std::string pattern = (fs::temp_directory_path() / "group-storage-test-XXXXXX").string();
    BOOST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    root = pattern;
  }
  ~Scratch() {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_directory(ec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  fs::path write(const std::string& name, std::string_view content) const {
    const auto path = root / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
};

// A config whose importer files live in the scratch directory.
struct Deployment : Scratch {
  Config config;
  Deployment() {
    config.importer.settings = root / "config-importer/settings.yml";
    config.importer.group_mappings = {root / "biomero-config.json", root / "group-mappings.json"};
    write("config-importer/settings.yml", "base_dir: " + (root / "data").string() + "\nother_setting: 1\n");
  }
  [[nodiscard]] fs::path data() const { return root / "data"; }
};

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const GroupStorageError& e) {
    return e.what();
  }
  BOOST_FAIL("expected a GroupStorageError");
  return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(group_storage_test)

BOOST_FIXTURE_TEST_CASE(a_mapped_group_uses_its_folder_under_base_dir, Deployment) {
  write("biomero-config.json", R"({"other": true, "group_mappings": {
      "3": {"folder": "teams/alpha", "groupName": "team-a"},
      "4": {"folder": "beta", "groupName": "team-b"}}})");
  const auto settings = load_storage_settings(config);
  BOOST_TEST(settings.base_dir == data());
  BOOST_TEST(group_base_path(settings, "team-a") == data() / "teams/alpha");
  BOOST_TEST(group_base_path(settings, "team-b") == data() / "beta");
  BOOST_TEST(*group_name_for(settings, config, 3) == "team-a");
}

BOOST_FIXTURE_TEST_CASE(an_unmapped_group_falls_back_to_its_own_name, Deployment) {
  write("biomero-config.json", R"({"group_mappings": {"3": {"folder": "alpha", "groupName": "team-a"}}})");
  const auto settings = load_storage_settings(config);
  BOOST_TEST(group_base_path(settings, "system") == data() / "system");
  BOOST_TEST(group_base_path(settings, "my lab (2024)") == data() / "my lab (2024)");
}

BOOST_FIXTURE_TEST_CASE(group_mappings_json_overrides_biomero_config_per_group_id, Deployment) {
  write("biomero-config.json", R"({"group_mappings": {
      "3": {"folder": "alpha", "groupName": "team-a"},
      "4": {"folder": "beta", "groupName": "team-b"}}})");
  write("group-mappings.json", R"({"4": {"folder": "gamma", "groupName": "team-b2"},
                                  "5": {"folder": "delta", "groupName": "team-c"}})");
  const auto settings = load_storage_settings(config);
  BOOST_TEST(group_base_path(settings, "team-a") == data() / "alpha");
  BOOST_TEST(group_base_path(settings, "team-b2") == data() / "gamma");
  BOOST_TEST(group_base_path(settings, "team-b") == data() / "team-b");  // its mapping was replaced
  BOOST_TEST(group_base_path(settings, "team-c") == data() / "delta");
  BOOST_TEST(*group_name_for(settings, config, 4) == "team-b2");
  BOOST_TEST(settings.mapping_order == (std::vector<std::string>{"3", "4", "5"}));
}

BOOST_FIXTURE_TEST_CASE(the_first_match_in_biomero_document_order_wins_not_the_smallest_id, Deployment) {
  // Python's dict keeps the JSON order: "7" is seen before "3", so its folder is used.
  write("biomero-config.json", R"({"group_mappings": {
      "7": {"folder": "seven", "groupName": "shared"},
      "3": {"folder": "three", "groupName": "shared"},
      "9": {"folder": "", "groupName": "empty-folder"}}})");
  const auto settings = load_storage_settings(config);
  BOOST_TEST(group_base_path(settings, "shared") == data() / "seven");
  BOOST_TEST(group_base_path(settings, "empty-folder") == data() / "empty-folder");
}

BOOST_FIXTURE_TEST_CASE(names_come_from_mappings_then_from_the_config_tables, Deployment) {
  write("biomero-config.json", R"({"group_mappings": {"3": {"folder": "alpha", "groupName": "team-a"}}})");
  config.names.groups = {{3, "ignored-because-mapped"}, {8, "team-h"}};
  config.names.users = {{52, "alice"}};
  const auto settings = load_storage_settings(config);
  BOOST_TEST(*group_name_for(settings, config, 3) == "team-a");
  BOOST_TEST(*group_name_for(settings, config, 8) == "team-h");
  BOOST_TEST(!group_name_for(settings, config, 99).has_value());
  BOOST_TEST(*user_name_for(config, 52) == "alice");
  BOOST_TEST(!user_name_for(config, 53).has_value());
}

BOOST_FIXTURE_TEST_CASE(a_missing_settings_file_means_base_dir_data, Deployment) {
  fs::remove(config.importer.settings);
  const auto settings = load_storage_settings(config);
  BOOST_TEST(settings.base_dir == "/data");
  BOOST_TEST(group_base_path(settings, "team-a") == "/data/team-a");
  BOOST_TEST(!settings.warnings.empty());
  BOOST_TEST(contains(settings.warnings.front(), config.importer.settings.string()));
}

BOOST_FIXTURE_TEST_CASE(a_settings_file_without_base_dir_means_data, Deployment) {
  write("config-importer/settings.yml", "log_level: DEBUG\n");
  BOOST_TEST(load_storage_settings(config).base_dir == "/data");
}

BOOST_FIXTURE_TEST_CASE(base_dir_override_wins_over_the_settings_file, Deployment) {
  config.importer.base_dir_override = "/mnt/storage";
  BOOST_TEST(load_storage_settings(config).base_dir == "/mnt/storage");
}

BOOST_FIXTURE_TEST_CASE(absent_mapping_files_are_skipped_with_a_warning, Deployment) {
  const auto settings = load_storage_settings(config);
  BOOST_TEST(settings.mappings.empty());
  BOOST_TEST(settings.warnings.size() == 2u);
  BOOST_TEST(contains(settings.warnings.at(0), "biomero-config.json"));
  BOOST_TEST(contains(settings.warnings.at(1), "group-mappings.json"));
}

BOOST_FIXTURE_TEST_CASE(a_biomero_config_without_group_mappings_has_none, Deployment) {
  write("biomero-config.json", R"({"ui": {"theme": "dark"}, "version": 2})");
  const auto settings = load_storage_settings(config);
  BOOST_TEST(settings.mappings.empty());
  BOOST_TEST(group_base_path(settings, "team-a") == data() / "team-a");
}

BOOST_FIXTURE_TEST_CASE(malformed_files_are_errors_naming_the_file, Deployment) {
  const auto json = write("group-mappings.json", R"({"3": {"folder": "alpha", "groupName": )");
  BOOST_TEST(contains(error_of([&] { (void)load_storage_settings(config); }), json.string()));
  write("group-mappings.json", R"(["not", "an", "object"])");
  BOOST_TEST(contains(error_of([&] { (void)load_storage_settings(config); }), json.string()));
  fs::remove(json);
  const auto yaml = write("config-importer/settings.yml", "base_dir: [unclosed\n");
  BOOST_TEST(contains(error_of([&] { (void)load_storage_settings(config); }), yaml.string()));
  write("config-importer/settings.yml", "base_dir: relative/data\n");
  BOOST_TEST(contains(error_of([&] { (void)load_storage_settings(config); }), yaml.string()));
}

BOOST_FIXTURE_TEST_CASE(a_mapping_folder_leaving_base_dir_is_refused_naming_the_mapping, Deployment) {
  write("biomero-config.json", R"({"group_mappings": {
      "3": {"folder": "../etc", "groupName": "team-a"},
      "4": {"folder": "/etc", "groupName": "team-b"},
      "5": {"folder": "ok/../../up", "groupName": "team-c"},
      "6": {"folder": "fine..name", "groupName": "team-d"}}})");
  const auto settings = load_storage_settings(config);
  BOOST_TEST(settings.warnings.size() == 4u);  // 3 bad folders + the absent group-mappings.json
  for (const auto& [group, id] : {std::pair{"team-a", "\"3\""}, {"team-b", "\"4\""}, {"team-c", "\"5\""}}) {
    BOOST_TEST_CONTEXT(group) {
      const auto message = error_of([&] { (void)group_base_path(settings, group); });
      BOOST_TEST(contains(message, "group mapping " + std::string(id)));
    }
  }
  BOOST_TEST(group_base_path(settings, "team-d") == data() / "fine..name");
}

BOOST_FIXTURE_TEST_CASE(a_group_name_that_is_not_one_folder_name_is_refused, Deployment) {
  const auto settings = load_storage_settings(config);
  for (const char* name : {"", ".", "..", "a/b", "/abs"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_CHECK_THROW((void)group_base_path(settings, name), GroupStorageError);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(the_probe_creates_analyzed_for_a_new_group_and_leaves_no_file, Scratch) {
  const auto group_base = root / "data/team-a";
  const auto result = probe_analyzed_writable(group_base);
  BOOST_TEST_INFO(result.detail);
  BOOST_TEST(result.ok);
  BOOST_TEST(result.path == group_base / ".analyzed");
  BOOST_TEST(fs::is_directory(group_base / ".analyzed"));
  BOOST_TEST(fs::is_empty(group_base / ".analyzed"));
  BOOST_TEST(probe_analyzed_writable(group_base).ok);  // again, now that it exists
}

BOOST_FIXTURE_TEST_CASE(the_probe_fails_under_a_regular_file_and_says_what_to_fix, Scratch) {
  write("afile", "not a directory");
  const auto group_base = root / "afile/sub";
  const auto result = probe_analyzed_writable(group_base);
  BOOST_TEST(!result.ok);
  BOOST_TEST_INFO(result.detail);
  BOOST_TEST(contains(result.detail, (group_base / ".analyzed").string()));
  BOOST_TEST(contains(result.detail, "uid " + std::to_string(::geteuid())));
  BOOST_TEST(contains(result.detail, (root / "afile").string() + " is a file, not a directory"));
  BOOST_TEST(fs::is_regular_file(root / "afile"));
}

BOOST_FIXTURE_TEST_CASE(the_probe_fails_on_a_read_only_group_folder, Scratch) {
  if (::geteuid() == 0) {
    BOOST_TEST_MESSAGE("running as root: permission bits do not stop writes; covered by the regular-file case");
    return;
  }
  const auto group_base = root / "team-a";
  fs::create_directories(group_base);
  fs::permissions(group_base, fs::perms(0555));
  const auto result = probe_analyzed_writable(group_base);
  BOOST_TEST(!result.ok);
  BOOST_TEST_INFO(result.detail);
  BOOST_TEST(contains(result.detail, "grant uid " + std::to_string(::geteuid())));
  BOOST_TEST(contains(result.detail, group_base.string()));
  BOOST_TEST(!fs::exists(group_base / ".analyzed"));
}

BOOST_FIXTURE_TEST_CASE(a_rewritten_mapping_file_is_noticed_and_its_changes_described, Deployment) {
  write("biomero-config.json", R"({"group_mappings": {"3": {"folder": "alpha", "groupName": "team-a"},)"
                               R"( "4": {"folder": "beta", "groupName": "team-b"}}})");
  StorageSettings current = load_storage_settings(config);
  BOOST_TEST(!storage_sources_changed(current));
  BOOST_TEST(!refresh_storage(current, config, false));  // nothing changed: nothing read
  write("group-mappings.json", R"({"3": {"folder": "alpha2", "groupName": "team-a"},)"
                               R"( "5": {"folder": "gamma", "groupName": "team-c"}})");  // was absent
  BOOST_TEST(storage_sources_changed(current));
  const StorageSettings before = current;
  BOOST_TEST(refresh_storage(current, config, false));
  BOOST_TEST(group_base_path(current, "team-a") == data() / "alpha2");
  const auto changes = mapping_changes(before, current);
  BOOST_REQUIRE_EQUAL(changes.size(), 2U);
  BOOST_TEST(changes[0] == R"(group 3: folder "alpha", group "team-a" -> folder "alpha2", group "team-a")");
  BOOST_TEST(changes[1] == R"(group 5 mapped: folder "gamma", group "team-c")");
  BOOST_TEST(mapping_changes(current, before).size() == 2U);
  // A broken edit keeps the mappings in force and is reported once, not at every job.
  write("group-mappings.json", "{ broken");
  BOOST_TEST(refresh_storage(current, config, false));
  BOOST_TEST(group_base_path(current, "team-a") == data() / "alpha2");
  BOOST_TEST(!refresh_storage(current, config, false));
}

BOOST_AUTO_TEST_SUITE_END()
