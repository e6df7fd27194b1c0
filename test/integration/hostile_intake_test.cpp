// The poison-event rule against the real daemon: an event whose processing killed the
// reactor is skipped at the next start with the reason recorded; later events go on.
#include <boost/test/unit_test.hpp>
#include <csignal>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

BOOST_AUTO_TEST_SUITE(hostile_intake_test)

// Item 1: the daemon dies (SIGKILL-like exit from the test hook) while working on a
// WorkflowCompleted event. The event is re-read at every start: without the rule the
// daemon would die on it again forever.
BOOST_AUTO_TEST_CASE(an_event_that_killed_the_reactor_is_skipped_at_the_next_start_with_its_reason) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path config =
      write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()) + "jobs:\n  shutdown_grace: 2s\n");
  const fs::path results = tree.path() / "results";
  SampleWorkflow poison;
  write_completed_workflow(db, results, poison);
  const std::string event = db.scalar(
      "SELECT id FROM workflowtracker_events WHERE topic = $1 AND originator_id = $2",
      pg::params(std::string(topics::workflow_completed), poison.id.str()));
  BOOST_REQUIRE(!event.empty());
  SampleWorkflow good;
  good.job_ids = {"5678"};
  write_completed_workflow(db, results, good);

  {
    Process crashing({BIOMERO_REACTOR_WITH_HOOKS, "--config", config.string(), "--log-format", "json", "run"},
                     tree.path() / "crash.log", {{"BIOMERO_REACTOR_TEST_CRASH_AT_EVENT", event}});
    BOOST_REQUIRE_EQUAL(crashing.wait(30s).value_or(-1), 137);
    BOOST_TEST(crashing.output().find("crashing at an event") != std::string::npos, crashing.output());
  }
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.workflows") == 0);  // the batch rolled back

  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_TEST(eventually([&] {
    return db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE workflow_id = $1", pg::params(good.id.str())) == 1;
  }),
             reactor->output());
  BOOST_TEST(db.scalar("SELECT decision FROM biomero_reactor.workflows WHERE workflow_id = $1",
                       pg::params(poison.id.str())) == "skipped");
  const std::string reason =
      db.scalar("SELECT reason FROM biomero_reactor.workflows WHERE workflow_id = $1", pg::params(poison.id.str()));
  BOOST_TEST(reason.find("poison-event rule") != std::string::npos, reason);
  BOOST_TEST(reason.find(event) != std::string::npos, reason);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE workflow_id = $1",
                      pg::params(poison.id.str())) == 0);
  BOOST_TEST(reactor->output().find("it crashed the reactor last time") != std::string::npos, reactor->output());
  BOOST_TEST(reactor->running());
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
}

// Its own marks never count: a reactor that processes events normally leaves nothing
// for the next start to skip.
BOOST_AUTO_TEST_CASE(a_clean_stop_leaves_no_mark_behind) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path config =
      write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()) + "jobs:\n  shutdown_grace: 2s\n");
  SampleWorkflow wf;
  write_completed_workflow(db, tree.path() / "results", wf);
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_REQUIRE(eventually([&] { return db.count("SELECT count(*) FROM biomero_reactor.jobs") == 1; }));
  reactor->signal(SIGTERM);
  BOOST_REQUIRE_EQUAL(reactor->wait(30s).value_or(-1), 0);
  BOOST_TEST(db.scalar("SELECT event_id FROM biomero_reactor.intake_marker").empty());
  BOOST_TEST(db.scalar("SELECT decision FROM biomero_reactor.workflows") == "jobs");
}

BOOST_AUTO_TEST_SUITE_END()
