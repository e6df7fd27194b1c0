// Intake against a real PostgreSQL: BIOMERO's WorkflowCompleted events become job rows,
// whether they arrive while the reactor runs, before it starts, or while its LISTEN
// session is down.
#include <boost/test/unit_test.hpp>
#include <csignal>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

// The reactor with intake only doing visible work: its results never appear, so jobs
// stay where intake put them (pending -> started -> archiving, waiting for results).
struct Fixture {
  TestDb db;
  TempTree tree;
  fs::path config = write_reactor_config(tree.path(), db.conninfo(),
                                         "results:\n  zip: " + tree.path().string() +
                                             "/never/{job_id}.zip\n  wait: 1h\n"
                                             "listener:\n  heartbeat_interval: 2500ms\n  heartbeat_timeout: 2s\n"
                                             "  backoff_initial: 100ms\n  backoff_max: 500ms\n"
                                             "intake:\n  poll_interval: 1h\n"
                                             "import:\n  degraded_poll_interval: 1h\n"
                                             "names:\n  users: {2: alice}\n  groups: {3: Demo}\n"
                                             "importer:\n  base_dir_override: " +
                                             tree.path().string() + "/data\n");

  std::int64_t jobs(const Uuid& wf) {
    return db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE workflow_id = $1", pg::params(wf.str()));
  }
  std::int64_t cursor() { return std::stoll(db.scalar("SELECT last_event_id FROM biomero_reactor.intake_cursor")); }
  std::int64_t last_completed_event() {
    return std::stoll(
        db.scalar("SELECT coalesce(max(id), 0) FROM workflowtracker_events WHERE topic LIKE '%WorkflowCompleted'"));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(intake_test)

BOOST_FIXTURE_TEST_CASE(a_workflow_completed_while_running_becomes_one_job_per_slurm_job, Fixture) {
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_REQUIRE(eventually([&] { return reactor->output().find("\"listening\"") != std::string::npos; }));
  SampleWorkflow wf;
  wf.job_ids = {"101", "102"};
  write_workflow(db, wf);
  BOOST_TEST(eventually([&] { return jobs(wf.id) == 2; }, 10s));
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE workflow_id = $1 AND slurm_job_id IN "
                      "('101', '102')",
                      pg::params(wf.id.str())) == 2);
  BOOST_TEST(eventually([&] { return cursor() == last_completed_event(); }));
  BOOST_TEST(db.scalar("SELECT decision FROM biomero_reactor.workflows WHERE workflow_id = $1",
                       pg::params(wf.id.str())) == "jobs");
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
  BOOST_TEST(reactor->output().find("\"job created\"") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(events_committed_while_the_reactor_was_stopped_are_picked_up_at_start, Fixture) {
  SampleWorkflow a, b;
  write_workflow(db, a);
  write_workflow(db, b);
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_TEST(eventually([&] { return jobs(a.id) == 1 && jobs(b.id) == 1; }, 10s));
  BOOST_TEST(cursor() == last_completed_event());
}

BOOST_FIXTURE_TEST_CASE(an_event_committed_while_the_listener_was_terminated_is_still_picked_up, Fixture) {
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_REQUIRE(eventually([&] { return reactor->output().find("\"listening\"") != std::string::npos; }));
  // Kill the LISTEN session and commit an event before it can come back.
  BOOST_REQUIRE(db.count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
                         "current_database() AND application_name = 'biomero-reactor' AND pid <> pg_backend_pid()") >
                0);
  SampleWorkflow wf;
  write_workflow(db, wf);
  BOOST_TEST(eventually([&] { return jobs(wf.id) == 1; }, 15s));
  BOOST_TEST(
      eventually([&] { return reactor->output().find("listening again after reconnect") != std::string::npos; }, 15s));
}

BOOST_FIXTURE_TEST_CASE(a_failed_workflow_or_one_without_jobs_creates_no_job, Fixture) {
  SampleWorkflow failed;
  failed.complete = false;
  SampleWorkflow no_jobs;
  no_jobs.job_ids = {};
  SampleWorkflow imported_by_python;
  imported_by_python.python_import_task = true;
  write_workflow(db, failed);
  write_workflow(db, no_jobs);
  write_workflow(db, imported_by_python);
  std::string out;
  BOOST_REQUIRE(run_reactor(config, {"--log-format", "json", "run", "--once"}, &out) == 0);
  BOOST_TEST(jobs(failed.id) == 0);
  BOOST_TEST(jobs(no_jobs.id) == 0);
  BOOST_TEST(db.scalar("SELECT reason FROM biomero_reactor.workflows WHERE workflow_id = $1",
                       pg::params(no_jobs.id.str())) == "workflow has no SLURM job");
  BOOST_TEST(db.scalar("SELECT state FROM biomero_reactor.jobs WHERE workflow_id = $1",
                       pg::params(imported_by_python.id.str())) == "skipped");
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.workflows WHERE workflow_id = $1",
                      pg::params(failed.id.str())) == 0);
  BOOST_TEST(out.find("\"workflow skipped\"") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_second_install_sql_changes_nothing, Fixture) {
  const auto before = db.scalar(
      "SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) FROM biomero_reactor.schema_migrations");
  const auto triggers_before = db.count("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'biomero_reactor%'");
  std::string out;
  BOOST_REQUIRE(run_reactor(config, {"install-sql"}, &out) == 0);
  BOOST_TEST(out.find("up to date") != std::string::npos);
  BOOST_TEST(db.scalar("SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) FROM "
                       "biomero_reactor.schema_migrations") == before);
  BOOST_TEST(db.count("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'biomero_reactor%'") == triggers_before);
  BOOST_TEST(triggers_before == 4);  // R01, R02 (two on public.imports), R03
}

BOOST_FIXTURE_TEST_CASE(a_database_newer_than_the_binary_is_refused, Fixture) {
  db.query(
      "INSERT INTO biomero_reactor.schema_migrations (version, name, checksum, binary_version) "
      "VALUES (999, '999_future.sql', 'x', '9.9.9')");
  std::string out;
  BOOST_TEST(run_reactor(config, {"install-sql"}, &out) == 1);
  BOOST_TEST(out.find("newer than this binary") != std::string::npos);
  BOOST_TEST(run_reactor(config, {"run", "--once"}, &out) == 1);
  BOOST_TEST(out.find("upgrade biomero-reactor") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(without_biomero_tables_install_sql_reports_them_missing_and_check_says_so) {
  TestDb db(false);
  db.script("DROP TABLE public.workflowtracker_events; DROP TABLE public.imports CASCADE");
  TempTree tree;
  const auto config = write_reactor_config(tree.path(), db.conninfo(), "");
  std::string out;
  BOOST_REQUIRE(run_reactor(config, {"install-sql"}, &out) == 0);
  BOOST_TEST(out.find("trigger NOT installed on public.workflowtracker_events") != std::string::npos);
  BOOST_TEST(out.find("trigger NOT installed on public.imports") != std::string::npos);
  BOOST_TEST(run_reactor(config, {"check"}, &out) == 1);
  BOOST_TEST(out.find("public.imports does not exist") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_bad_config_exits_78_naming_the_key) {
  TempTree tree;
  const auto config = tree.write("reactor.yml", "import:\n  timeout: 5 minutes\n");
  std::string out;
  BOOST_TEST(run_reactor(config, {"check"}, &out) == 78);
  BOOST_TEST(out.find("import.timeout") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
