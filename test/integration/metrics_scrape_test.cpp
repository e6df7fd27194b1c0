// /metrics as Prometheus first sees it, before any job ran: every family already there
// (the step histograms with zero counts, jobs by state, process_*), and the database
// gauges that age the oldest waiting order and pending job, read at most once a second.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <ctime>
#include <map>
#include <sstream>

#include "biomero_reactor/database_gauges.hpp"
#include "biomero_reactor/http_endpoint.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

// Two reads through one DatabaseGauges, as two scrapes within a second make them.
std::pair<std::optional<DatabaseReading>, std::uint64_t> read_twice(const std::string& conninfo) {
  boost::asio::io_context io;
  pg::Pool pool(io.get_executor(), conninfo, 1, std::chrono::seconds(10));
  DatabaseGauges gauges(pool);
  std::optional<DatabaseReading> first, second;
  std::exception_ptr error;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        first = co_await gauges.read();
        second = co_await gauges.read();
      },
      [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
  BOOST_TEST(second.has_value() == first.has_value());
  return {first, gauges.reads()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics_scrape_test)

BOOST_AUTO_TEST_CASE(every_family_is_there_from_the_first_scrape) {
  TestDb db;
  TempTree tree;
  const std::string listen = "127.0.0.1:" + free_local_port();
  fs::create_directories(tree.path() / "data");
  const auto cfg = write_reactor_config(tree.path(), db.conninfo(),
                                        pipeline_yaml(tree.path()) + "http:\n  listen: \"" + listen + "\"\n");
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return http_status(listen, "/readyz") == 200U; }), reactor->output());
  const std::string body = http_get(listen, "/metrics", std::chrono::seconds(10)).body;
  const auto m = parse_metrics(body);
  for (const char* state : {"started", "archiving", "archived", "submitted", "imported", "failed"}) {
    const std::string labels = std::string("{state=\"") + state + "\"}";
    BOOST_TEST(m.at("biomero_reactor_step_duration_seconds_count" + labels) == 0, state);
    BOOST_TEST(m.at("biomero_reactor_step_duration_seconds_sum" + labels) == 0, state);
  }
  for (const char* state :
       {"pending", "started", "archiving", "archived", "submitted", "imported", "failed", "skipped"}) {
    BOOST_TEST(m.at(std::string("biomero_reactor_jobs{state=\"") + state + "\"}") == 0, state);
  }
  BOOST_TEST(m.at("biomero_reactor_jobs_total{outcome=\"imported\"}") == 0);
  BOOST_TEST(m.at("biomero_reactor_step_retries_total") == 0);
  BOOST_TEST(m.at("biomero_reactor_ready") == 1);
  BOOST_TEST(m.at("biomero_reactor_oldest_waiting_order_age_seconds") == 0);
  BOOST_TEST(m.at("biomero_reactor_oldest_pending_job_age_seconds") == 0);
  BOOST_TEST(m.at("biomero_reactor_notification_queue_usage_ratio") >= 0);
  BOOST_TEST(m.at("biomero_reactor_notification_queue_usage_ratio") <= 1);
  BOOST_TEST(body.find("# TYPE biomero_reactor_step_duration_seconds histogram") != std::string::npos);
  // process_*: this reactor, not the test.
  const double now = static_cast<double>(std::time(nullptr));
  BOOST_TEST(m.at("process_start_time_seconds") > now - 120);
  BOOST_TEST(m.at("process_start_time_seconds") <= now + 1);
  BOOST_TEST(m.at("process_resident_memory_bytes") > 1e6);
  BOOST_TEST(m.at("process_open_fds") >= 3);
  BOOST_TEST(m.at("process_max_fds") >= m.at("process_open_fds"));
  BOOST_TEST(m.count("process_cpu_seconds_total") == 1U);
  BOOST_TEST(body.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(the_oldest_waiting_order_and_pending_job_are_aged_from_the_table) {
  TestDb db;
  // A pending job (backing off: not due for a day) that became pending an hour ago, and a
  // submitted job whose order went to the importer 20 minutes ago; an older order of an
  // earlier submission no longer waits.
  db.script(
      "INSERT INTO biomero_reactor.jobs (id, workflow_id, slurm_job_id, state, next_run_at) VALUES "
      " (1, gen_random_uuid(), '11', 'pending', now() + interval '1 day'), "
      " (2, gen_random_uuid(), '12', 'submitted', now()), (3, gen_random_uuid(), '13', 'imported', now());"
      "UPDATE biomero_reactor.jobs SET submission = 2 WHERE id = 2;"
      "INSERT INTO biomero_reactor.job_history (job_id, to_state, attempt, at) VALUES "
      " (1, 'pending', 1, now() - interval '1 hour');"
      "INSERT INTO biomero_reactor.orders (order_uuid, job_id, attempt, submission, kind, files, submitted_at) VALUES "
      " (gen_random_uuid(), 2, 1, 2, 'images', '[]', now() - interval '20 minutes'), "
      " (gen_random_uuid(), 2, 1, 1, 'images', '[]', now() - interval '3 hours');");
  const auto [reading, reads] = read_twice(db.conninfo());
  BOOST_REQUIRE(reading.has_value());
  BOOST_TEST(reads == 1U);  // the second read within a second reused the first
  const JobGauges& g = reading->jobs;
  std::map<std::string, std::int64_t> by_state(g.jobs_by_state.begin(), g.jobs_by_state.end());
  BOOST_TEST(by_state.size() == 8U);
  BOOST_TEST(by_state.at("pending") == 1);
  BOOST_TEST(by_state.at("submitted") == 1);
  BOOST_TEST(by_state.at("imported") == 1);
  BOOST_TEST(by_state.at("failed") == 0);
  BOOST_TEST(g.orders_waiting == 1);
  BOOST_TEST(g.oldest_waiting_order_age_seconds >= 1200);
  BOOST_TEST(g.oldest_waiting_order_age_seconds < 1200 + 60);
  BOOST_TEST(g.oldest_pending_job_age_seconds >= 3600);
  BOOST_TEST(g.oldest_pending_job_age_seconds < 3600 + 60);

  MetricsText text;
  write_database_gauges(text, reading);
  const auto m = parse_metrics(text.str());
  BOOST_TEST(m.at("biomero_reactor_jobs{state=\"pending\"}") == 1);
  BOOST_TEST(m.at("biomero_reactor_orders_waiting") == 1);
  BOOST_TEST(m.at("biomero_reactor_database_up") == 1);
  MetricsText down;
  write_database_gauges(down, std::nullopt);
  BOOST_TEST(down.str().find("biomero_reactor_database_up 0\n") != std::string::npos);
  BOOST_TEST(down.str().find("biomero_reactor_jobs{") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
