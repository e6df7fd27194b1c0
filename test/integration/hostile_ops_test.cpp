// Operator mistakes against the real binary and the throwaway cluster: two daemons under
// one instance name, careless settings paths, a replay while orders are still open.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <csignal>
#include <fstream>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

bool started(Process& p) {
  return eventually([&] { return p.output().find("biomero-reactor started") != std::string::npos; }, 30s);
}

// A row of the importer's table for every order, copied from its `Import Pending` row.
void write_stage(TestDb& db, const std::string& stage, const std::string& timestamp_sql) {
  db.script(
      "INSERT INTO public.imports (group_name, user_name, destination_id, destination_type, stage, uuid, "
      "\"timestamp\", files) SELECT group_name, user_name, destination_id, destination_type, '" +
      stage + "', uuid, " + timestamp_sql + ", files FROM public.imports WHERE stage = 'Import Pending'");
}

std::string job_state(TestDb& db) {
  return db.scalar("SELECT string_agg(state, ',') FROM biomero_reactor.jobs");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_ops_test)

// Item 16: the instance name is the lease owner; a second live process under it refuses
// to start, another name runs beside it, and a killed process leaves no lock behind.
BOOST_AUTO_TEST_CASE(a_second_run_with_the_same_instance_name_refuses_to_start) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()));
  auto first = start_reactor(config, tree.path() / "first.log", {"--instance", "alpha"});
  BOOST_REQUIRE_MESSAGE(started(*first), first->output());

  auto second = start_reactor(config, tree.path() / "second.log", {"--instance", "alpha"});
  const auto code = second->wait(30s);
  BOOST_REQUIRE(code.has_value());
  BOOST_TEST(*code != 0);
  BOOST_TEST(second->output().find("running as instance") != std::string::npos, second->output());
  BOOST_TEST(second->output().find("alpha") != std::string::npos, second->output());
  BOOST_TEST(second->output().find("biomero-reactor started") == std::string::npos, second->output());
  BOOST_TEST(first->running());

  auto other = start_reactor(config, tree.path() / "other.log", {"--instance", "beta"});
  BOOST_REQUIRE_MESSAGE(started(*other), other->output());
  BOOST_TEST(first->running());

  // A killed process's session ends, and its lock with it.
  first->signal(SIGKILL);
  first->wait(10s);
  auto again = start_reactor(config, tree.path() / "again.log", {"--instance", "alpha"});
  BOOST_TEST(started(*again), again->output());

  other->signal(SIGTERM);
  again->signal(SIGTERM);
  BOOST_TEST(other->wait(30s).value_or(-1) == 0, other->output());
  BOOST_TEST(again->wait(30s).value_or(-1) == 0, again->output());
}

// Item 17: careless paths exit 78 (EX_CONFIG) naming the key or the file, for check and run.
BOOST_AUTO_TEST_CASE(a_directory_settings_path_or_an_empty_or_directory_config_exits_78) {
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  std::string yaml = pipeline_yaml(tree.path());
  const fs::path settings = tree.path() / "settings.yml";
  fs::remove(settings);
  fs::create_directories(settings);  // a directory where the importer's settings file should be
  const fs::path config = write_reactor_config(tree.path(), "host=/nonexistent dbname=x", yaml);
  for (const std::string command : {"check", "run"}) {
    std::string out;
    BOOST_TEST(run_reactor(config, {command}, &out) == 78, command);
    BOOST_TEST(out.find("importer.settings") != std::string::npos, out);
    BOOST_TEST(out.find("is a directory") != std::string::npos, out);
  }
  for (const std::string& path : {std::string(), tree.path().string()}) {
    for (const std::string command : {"check", "run"}) {
      Process p({BIOMERO_REACTOR_BINARY, "--config", path, command}, tree.path() / "p.log");
      BOOST_TEST(p.wait(30s).value_or(-1) == 78, p.output());
      BOOST_TEST(p.output().find(path.empty() ? "empty" : "is a directory") != std::string::npos, p.output());
    }
  }
}

// Item 8: an `Import Completed` row whose timestamp sorts before `Import Started` (clock
// skew), and a later non-terminal row with a NULL timestamp: the terminal stage wins.
BOOST_AUTO_TEST_CASE(a_terminal_stage_wins_whatever_the_timestamps_and_ids) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(),
                                               pipeline_yaml(tree.path()) + "import:\n  degraded_poll_interval: 200ms\n");
  SampleWorkflow wf;
  write_completed_workflow(db, tree.path() / "results", wf);
  auto reactor = start_reactor(config, tree.path() / "reactor.log", {"--once"});
  BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state(db) == "submitted"; }), reactor->output());
  write_stage(db, "Import Started", "now()");
  write_stage(db, "Import Completed", "now() - interval '1 hour'");
  write_stage(db, "Import Started", "NULL");  // a later id, no timestamp
  BOOST_REQUIRE_EQUAL(reactor->wait(60s).value_or(-1), 0);
  BOOST_TEST(job_state(db) == "imported", reactor->output());
}

// Item 9: replay while the importer may still import the job's orders would import the
// same results twice: refused naming the order and its stage; --force supersedes them.
BOOST_AUTO_TEST_CASE(replay_is_refused_while_orders_are_open_unless_forced) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(),
                                               pipeline_yaml(tree.path()) + "import:\n  degraded_poll_interval: 200ms\n");
  SampleWorkflow wf;
  write_completed_workflow(db, tree.path() / "results", wf);
  {
    auto reactor = start_reactor(config, tree.path() / "reactor.log");
    BOOST_REQUIRE_MESSAGE(eventually([&] { return job_state(db) == "submitted"; }), reactor->output());
    reactor->signal(SIGTERM);
    BOOST_REQUIRE_EQUAL(reactor->wait(30s).value_or(-1), 0);
  }
  const std::string order = db.scalar("SELECT order_uuid FROM biomero_reactor.orders");
  std::string out;
  BOOST_TEST(run_reactor(config, {"replay", wf.id.str()}, &out) == 1);
  BOOST_TEST(out.find("order " + order + " is at stage \"Import Pending\"") != std::string::npos, out);
  BOOST_TEST(out.find("--force") != std::string::npos, out);
  write_stage(db, "Import Started", "now()");
  BOOST_TEST(run_reactor(config, {"replay", wf.id.str()}, &out) == 1);
  BOOST_TEST(out.find("is at stage \"Import Started\"") != std::string::npos, out);
  BOOST_TEST(db.scalar("SELECT attempt FROM biomero_reactor.jobs") == "1");

  BOOST_TEST(run_reactor(config, {"replay", "--force", wf.id.str()}, &out) == 0, out);
  BOOST_TEST(out.find("the importer may still import") != std::string::npos, out);
  BOOST_TEST(out.find("replaying 1 job(s)") != std::string::npos, out);
  BOOST_TEST(db.scalar("SELECT stage FROM biomero_reactor.orders WHERE order_uuid = $1", pg::params(order)) ==
             "Superseded");
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history WHERE detail LIKE '%superseded%" + order +
                      "%' OR detail LIKE '%" + order + "%superseded%'") == 1);
  BOOST_TEST(db.scalar("SELECT attempt FROM biomero_reactor.jobs") == "2");

  // A superseded order no longer holds a replay back.
  BOOST_TEST(run_reactor(config, {"replay", wf.id.str()}, &out) == 0, out);
}

BOOST_AUTO_TEST_SUITE_END()
