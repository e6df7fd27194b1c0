// Load on one reactor, against a throwaway PostgreSQL 15 and the stand-in importer:
//   1. N workflows (default 1,000) complete within about one second, each WorkflowCompleted
//      committed the way BIOMERO does (own transaction, EXCLUSIVE lock); tiny result
//      archives; the importer completes orders as soon as it sees them. Prints the time
//      until all are IMPORTED, events/s, the reactor's peak RSS and CPU seconds.
//   2. M upload orders (default 10,000) waiting at once: the reactor's RSS and the
//      statements per minute the database serves for it.
//   bench_load_bench [--workflows N] [--waiting M] [--window SECONDS]
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;
namespace asio = boost::asio;

namespace {

struct ProcUsage {
  double rss_peak_mb = 0, rss_mb = 0, cpu_s = 0;
};

ProcUsage usage(int pid) {
  ProcUsage u;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) u.rss_peak_mb = std::stod(line.substr(6)) / 1024.0;
    if (line.starts_with("VmRSS:")) u.rss_mb = std::stod(line.substr(6)) / 1024.0;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  std::istringstream rest(content.substr(content.rfind(')') + 2));
  std::vector<std::string> f((std::istream_iterator<std::string>(rest)), {});
  u.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return u;
}

struct Setup {
  TestDb db;
  TempTree tree;
  fs::path results = tree.path() / "results";
  fs::path config;
  Setup() {
    db.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    fs::create_directories(results);
    config = write_reactor_config(tree.path(), db.conninfo(),
                                  pipeline_yaml(tree.path()) + "import:\n  pending_alert: 1h\n  timeout: 2h\n");
  }
};

void burst(Setup& s, int n, std::chrono::seconds window) {
  std::printf("preparing %d workflows...\n", n);
  std::vector<Uuid> ids;
  for (int i = 0; i < n; ++i) {
    SampleWorkflow wf;
    wf.job_ids = {std::to_string(200000 + i)};
    wf.finished = false;
    write_job_results(s.results, wf.job_ids[0]);
    write_workflow(s.db, wf);
    ids.push_back(wf.id);
  }
  auto importer = start_standin_importer(s.db.conninfo(), s.tree.path() / "importer.log", {"--interval", "100"});
  auto reactor = start_reactor(s.config, s.tree.path() / "reactor.log");
  if (!eventually([&] { return reactor->output().find("\"listening\"") != std::string::npos; })) {
    throw std::runtime_error("reactor did not start");
  }
  const auto cpu0 = usage(reactor->pid()).cpu_s;
  // Paused while the burst commits, so that the commits are not slowed by the reactor's own
  // writes (both take BIOMERO's EXCLUSIVE lock): all 1,000 land within about a second and
  // their NOTIFYs wait in the queue, as when BIOMERO finishes many workflows at once.
  reactor->signal(SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  {
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          pg::Connection c(io.get_executor(), std::chrono::seconds(30));
          co_await c.connect(s.db.conninfo());
          for (const auto& id : ids) co_await complete_workflow(c, id);
        },
        asio::detached);
    io.run();
  }
  const double committed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  reactor->signal(SIGCONT);
  if (!eventually([&] { return s.db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE state = 'imported'") == n; },
                  600s)) {
    throw std::runtime_error("not all imported: " +
                             s.db.scalar("SELECT string_agg(state || '=' || n, ' ') FROM "
                                         "(SELECT state, count(*) n FROM biomero_reactor.jobs GROUP BY 1) x"));
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto u = usage(reactor->pid());
  const auto events = s.db.count(
      "SELECT count(*) FROM workflowtracker_events WHERE topic LIKE 'biomero.eventsourcing:Task.%' "
      "AND convert_from(state, 'UTF8') LIKE '%IMPORT%'");
  std::printf("burst: %d WorkflowCompleted committed in %.2f s; all IMPORTED after %.1f s (%.1f workflows/s)\n", n,
              committed, total, n / total);
  std::printf("burst: reactor wrote %lld status events (%.1f events/s); peak RSS %.1f MB; CPU %.1f s\n",
              static_cast<long long>(events), static_cast<double>(events) / total, u.rss_peak_mb, u.cpu_s - cpu0);
  reactor->signal(SIGTERM);
  (void)reactor->wait(60s);
  (void)window;
}

void waiting(Setup& s, int m, std::chrono::seconds window) {
  // Many orders waiting at once, written directly as the reactor leaves them after
  // submitting (state `submitted`, one Import Pending row each): the wait's cost alone.
  s.db.script(
      "INSERT INTO biomero_reactor.jobs (workflow_id, slurm_job_id, state, submitted_at, group_name, user_name, "
      "images) "
      "SELECT gen_random_uuid(), 'w' || g, 'submitted', now(), 'Demo', 'alice', '{\"images\":[],\"labels\":[]}' "
      "FROM generate_series(1, " +
      std::to_string(m) +
      ") g;"
      "INSERT INTO biomero_reactor.orders (order_uuid, job_id, attempt, submission, kind, files) "
      "SELECT gen_random_uuid(), id, 1, 1, 'images', '[]' FROM biomero_reactor.jobs WHERE state = 'submitted';"
      "INSERT INTO public.imports (group_name, user_name, destination_id, destination_type, stage, uuid, "
      "\"timestamp\", files, file_names) "
      "SELECT 'Demo', 'alice', '51', 'Dataset', 'Import Pending', order_uuid::text, now(), '[]', '[]' FROM "
      "biomero_reactor.orders;");
  auto reactor = start_reactor(s.config, s.tree.path() / "reactor-wait.log");
  std::this_thread::sleep_for(5s);
  s.db.query("SELECT pg_stat_statements_reset()");
  std::this_thread::sleep_for(window);
  const auto statements = s.db.count(
      "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
      "WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'");
  const auto u = usage(reactor->pid());
  std::printf("waiting: %d orders waiting: reactor RSS %.1f MB (peak %.1f MB), %.1f statements per minute\n", m,
              u.rss_mb, u.rss_peak_mb, 60.0 * static_cast<double>(statements) / static_cast<double>(window.count()));
  reactor->signal(SIGTERM);
  (void)reactor->wait(60s);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1000, m = 10000, window = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--workflows") n = std::stoi(argv[i + 1]);
    if (a == "--waiting") m = std::stoi(argv[i + 1]);
    if (a == "--window") window = std::stoi(argv[i + 1]);
  }
  const std::string state = "/tmp/biomero-load-pg-" + std::to_string(::getpid());
  const std::string script = std::string(BIOMERO_TEST_FIXTURES) + "/../support/pg-cluster";
  if (std::system((script + " start " + state + " >/dev/null").c_str()) != 0) return 1;
  ::setenv("BIOMERO_TEST_PG", state.c_str(), 1);
  int code = 0;
  try {
    {
      Setup s;
      burst(s, n, std::chrono::seconds(window));
    }
    {
      Setup s;
      waiting(s, m, std::chrono::seconds(window));
    }
  } catch (const std::exception& e) {
    std::cerr << "bench failed: " << e.what() << "\n";
    code = 1;
  }
  (void)std::system((script + " stop " + state).c_str());
  return code;
}
