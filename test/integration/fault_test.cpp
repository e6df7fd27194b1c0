// Faults against the real PostgreSQL and the stand-in BIOMERO.importer (issue 5): a
// reactor killed at each step, its connections terminated, PostgreSQL restarted, a
// half-open LISTEN connection, two reactors on one database (one of them killed) and an
// importer restarting mid-import. Whatever happens, the user sees each job imported
// exactly once: one .analyzed tree, one order per kind per submission, one IMPORTED,
// and BIOMERO's event store stays consistent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <mutex>
#include <thread>

#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/import_task.hpp"
#include "biomero_reactor/orders.hpp"
#include "biomero_reactor/workflow.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

// A loopback TCP relay to the cluster that can stop forwarding on a connection without
// closing it: to the reactor, a peer that vanished without a FIN or RST (a half-open
// connection). Other and new connections are still relayed.
class TcpRelay {
 public:
  explicit TcpRelay(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      throw std::runtime_error("relay: cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }

  ~TcpRelay() {
    stop_ = true;
    thread_.join();
    for (const auto& p : pairs_) {
      ::close(p.client);
      ::close(p.server);
    }
    ::close(listen_fd_);
  }

  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int accepted() const { return accepted_; }

  // The relayed connection whose upstream end has this local port (PostgreSQL's
  // client_port) goes silent in both directions; its sockets stay open. False if none.
  bool freeze(int upstream_local_port) {
    std::lock_guard lock(mutex_);
    for (auto& p : pairs_) {
      sockaddr_in a{};
      socklen_t len = sizeof a;
      if (::getsockname(p.server, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
          ntohs(a.sin_port) == upstream_local_port) {
        p.frozen = true;
        return true;
      }
    }
    return false;
  }

  // Every connection relayed so far goes silent (a NAT or firewall dropping its state
  // for them all); new connections are relayed as before. Returns how many.
  int freeze_all() {
    std::lock_guard lock(mutex_);
    for (auto& p : pairs_) p.frozen = true;
    return static_cast<int>(pairs_.size());
  }

 private:
  struct Pair {
    int client = -1, server = -1;
    bool frozen = false;
  };

  static sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    return a;
  }

  void accept_one() {
    const int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) return;
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(upstream_port_);
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      return;
    }
    pairs_.push_back({client, server, false});
    ++accepted_;
  }

  // Copies what `from` has to `to`; false when either side is gone.
  static bool forward(int from, int to) {
    char buf[65536];
    const ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }

  void run() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      {
        std::lock_guard lock(mutex_);
        for (const auto& p : pairs_) {
          if (p.frozen) continue;
          fds.push_back({p.client, POLLIN, 0});
          fds.push_back({p.server, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      std::lock_guard lock(mutex_);
      if ((fds[0].revents & POLLIN) != 0) accept_one();
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = std::find_if(pairs_.begin(), pairs_.end(),
                               [&](const Pair& p) { return p.client == fds[i].fd || p.server == fds[i].fd; });
        if (it == pairs_.end() || it->frozen) continue;  // closed earlier in this round, or frozen since
        const bool from_client = it->client == fds[i].fd;
        if (!forward(fds[i].fd, from_client ? it->server : it->client)) {
          ::close(it->client);
          ::close(it->server);
          pairs_.erase(it);
        }
      }
    }
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::vector<Pair> pairs_;
  std::thread thread_;
};

int cluster_port() {
  return std::stoi(read_file(Cluster::state_dir() / "port"));
}

// The importer under its own application name, so terminating the reactor's backends
// leaves it alone.
std::unique_ptr<Process> importer(const std::string& conninfo, const fs::path& log, std::vector<std::string> extra) {
  return start_standin_importer(conninfo + " application_name=standin-importer", log, std::move(extra));
}

std::string step_log(const std::string& text) {
  return "\"" + text + "\"";
}

struct Faults {
  TestDb db;
  TempTree tree;
  fs::path results = tree.path() / "results";
  fs::path data = tree.path() / "data";
  int next_job = 7000;

  // Fast timings: a lease a restarted reactor waits out in 5 s (the shortest the config
  // allows), a heartbeat that notices a silent LISTEN connection within 2.5 s.
  fs::path config(const std::string& events_url = "", const std::string& intake = "intake:\n  poll_interval: 1s\n",
                  const std::string& lease = "5s") {
    return write_reactor_config(tree.path(), events_url.empty() ? db.conninfo() : events_url,
                                pipeline_yaml(tree.path()) +
                                    "import:\n  degraded_poll_interval: 200ms\n  poll_interval: 1s\n"
                                    "jobs:\n  lease: " +
                                    lease +
                                    "\n  shutdown_grace: 5s\n"
                                    "listener:\n  heartbeat_interval: 1500ms\n  heartbeat_timeout: 1s\n"
                                    "  backoff_initial: 100ms\n  backoff_max: 500ms\n" +
                                    intake);
  }

  // One completed workflow with one SLURM job whose results are where BIOMERO leaves them.
  SampleWorkflow completed_workflow() {
    SampleWorkflow wf;
    wf.job_ids = {std::to_string(next_job++)};
    write_completed_workflow(db, results, wf);
    return wf;
  }

  // A reactor whose every connection goes through `relay`, once it is LISTENing. Intake's
  // backstop poll is off: only NOTIFY, a listener catch-up or the degraded poll creates jobs.
  std::unique_ptr<Process> start_listening_through(const TcpRelay& relay) {
    const std::string via_relay =
        "host=127.0.0.1 port=" + std::to_string(relay.port()) + " user=postgres dbname=" + db.name();
    auto reactor = start_reactor(config(via_relay, "intake:\n  poll_interval: 1h\n"), tree.path() / "reactor.log");
    BOOST_REQUIRE(eventually([&] { return reactor->output().find(step_log("listening")) != std::string::npos; }));
    return reactor;
  }

  std::vector<SampleWorkflow> completed_workflows(int n) {
    std::vector<SampleWorkflow> out;
    for (int i = 0; i < n; ++i) out.push_back(completed_workflow());
    return out;
  }

  std::string job_state(const SampleWorkflow& wf) {
    return db.scalar(
        "SELECT string_agg(state, ',' ORDER BY slurm_job_id) FROM biomero_reactor.jobs WHERE workflow_id = $1",
        pg::params(wf.id.str()));
  }

  std::int64_t jobs_in(const std::string& states) {
    return db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE state = ANY($1::text[])", pg::params(states));
  }

  std::int64_t orders_with_stage(const std::string& stage) {
    return db.count("SELECT count(*) FROM public.imports WHERE stage = $1", pg::params(stage));
  }

  std::int64_t terminate_reactor_backends() {
    return db.count(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'biomero-reactor' AND pid <> pg_backend_pid()");
  }

  // What the user must see after any fault: every job imported once, with exactly the
  // expected orders (`submissions` per job, one per kind each) and one IMPORTED.
  void expect_each_job_imported_exactly_once(const std::vector<SampleWorkflow>& wfs, int submissions = 1) {
    const auto events = db.events();
    std::size_t jobs = 0;
    for (const auto& wf : wfs) {
      BOOST_TEST_CONTEXT("workflow " << wf.id << " job " << wf.job_ids[0]) {
        BOOST_TEST(job_state(wf) == "imported");

        // One published tree per job, no build left aside.
        std::vector<std::string> entries;
        const fs::path wf_dir = data / "Demo" / ".analyzed" / wf.id.str();
        if (fs::is_directory(wf_dir)) {
          for (const auto& e : fs::directory_iterator(wf_dir)) entries.push_back(e.path().filename().string());
        }
        std::sort(entries.begin(), entries.end());
        BOOST_TEST(entries == wf.job_ids, boost::test_tools::per_element());

        for (const auto& job : wf.job_ids) {
          ++jobs;
          BOOST_TEST(fs::is_regular_file(wf_dir / job / (job + "_out") / "data" / "out" / "result_image.tiff"));
          // Each submission's one images order, inserted once.
          for (int s = 1; s <= submissions; ++s) {
            const std::string uuid = order_uuid(wf.id, job, "images", s).str();
            BOOST_TEST(db.count("SELECT count(*) FROM public.imports WHERE uuid = $1 AND stage = 'Import Pending'",
                                pg::params(uuid)) == 1);
          }
          BOOST_TEST(
              db.count("SELECT count(*) FROM biomero_reactor.orders o JOIN biomero_reactor.jobs j ON j.id = o.job_id "
                       "WHERE j.workflow_id = $1 AND j.slurm_job_id = $2",
                       pg::params(wf.id.str(), job)) == submissions);
          BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history h JOIN biomero_reactor.jobs j "
                              "ON j.id = h.job_id WHERE j.workflow_id = $1 AND h.to_state = 'started'",
                              pg::params(wf.id.str())) == 1);
        }

        // One import task per job, reporting IMPORTING, IMPORTED and completion once each.
        const Workflow decoded = decode_workflow(wf.id, events);
        std::size_t import_tasks = 0;
        for (const auto& t : decoded.tasks) import_tasks += t.name == import_task_name ? 1 : 0;
        BOOST_TEST(import_tasks == wf.job_ids.size());
        for (const auto& job : wf.job_ids) {
          const Uuid task = import_task_for(wf.id, job, 1).id;
          std::vector<std::string> seen;
          for (const auto& e : events) {
            if (e.originator_id != task) continue;
            if (e.topic == topics::status_updated) seen.emplace_back(decode_state(e.state).at("status").as_string());
            if (e.topic == topics::task_completed) seen.emplace_back("TaskCompleted");
            if (e.topic == topics::task_failed) seen.emplace_back("TaskFailed");
          }
          const std::vector<std::string> expected{"IMPORTING", "IMPORTED", "TaskCompleted"};
          BOOST_TEST(seen == expected, boost::test_tools::per_element());
        }
      }
    }
    // Nothing but the expected orders reached the importer.
    BOOST_TEST(db.count("SELECT count(DISTINCT uuid) FROM public.imports") ==
               static_cast<std::int64_t>(jobs) * submissions);
    std::size_t imported = 0;
    for (const auto& e : events) {
      imported += e.topic == topics::status_updated && decode_state(e.state).at("status") == "IMPORTED" ? 1 : 0;
    }
    BOOST_TEST(imported == jobs);
    // BIOMERO's versions stay 0..n-1 per aggregate.
    BOOST_TEST(db.count("SELECT count(*) FROM (SELECT originator_id, max(originator_version) + 1 = count(*) AS ok "
                        "FROM workflowtracker_events GROUP BY originator_id) v WHERE NOT ok") == 0);
  }
};

const std::vector<std::string> pipeline_steps{"started", "archiving", "archived", "submitted", "imported"};

}  // namespace

BOOST_AUTO_TEST_SUITE(fault_test)

BOOST_DATA_TEST_CASE_F(Faults, a_reactor_killed_right_after_a_step_resumes_and_imports_once,
                       boost::unit_test::data::make(pipeline_steps), step) {
  const auto cfg = config();
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  const SampleWorkflow wf = completed_workflow();

  auto killed = start_reactor(cfg, tree.path() / "killed.log", {}, {{"BIOMERO_REACTOR_TEST_STOP_AT_STEP", step}});
  BOOST_REQUIRE_EQUAL(killed->wait(30s).value_or(-1), 137);
  BOOST_REQUIRE_EQUAL(job_state(wf), step);  // the kill came right after this step committed

  std::string out;
  BOOST_REQUIRE_EQUAL(run_reactor(cfg, {"--log-format", "json", "run", "--once"}, &out), 0);
  expect_each_job_imported_exactly_once({wf});
  if (step != "imported") BOOST_TEST(out.find(step_log("job imported")) != std::string::npos);
}

// A lease far longer than the test may take: the job finishes only if the restarted
// reactor frees the lease it held under the same name before it was killed (a restarted
// container: same host name, pid 1; systemd: --instance %H).
BOOST_FIXTURE_TEST_CASE(a_restarted_reactor_resumes_its_own_jobs_without_waiting_out_the_lease, Faults) {
  const auto cfg = config("", "intake:\n  poll_interval: 1s\n", "1h");
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  const SampleWorkflow wf = completed_workflow();
  auto killed = start_reactor(cfg, tree.path() / "killed.log", {"--instance", "reactor-x"},
                              {{"BIOMERO_REACTOR_TEST_STOP_AT_STEP", "archived"}});
  BOOST_REQUIRE_EQUAL(killed->wait(30s).value_or(-1), 137);
  BOOST_REQUIRE_EQUAL(job_state(wf), "archived");
  BOOST_REQUIRE_EQUAL(db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE lease_owner = 'reactor-x' AND "
                               "lease_expires_at > now() + '50 min'"),
                      1);

  auto restarted = start_reactor(cfg, tree.path() / "restarted.log", {"--instance", "reactor-x", "--once"});
  BOOST_REQUIRE_EQUAL(restarted->wait(60s).value_or(-1), 0);
  expect_each_job_imported_exactly_once({wf});
  BOOST_TEST(restarted->output().find("resuming the jobs this instance held") != std::string::npos);
}

// Whether the reactor behind another name still runs cannot be known from here, even
// for a pid on this host (another pid namespace may share the host name): its lease
// expires.
BOOST_FIXTURE_TEST_CASE(leases_under_other_names_are_left_to_expire, Faults) {
  const auto cfg = config("", "intake:\n  poll_interval: 1s\n", "1h");
  const SampleWorkflow wf = completed_workflow();
  auto killed = start_reactor(cfg, tree.path() / "killed.log", {}, {{"BIOMERO_REACTOR_TEST_STOP_AT_STEP", "started"}});
  BOOST_REQUIRE_EQUAL(killed->wait(30s).value_or(-1), 137);
  const std::string dead_local_pid = db.scalar("SELECT lease_owner FROM biomero_reactor.jobs");
  BOOST_REQUIRE(!dead_local_pid.empty());
  int run = 0;
  for (const std::string& owner : {dead_local_pid, std::string("elsewhere:1")}) {
    BOOST_TEST_CONTEXT("lease owner " << owner) {
      db.query("UPDATE biomero_reactor.jobs SET lease_owner = $1", pg::params(owner));
      auto reactor = start_reactor(cfg, tree.path() / ("reactor-" + std::to_string(++run) + ".log"));
      BOOST_REQUIRE(eventually([&] { return reactor->output().find("biomero-reactor started") != std::string::npos; }));
      std::this_thread::sleep_for(2s);  // two intake and scheduler passes
      reactor->signal(SIGTERM);
      BOOST_REQUIRE_EQUAL(reactor->wait(30s).value_or(-1), 0);
      BOOST_TEST(job_state(wf) == "started");
      BOOST_TEST(db.scalar("SELECT lease_owner FROM biomero_reactor.jobs") == owner);
      BOOST_TEST(reactor->output().find("resuming the jobs") == std::string::npos);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(terminating_every_reactor_connection_while_orders_wait_still_ends_imported, Faults) {
  const auto cfg = config();
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100", "--delay", "3000"});
  const SampleWorkflow wf = completed_workflow();
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {"--once"});
  BOOST_REQUIRE(eventually([&] { return orders_with_stage("Import Started") == 1; }));
  BOOST_REQUIRE_EQUAL(job_state(wf), "submitted");

  BOOST_REQUIRE_GE(terminate_reactor_backends(), 2);  // the LISTEN session and the pool's
  BOOST_REQUIRE_EQUAL(reactor->wait(60s).value_or(-1), 0);
  expect_each_job_imported_exactly_once({wf});
  BOOST_TEST(reactor->output().find("listening again after reconnect") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(a_postgresql_restart_while_orders_wait_is_survived_and_the_job_ends_imported, Faults) {
  const auto cfg = config();
  const SampleWorkflow wf = completed_workflow();
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {"--once"});
  // No importer yet: the order waits in Import Pending across the restart.
  BOOST_REQUIRE(eventually([&] { return job_state(wf) == "submitted"; }));
  Cluster::restart();
  BOOST_TEST(
      eventually([&] { return reactor->output().find("listening again after reconnect") != std::string::npos; }));
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  BOOST_REQUIRE_EQUAL(reactor->wait(60s).value_or(-1), 0);
  expect_each_job_imported_exactly_once({wf});
}

BOOST_FIXTURE_TEST_CASE(a_silently_dead_listen_connection_is_noticed_by_the_heartbeat_and_replaced, Faults) {
  TcpRelay relay(cluster_port());
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  auto reactor = start_listening_through(relay);

  // Only the LISTEN session goes silent: the pool's connections through the same relay
  // keep working, as when one connection's NAT or firewall state is dropped.
  const auto listener = db.query(
      "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() AND application_name = "
      "'biomero-reactor' AND pid <> pg_backend_pid() AND (query LIKE 'LISTEN %' OR query LIKE "
      "'%pg_listening_channels%')");
  BOOST_REQUIRE_EQUAL(listener.rows(), 1);
  const int before = relay.accepted();
  BOOST_REQUIRE(relay.freeze(static_cast<int>(listener.int64(0, 0))));
  const auto frozen_at = std::chrono::steady_clock::now();
  const SampleWorkflow wf = completed_workflow();  // its NOTIFY goes into the silent connection

  // heartbeat_interval 1500ms + heartbeat_timeout 1s + backoff, with slack for a busy machine.
  BOOST_TEST(
      eventually([&] { return reactor->output().find("listening again after reconnect") != std::string::npos; }, 10s));
  BOOST_TEST_MESSAGE(
      "listening again after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - frozen_at).count()
      << " ms");
  BOOST_TEST(reactor->output().find("did not answer within 1000 ms") != std::string::npos);
  BOOST_TEST(relay.accepted() > before);  // the new session came through the relay too
  BOOST_TEST(eventually([&] { return job_state(wf) == "imported"; }, 30s));
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
  expect_each_job_imported_exactly_once({wf});
}

BOOST_FIXTURE_TEST_CASE(when_every_connection_goes_silent_the_catch_up_does_not_wait_on_the_dead_ones, Faults) {
  TcpRelay relay(cluster_port());
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  auto reactor = start_listening_through(relay);
  std::this_thread::sleep_for(500ms);  // start-up queries done: the pool's connections are idle

  BOOST_REQUIRE_GE(relay.freeze_all(), 2);  // the LISTEN session and the pool's
  const auto frozen_at = std::chrono::steady_clock::now();
  const SampleWorkflow wf = completed_workflow();  // its NOTIFY goes into the silent LISTEN session
  // The catch-up after reconnecting runs on fresh connections: it would otherwise wait
  // out the pool's 30 s I/O timeout on an idle connection that died with the listener's.
  BOOST_TEST(eventually([&] { return !job_state(wf).empty(); }, 10s));
  BOOST_TEST_MESSAGE(
      "job created "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - frozen_at).count()
      << " ms after every connection went silent");
  // A query sent on a pool connection before the listener noticed still waits out that
  // timeout; then everything finishes.
  BOOST_TEST(eventually([&] { return job_state(wf) == "imported"; }, 60s));
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0);
  expect_each_job_imported_exactly_once({wf});
}

// A reactor learns of jobs another instance's intake created only from its own idle
// poll (intake.poll_interval): a short one makes both reactors claim from the start.
constexpr const char* competing_intake = "intake:\n  poll_interval: 100ms\n";

BOOST_FIXTURE_TEST_CASE(two_reactors_on_one_database_import_fifty_workflows_each_once, Faults) {
  const auto cfg = config("", competing_intake);
  const auto wfs = completed_workflows(50);
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100"});
  auto a = start_reactor(cfg, tree.path() / "a.log", {"--once", "--instance", "reactor-a"});
  auto b = start_reactor(cfg, tree.path() / "b.log", {"--once", "--instance", "reactor-b"});
  BOOST_REQUIRE_EQUAL(a->wait(90s).value_or(-1), 0);
  BOOST_REQUIRE_EQUAL(b->wait(30s).value_or(-1), 0);
  expect_each_job_imported_exactly_once(wfs);
  // Whether both took a share depends on timing; the guarantees above do not.
  const auto split = db.query(
      "SELECT instance, count(*) FROM biomero_reactor.job_history WHERE to_state = 'started' "
      "GROUP BY instance ORDER BY instance");
  for (int i = 0; i < split.rows(); ++i)
    BOOST_TEST_MESSAGE(split.text(i, 0) << " started " << split.int64(i, 1) << " jobs");
  BOOST_TEST_WARN(split.rows() == 2);
}

BOOST_FIXTURE_TEST_CASE(when_one_of_two_reactors_is_killed_the_other_finishes_every_job_after_the_lease, Faults) {
  const auto cfg = config("", competing_intake);
  auto imp = importer(db.conninfo(), tree.path() / "importer.log", {"--interval", "100", "--delay", "20"});
  auto a = start_reactor(cfg, tree.path() / "a.log", {"--instance", "reactor-a"});
  auto b = start_reactor(cfg, tree.path() / "b.log", {"--instance", "reactor-b"});
  // Workflows keep completing while reactor-a dies mid-way.
  std::vector<SampleWorkflow> wfs = completed_workflows(20);
  BOOST_REQUIRE(eventually([&] { return jobs_in("{submitted,imported}") >= 10; }));
  a->signal(SIGKILL);
  BOOST_REQUIRE_EQUAL(a->wait(10s).value_or(-1), 128 + SIGKILL);
  const std::int64_t left_by_a = db.count(
      "SELECT count(*) FROM biomero_reactor.jobs WHERE lease_owner = 'reactor-a' AND state NOT IN ('imported', "
      "'failed')");
  BOOST_TEST_MESSAGE("jobs reactor-a held when it was killed: " << left_by_a);
  for (auto& wf : completed_workflows(30)) wfs.push_back(std::move(wf));

  BOOST_TEST(eventually([&] { return jobs_in("{imported}") == 50; }, 60s));
  b->signal(SIGTERM);
  BOOST_TEST(b->wait(30s).value_or(-1) == 0);
  expect_each_job_imported_exactly_once(wfs);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.job_history WHERE instance = 'reactor-a'") > 0);
}

BOOST_FIXTURE_TEST_CASE(an_importer_restarting_mid_import_gets_every_order_resubmitted_and_completed, Faults) {
  const auto cfg = config();
  auto hung = importer(db.conninfo(), tree.path() / "importer1.log", {"--interval", "100", "--hang"});
  const auto wfs = completed_workflows(5);
  auto reactor = start_reactor(cfg, tree.path() / "reactor.log", {"--once"});
  BOOST_REQUIRE(eventually([&] { return orders_with_stage("Import Started") == 5; }));
  hung.reset();  // dies mid-import; its replacement fails open orders without a description
  // The stand-in reads its high-water mark only after failing the open orders: a
  // resubmission committed in between would never be picked up. Hold the reactor until
  // the importer is watching.
  reactor->signal(SIGSTOP);
  auto restarted =
      importer(db.conninfo(), tree.path() / "importer2.log", {"--interval", "100", "--fail-open-orders-on-start"});
  BOOST_REQUIRE(eventually([&] { return restarted->output().find("watching public.imports") != std::string::npos; }));
  reactor->signal(SIGCONT);
  BOOST_REQUIRE_EQUAL(reactor->wait(60s).value_or(-1), 0);
  expect_each_job_imported_exactly_once(wfs, 2);
  BOOST_TEST(db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE submission = 2") == 5);
  BOOST_TEST(orders_with_stage("Import Failed") == 5);
}

BOOST_AUTO_TEST_SUITE_END()
