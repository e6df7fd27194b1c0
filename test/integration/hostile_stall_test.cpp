// Issue #13, items 3 and 4: jobs that cannot go on must not stop the others. Results that
// never come do not hold the job slots (the job is parked); a worker thread blocked in a
// read (a hung mount, here the test build's hook) fails its step after
// jobs.file_step_timeout, is reported in /readyz and /metrics, and a stop still ends the
// process within jobs.shutdown_grace.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <string>

#include "biomero_reactor/http_endpoint.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

// pipeline_yaml with another results.wait.
std::string pipeline_yaml_waiting(const fs::path& dir, const std::string& wait) {
  std::string yaml = pipeline_yaml(dir);
  const std::string from = "  wait: 10s\n";
  const auto at = yaml.find(from);
  BOOST_REQUIRE(at != std::string::npos);
  return yaml.replace(at, from.size(), "  wait: " + wait + "\n");
}

std::string state_of(TestDb& db, const std::string& slurm_job_id) {
  return db.scalar("SELECT state FROM biomero_reactor.jobs WHERE slurm_job_id = $1", pg::params(slurm_job_id));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_stall_test)

// Item 4: with two slots and four workflows whose results never appear, a good workflow
// behind them waited for a whole results.wait (here an hour). Now the waiting jobs are
// parked between looks, without a failed step or a warning per look.
BOOST_AUTO_TEST_CASE(jobs_waiting_for_results_do_not_hold_the_slots) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "results");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(),
                                               pipeline_yaml_waiting(tree.path(), "1h") + "jobs:\n  slots: 2\n");
  for (const std::string job : {"9001", "9002", "9003", "9004"}) {
    SampleWorkflow never;
    never.job_ids = {job};
    write_workflow(db, never);
  }
  SampleWorkflow good;
  write_completed_workflow(db, tree.path() / "results", good);
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  // On main this took the whole hour; generous for a loaded machine, far below the wait.
  BOOST_TEST(eventually([&] { return state_of(db, "1234") == "imported"; }, 60s), reactor->output());
  for (const std::string job : {"9001", "9002", "9003", "9004"}) {
    BOOST_TEST(state_of(db, job) == "archiving", job);
  }
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE slurm_job_id LIKE '900_' "
                      "AND (step_failures > 0 OR error IS NOT NULL)") == 0);
  // Entered `archiving` once each: a look is not a step.
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history h JOIN biomero_reactor.jobs j "
                      "ON j.id = h.job_id WHERE j.slurm_job_id LIKE '900_' AND h.to_state = 'archiving'") == 4);
  BOOST_TEST(reactor->output().find("will retry") == std::string::npos, reactor->output());
  BOOST_TEST(reactor->output().find("without holding a slot") != std::string::npos);
}

// Item 3: the only worker thread blocks for good in the archive step (the test build's
// hook, as a read on a hung NFS mount would). The step times out and is retried later,
// /readyz says every worker is stuck, /metrics counts it, and SIGTERM still ends the
// process within jobs.shutdown_grace.
BOOST_AUTO_TEST_CASE(a_worker_blocked_in_a_read_fails_its_step_is_reported_and_does_not_block_a_stop) {
  TestDb db;
  TempTree tree;
  const std::string listen = "127.0.0.1:" + free_local_port();
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(),
                                               pipeline_yaml(tree.path()) +
                                                   "jobs:\n  workers: 1\n  file_step_timeout: 2s\n"
                                                   "  shutdown_grace: 3s\n  max_attempts: 100\n"
                                                   "  retry_initial: 500ms\n  retry_max: 1s\n"
                                                   "http:\n  listen: \"" +
                                                   listen + "\"\n");
  fs::create_directories(tree.path() / "data");
  SampleWorkflow wf;
  write_completed_workflow(db, tree.path() / "results", wf);
  auto reactor =
      start_reactor(config, tree.path() / "reactor.log", {}, {{"BIOMERO_REACTOR_TEST_BLOCK_FILE_STEP", "1234"}});
  BOOST_REQUIRE_MESSAGE(eventually([&] {
                          return db.count(
                                     "SELECT count(*) FROM biomero_reactor.jobs WHERE step_failures > 0 "
                                     "AND error LIKE '%jobs.file_step_timeout%'") == 1;
                        }),
                        reactor->output());
  BOOST_TEST(state_of(db, "1234") == "archiving");  // transient: retried, not failed
  BOOST_TEST(reactor->output().find("blocking a worker thread for good") != std::string::npos);

  HttpAnswer ready;
  BOOST_TEST(eventually([&] {
               try {
                 ready = http_get(listen, "/readyz", std::chrono::seconds(10));
               } catch (const std::exception&) {
                 return false;
               }
               return ready.status == 503u && ready.body.find("stuck") != std::string::npos;
             }),
             ready.body);
  BOOST_TEST(ready.body.find("\"workers_stuck\":1") != std::string::npos, ready.body);
  const HttpAnswer metrics = http_get(listen, "/metrics", std::chrono::seconds(10));
  BOOST_TEST(metrics.body.find("biomero_reactor_workers_stuck 1") != std::string::npos, metrics.body);

  const auto stop_sent = std::chrono::steady_clock::now();
  reactor->signal(SIGTERM);
  // shutdown_grace is 3s; a thread that cannot be joined must not hold the exit.
  const auto code = reactor->wait(30s);
  BOOST_TEST_REQUIRE(code.has_value(), "still running 30s after SIGTERM\n" + reactor->output());
  BOOST_TEST(*code == 0);
  const auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - stop_sent);
  BOOST_TEST(took.count() < 20);
  BOOST_TEST(reactor->output().find("exiting without waiting for worker threads") != std::string::npos,
             reactor->output());
}

BOOST_AUTO_TEST_SUITE_END()
