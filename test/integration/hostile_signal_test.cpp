// Signals an operator (or logrotate) sends a running daemon: SIGHUP must never end it.
// The real binary against the throwaway cluster.
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <fstream>
#include <thread>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

BOOST_AUTO_TEST_SUITE(hostile_signal_test)

BOOST_AUTO_TEST_CASE(sighup_is_logged_and_the_reactor_keeps_running) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()));
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_REQUIRE(eventually([&] { return reactor->output().find("biomero-reactor started") != std::string::npos; }));
  reactor->signal(SIGHUP);
  reactor->signal(SIGHUP);
  BOOST_TEST(
      eventually([&] { return reactor->output().find("SIGHUP: reloading group mappings") != std::string::npos; }, 5s));
  std::this_thread::sleep_for(500ms);
  BOOST_TEST(reactor->running(), reactor->output());
  // And it still stops as it should.
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0, reactor->output());
}

// An operator adds a group mapping and sends SIGHUP: the next job is archived into the
// mapped folder without a restart. A mapping file that no longer parses keeps the old ones.
BOOST_AUTO_TEST_CASE(sighup_reloads_the_group_mappings_for_the_next_job) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path mappings = tree.path() / "group-mappings.json";
  std::string yaml = pipeline_yaml(tree.path());
  const std::string none = "group_mappings: []";
  yaml.replace(yaml.find(none), none.size(), "group_mappings: [" + mappings.string() + "]");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(), yaml);
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_REQUIRE(eventually([&] { return reactor->output().find("biomero-reactor started") != std::string::npos; }));

  std::ofstream(mappings) << R"({"3": {"folder": "facility/demo", "groupName": "Demo"}})";
  reactor->signal(SIGHUP);
  BOOST_REQUIRE_MESSAGE(
      eventually([&] { return reactor->output().find("group mappings reloaded") != std::string::npos; }, 5s),
      reactor->output());
  std::ofstream(mappings) << "{ not json";
  reactor->signal(SIGHUP);
  BOOST_REQUIRE_MESSAGE(
      eventually([&] { return reactor->output().find("group mappings not reloaded") != std::string::npos; }, 5s),
      reactor->output());

  write_job_results(tree.path() / "results", "1234");
  SampleWorkflow wf;
  write_workflow(db, wf);
  BOOST_TEST(
      eventually([&] {
        return db.count(
                   "SELECT count(*) FROM biomero_reactor.jobs WHERE job_dir LIKE '%/data/facility/demo/.analyzed/%'") ==
               1;
      }),
      reactor->output());
  BOOST_TEST(reactor->running());
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0, reactor->output());
}

// No signal at all: an admin rewrites the mappings in OMERO.biomero while the daemon
// runs, and the next job lands where the new mapping says; the log says what changed.
BOOST_AUTO_TEST_CASE(a_mapping_file_rewritten_while_running_changes_where_the_next_job_lands) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path mappings =
      tree.write("biomero-config.json", R"({"group_mappings": {"3": {"folder": "old", "groupName": "Demo"}}})");
  std::string yaml = pipeline_yaml(tree.path());
  const std::string none = "group_mappings: []";
  yaml.replace(yaml.find(none), none.size(), "group_mappings: [" + mappings.string() + "]");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(), yaml);
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_REQUIRE(eventually([&] { return reactor->output().find("biomero-reactor started") != std::string::npos; }));

  // Written aside and renamed into place, as editors and OMERO.biomero do.
  tree.write("biomero-config.json.new", R"({"group_mappings": {"3": {"folder": "labs/new", "groupName": "Demo"}}})");
  fs::rename(tree.path() / "biomero-config.json.new", mappings);
  write_job_results(tree.path() / "results", "1234");
  SampleWorkflow wf;
  write_workflow(db, wf);
  BOOST_TEST(
      eventually([&] {
        return db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE job_dir LIKE '%/data/labs/new/.analyzed/%'") ==
               1;
      }),
      reactor->output());
  BOOST_TEST(!fs::exists(tree.path() / "data" / "old"));
  BOOST_TEST(
      reactor->output().find(R"(group 3: folder \"old\", group \"Demo\" -> folder \"labs/new\")") != std::string::npos,
      reactor->output());
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0, reactor->output());
}

BOOST_AUTO_TEST_SUITE_END()
