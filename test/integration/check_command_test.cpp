// `biomero-reactor check` tells the truth: it warns about settings without which jobs
// will fail later (no user names, no destination), naming the keys that fix it, and its
// storage probe leaves the storage as it found it, saying what it created.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "biomero_reactor/check_advice.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

struct Checked {
  TestDb db;
  TempTree tree;
  fs::path data = tree.path() / "data";

  // pipeline_yaml with its names.users and destination taken out (or kept).
  std::string run_check(bool with_names_and_destination, int expected_exit = 0) {
    fs::create_directories(data);
    std::string yaml = pipeline_yaml(tree.path());
    if (!with_names_and_destination) {
      yaml = replaced(yaml, "names:\n  users: {2: alice}\n", "names:\n");
      yaml = replaced(yaml, "destination:\n  id: \"51\"\n", "");
    }
    const auto cfg = write_reactor_config(tree.path(), db.conninfo(), yaml);
    std::string out;
    BOOST_TEST(run_reactor(cfg, {"check"}, &out) == expected_exit, out);
    return out;
  }

  static std::string replaced(std::string text, const std::string& what, const std::string& with) {
    const auto at = text.find(what);
    BOOST_REQUIRE(at != std::string::npos);
    return text.replace(at, what.size(), with);
  }

  // Every path under data/, relative.
  std::vector<std::string> storage_contents() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(data)) out.push_back(fs::relative(e.path(), data).string());
    return out;
  }
};

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(check_command_test)

BOOST_FIXTURE_TEST_CASE(no_user_names_and_no_destination_are_warnings_naming_the_keys, Checked) {
  const std::string out = run_check(false);
  BOOST_TEST(has(out, "  WARN  no way to get OMERO user names: names.users is empty and omero.web.url is not set"),
             out);
  BOOST_TEST(has(out, "Handoff jobs are not affected: their manifest brings the names."), out);
  BOOST_TEST(has(out, "  WARN  no destination for a job whose workflow names no Dataset_ID/Screen_ID"), out);
  for (const char* key : {"destination.id", "destination.type", "destination.groups.<group>.id", "omero.web.url"})
    BOOST_TEST(has(out, key), key);
  BOOST_TEST(has(out, "check passed with 2 warning(s)\n"), out);
}

BOOST_AUTO_TEST_CASE(the_spool_placement_says_whether_zips_are_moved_or_copied) {
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const std::string same = describe_spool_placement(tree.path() / "data/.biomero-reactor/spool", tree.path() / "data");
  BOOST_TEST(has(same, "on the same file system as base_dir"), same);
  // /dev/shm is a file system of its own wherever it exists.
  struct stat shm {
  }, tmp{};
  if (::stat("/dev/shm", &shm) == 0 && ::stat(tree.path().c_str(), &tmp) == 0 && shm.st_dev != tmp.st_dev) {
    const std::string other = describe_spool_placement("/dev/shm/spool", tree.path() / "data");
    BOOST_TEST(has(other, "is on another file system than base_dir"), other);
    BOOST_TEST(has(other, "copied (and fsynced), not moved"), other);
  } else {
    BOOST_TEST_MESSAGE("no second file system at /dev/shm here: only the same-file-system case is checked");
  }
}

BOOST_FIXTURE_TEST_CASE(a_complete_configuration_has_no_warnings, Checked) {
  const std::string out = run_check(true);
  BOOST_TEST(!has(out, "WARN"), out);
  BOOST_TEST(has(out, "check passed\n"), out);
}

BOOST_FIXTURE_TEST_CASE(the_storage_probe_removes_what_it_created_and_says_so, Checked) {
  // Group Demo (names.groups) has no folder yet: the probe creates data/Demo/.analyzed.
  std::string out = run_check(true);
  const fs::path demo = data / "Demo";
  BOOST_TEST(has(out, "group Demo: " + (demo / ".analyzed").string() +
                          " is writable (a probe file was created, "
                          "read back and removed; created and removed " +
                          demo.string() + ", " + (demo / ".analyzed").string() + ")"),
             out);
  BOOST_TEST(storage_contents().empty());

  // The group folder exists (with a job directory): only .analyzed is the probe's.
  fs::create_directories(demo / "2024");
  out = run_check(true);
  BOOST_TEST(has(out, "created and removed " + (demo / ".analyzed").string() + ")"), out);
  BOOST_TEST(storage_contents() == std::vector<std::string>({"Demo", "Demo/2024"}), out);

  // .analyzed exists (the reactor ran): nothing is created, nothing removed.
  fs::create_directories(demo / ".analyzed" / "wf");
  out = run_check(true);
  BOOST_TEST(has(out, "removed; no directory created)"), out);
  BOOST_TEST(fs::exists(demo / ".analyzed" / "wf"));
  BOOST_TEST(fs::is_empty(demo / ".analyzed" / "wf"));
}

BOOST_AUTO_TEST_SUITE_END()
