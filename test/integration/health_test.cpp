// What operators and their tooling see of a running reactor: /healthz and /readyz as the
// database goes away and comes back, /metrics after a job ran, and the systemd
// notifications (READY=1 once caught up, WATCHDOG=1, STOPPING=1) on $NOTIFY_SOCKET.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <cstring>
#include <map>
#include <sstream>

#include "biomero_reactor/http_endpoint.hpp"
#include "biomero_reactor/migrations.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

// A reactor with its HTTP endpoint on, fast LISTEN reconnects, and a workflow's files.
struct Watched {
  TestDb db;
  TempTree tree;
  fs::path results = tree.path() / "results";
  fs::path data = tree.path() / "data";
  std::string listen = "127.0.0.1:" + free_local_port();

  fs::path config() {
    fs::create_directories(data);
    return write_reactor_config(tree.path(), db.conninfo(),
                                pipeline_yaml(tree.path()) +
                                    "import:\n  degraded_poll_interval: 200ms\n"
                                    "listener:\n  heartbeat_interval: 1200ms\n  heartbeat_timeout: 1s\n"
                                    "  backoff_initial: 100ms\n  backoff_max: 300ms\n"
                                    "http:\n  listen: \"" +
                                    listen + "\"\n");
  }

  HttpAnswer get(const std::string& target) { return http_get(listen, target, std::chrono::seconds(10)); }

  // 0 when the endpoint does not answer (yet).
  unsigned status(const std::string& target) { return http_status(listen, target); }

  void set_connections_allowed(bool allowed) {
    const std::string sql = "ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS " + (allowed ? "true" : "false");
    run_on_postgres(sql);
    if (!allowed) {
      run_on_postgres("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db.name() + "'");
    }
  }

  static void run_on_postgres(const std::string& sql) {
    boost::asio::io_context io;
    pg::Pool pool(io.get_executor(), Cluster::conninfo("postgres"), 1, std::chrono::seconds(10));
    std::exception_ptr error;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          auto c = co_await pool.acquire();
          co_await c->query(sql);
        },
        [&](std::exception_ptr e) { error = e; });
    io.run();
    if (error) std::rethrow_exception(error);
  }
};

// A datagram socket standing in for systemd's notification socket.
struct NotifySocket {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  fs::path path;
  explicit NotifySocket(fs::path p) : path(std::move(p)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{0, 200000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd); }
  // Waits up to `timeout` for a datagram containing `wanted`; every datagram seen is kept.
  bool receive_until(const std::string& wanted, std::chrono::milliseconds timeout, std::vector<std::string>& seen) {
    return eventually(
        [&] {
          char buf[512];
          const auto n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) return false;
          seen.emplace_back(buf, static_cast<std::size_t>(n));
          return seen.back().find(wanted) != std::string::npos;
        },
        timeout);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(health_test)

BOOST_FIXTURE_TEST_CASE(readiness_follows_the_database_while_health_stays_up, Watched) {
  auto reactor = start_reactor(config(), tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return status("/readyz") == 200; }), reactor->output());
  const auto ready = boost::json::parse(get("/readyz").body).as_object();
  BOOST_TEST(ready.at("ready").as_bool());
  BOOST_TEST(!ready.at("poll_only").as_bool());

  set_connections_allowed(false);
  BOOST_REQUIRE_MESSAGE(eventually([&] { return status("/readyz") == 503; }), reactor->output());
  const auto not_ready = boost::json::parse(get("/readyz").body).as_object();
  BOOST_TEST(!not_ready.at("ready").as_bool());
  const std::string reasons = boost::json::serialize(not_ready.at("reasons"));
  BOOST_TEST(reasons.find("events database unreachable") != std::string::npos, reasons);
  BOOST_TEST(status("/healthz") == 200);
  const auto down = parse_metrics(get("/metrics").body);
  BOOST_TEST(down.at("biomero_reactor_ready") == 0);
  BOOST_TEST(down.at("biomero_reactor_database_up") == 0);
  BOOST_TEST(down.count("biomero_reactor_jobs{state=\"pending\"}") == 0U);

  set_connections_allowed(true);
  BOOST_TEST_MESSAGE("database allowed again");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return status("/readyz") == 200; }), reactor->output());
  BOOST_TEST(reactor->running());
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
}

BOOST_FIXTURE_TEST_CASE(storage_that_is_not_mounted_makes_the_reactor_not_ready, Watched) {
  const auto cfg = config();
  fs::remove_all(data);
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return status("/readyz") == 503; }), reactor->output());
  const std::string body = get("/readyz").body;
  BOOST_TEST(body.find("group storage base_dir " + data.string() + " is not writable") != std::string::npos, body);
  fs::create_directories(data);
  BOOST_TEST(eventually([&] { return status("/readyz") == 200; }));
}

BOOST_FIXTURE_TEST_CASE(metrics_count_the_job_its_bytes_and_the_event_that_started_it, Watched) {
  const auto cfg = config();
  auto importer = start_standin_importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "200"});
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log");
  BOOST_REQUIRE_MESSAGE(eventually([&] { return status("/readyz") == 200; }), reactor->output());

  SampleWorkflow wf;
  fs::create_directories(results);
  write_job_results(results, "1234");
  db.query(
      "INSERT INTO public.biomero_workflow_progress_view (workflow_id, status, progress, \"user\", \"group\", "
      "name, start_time) VALUES ($1, 'COMPLETED', '100%', 2, 3, 'cellexpansion', now())",
      pg::params(wf.id.str()));
  write_workflow(db, wf);
  BOOST_REQUIRE_MESSAGE(
      eventually([&] { return db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE state = 'imported'") == 1; }),
      reactor->output());

  const auto answer = get("/metrics");
  BOOST_TEST(answer.status == 200U);
  BOOST_TEST(answer.content_type.find("text/plain; version=0.0.4") == 0U);
  BOOST_TEST(answer.body.find("# TYPE biomero_reactor_jobs_total counter") != std::string::npos);
  const auto m = parse_metrics(answer.body);
  BOOST_TEST(m.at("biomero_reactor_jobs_total{outcome=\"imported\"}") == 1);
  BOOST_TEST(m.at("biomero_reactor_jobs_total{outcome=\"failed\"}") == 0);
  BOOST_TEST(m.count("biomero_reactor_jobs_total{outcome=\"retried\"}") == 0U);  // outcomes only
  BOOST_TEST(m.at("biomero_reactor_step_retries_total") == 0);
  BOOST_TEST(m.at("biomero_reactor_jobs{state=\"imported\"}") == 1);
  BOOST_TEST(m.at("biomero_reactor_jobs{state=\"pending\"}") == 0);
  BOOST_TEST(m.at("biomero_reactor_oldest_waiting_order_age_seconds") == 0);
  BOOST_TEST(m.at("biomero_reactor_oldest_pending_job_age_seconds") == 0);
  BOOST_TEST(m.at("biomero_reactor_orders_submitted_total") == 1);
  BOOST_TEST(m.at("biomero_reactor_orders_waiting") == 0);
  BOOST_TEST(m.at("biomero_reactor_extracted_bytes_total") > 0);
  BOOST_TEST(m.at("biomero_reactor_copied_bytes_total") > 0);
  // Written after the reactor was listening: the trigger's NOTIFY brought it in.
  BOOST_TEST(m.at("biomero_reactor_events_total{source=\"notify\"}") == 1);
  BOOST_TEST(m.at("biomero_reactor_notifications_total{channel=\"biomero_reactor_workflow\"}") >= 1);
  BOOST_TEST(m.at("biomero_reactor_notifications_total{channel=\"biomero_reactor_import\"}") >= 1);
  BOOST_TEST(m.at("biomero_reactor_listener_up{database=\"events\"}") == 1);
  BOOST_TEST(m.at("biomero_reactor_listener_reconnects_total{database=\"events\"}") == 0);
  BOOST_TEST(m.at("biomero_reactor_database_up") == 1);
  BOOST_TEST(m.at("biomero_reactor_ready") == 1);
  BOOST_TEST(m.count("biomero_reactor_notification_queue_usage_ratio") == 1U);
  const std::string build_info = "biomero_reactor_build_info{version=\"" BIOMERO_REACTOR_VERSION "\",schema=\"" +
                                 std::to_string(binary_schema_version()) + "\"}";
  BOOST_TEST(m.at(build_info) == 1);
  // One observation per step the job went through.
  for (const char* state : {"started", "archiving", "archived", "submitted", "imported"}) {
    BOOST_TEST(m.at(std::string("biomero_reactor_step_duration_seconds_count{state=\"") + state + "\"}") == 1);
  }
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
}

BOOST_FIXTURE_TEST_CASE(systemd_hears_ready_watchdog_and_stopping, Watched) {
  const auto cfg = config();
  NotifySocket systemd(tree.path() / "notify.sock");
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {},
                               {{"NOTIFY_SOCKET", systemd.path.string()}, {"WATCHDOG_USEC", "400000"}});
  std::vector<std::string> seen;
  BOOST_REQUIRE_MESSAGE(systemd.receive_until("READY=1", 30s, seen), reactor->output());
  // READY=1 only once LISTENing and caught up (sent at the end of the catch-up; the
  // listener logs "listening" right after it, so the line may trail the datagram).
  BOOST_TEST(eventually([&] { return reactor->output().find("\"msg\":\"listening\"") != std::string::npos; }, 5s),
             reactor->output());
  seen.clear();
  BOOST_REQUIRE(systemd.receive_until("WATCHDOG=1", 5s, seen));
  BOOST_REQUIRE(systemd.receive_until("WATCHDOG=1", 5s, seen));
  reactor->signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(systemd.receive_until("STOPPING=1", 10s, seen), reactor->output());
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
