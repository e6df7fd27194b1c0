// Latency and load of the reactor's two waits, against a throwaway PostgreSQL 15:
//   1. intake: WorkflowCompleted commit -> job row (p50/p99 over N workflows), and the
//      reactor's idle query rate;
//   2. import: the importer's `Import Completed` commit -> the reactor's IMPORTED event,
//      with NOTIFY and with the reactor forced to poll every 10 s as the Python script
//      does, and the statements the database serves while 100 orders wait for 60 s.
// Times are the machine's clock as recorded in the rows themselves: the event's and the
// stage row's timestamps, and the job history row written in the committing transaction.
//   bench_latency_bench [--workflows N] [--window SECONDS]
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <thread>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

namespace {

struct Stats {
  double p50, p99, max;
  std::size_t n;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {0, 0, 0, 0};
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  return {at(0.50), at(0.99), v.back(), v.size()};
}

void print(const std::string& what, const Stats& s) {
  std::printf("%-58s n=%zu  p50=%8.1f ms  p99=%8.1f ms  max=%8.1f ms\n", what.c_str(), s.n, s.p50, s.p99, s.max);
}

std::vector<double> column(TestDb& db, const std::string& sql) {
  auto r = db.query(sql);
  std::vector<double> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.float64(i, 0));
  return out;
}

// Statements the database served for `db` during `window`, excluding this bench's own.
std::int64_t statements_during(TestDb& db, std::chrono::seconds window) {
  db.query("SELECT pg_stat_statements_reset()");
  std::this_thread::sleep_for(window);
  return db.count(
      "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
      "WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'");
}

struct Setup {
  TestDb db;
  TempTree tree;
  fs::path results = tree.path() / "results";
  fs::path config;
  explicit Setup(const std::string& import_section) {
    db.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    fs::create_directories(results);
    config = write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()) + import_section);
  }
  std::vector<SampleWorkflow> workflows(int n) {
    std::vector<SampleWorkflow> out;
    for (int i = 0; i < n; ++i) {
      SampleWorkflow wf;
      wf.job_ids = {std::to_string(100000 + i)};
      write_job_results(results, wf.job_ids[0]);
      out.push_back(wf);
    }
    return out;
  }
  std::int64_t count_state(const std::string& state) {
    return db.count("SELECT count(*) FROM biomero_reactor.jobs WHERE state = $1", pg::params(state));
  }
};

const char* import_latency_sql =
    "SELECT extract(epoch FROM (convert_from(e.state, 'UTF8')::json->'timestamp'->>'_data_')::timestamptz "
    "  - c.\"timestamp\") * 1000 "
    "FROM biomero_reactor.orders o JOIN biomero_reactor.jobs j ON j.id = o.job_id "
    "JOIN public.imports c ON c.uuid = o.order_uuid::text AND c.stage = 'Import Completed' "
    "JOIN workflowtracker_events e ON e.originator_id = j.import_task_id "
    "WHERE e.topic LIKE '%StatusUpdated' AND convert_from(e.state, 'UTF8')::json->>'status' = 'IMPORTED'";

void import_run(const std::string& mode, int n, std::chrono::seconds window) {
  const bool poll = mode == "poll";
  Setup s(poll ? "import:\n  degraded_poll_interval: 10s\n  poll_interval: 10s\n  pending_alert: 1h\n"
               : "import:\n  pending_alert: 1h\n");
  if (poll) {
    s.db.script(
        "DROP TRIGGER biomero_reactor_import_inserted ON public.imports;"
        "DROP TRIGGER biomero_reactor_import_stage_changed ON public.imports");
  }
  auto reactor = start_reactor(s.config, s.tree.path() / "reactor.log");
  // 100 orders waiting with no importer: what does waiting cost the database?
  for (auto& wf : s.workflows(100)) write_workflow(s.db, wf);
  if (!eventually([&] { return s.count_state("submitted") == 100; }, 120s)) throw std::runtime_error("not submitted");
  const auto waiting = statements_during(s.db, window);
  std::printf("%-58s %lld statements in %llds = %.1f per minute\n",
              ("import wait, 100 orders waiting, " + mode).c_str(), static_cast<long long>(waiting),
              static_cast<long long>(window.count()),
              60.0 * static_cast<double>(waiting) / static_cast<double>(window.count()));
  // Then the importer completes them; more workflows arrive meanwhile.
  // One completion every 50 ms, as a real importer finishes orders one by one.
  auto importer =
      start_standin_importer(s.db.conninfo(), s.tree.path() / "importer.log", {"--interval", "50", "--delay", "50"});
  auto more = s.workflows(n - 100);
  for (auto& wf : more) write_workflow(s.db, wf);
  if (!eventually([&] { return s.count_state("imported") == n; }, 300s)) throw std::runtime_error("not imported");
  print("import: Import Completed -> IMPORTED, " + mode + (poll ? " every 10s" : " (NOTIFY)"),
        stats(column(s.db, import_latency_sql)));
  reactor->signal(SIGTERM);
  (void)reactor->wait(30s);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 200;
  int window = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--workflows") n = std::stoi(argv[i + 1]);
    if (a == "--window") window = std::stoi(argv[i + 1]);
  }
  n = std::max(n, 101);
  const std::string state = "/tmp/biomero-bench-pg-" + std::to_string(::getpid());
  const std::string script = std::string(BIOMERO_TEST_FIXTURES) + "/../support/pg-cluster";
  if (std::system((script + " start " + state + " >/dev/null").c_str()) != 0) return 1;
  ::setenv("BIOMERO_TEST_PG", state.c_str(), 1);
  int code = 0;
  try {
    {
      // 1. Intake.
      Setup s("import:\n  pending_alert: 1h\n");
      auto reactor = start_reactor(s.config, s.tree.path() / "reactor.log");
      if (!eventually([&] { return reactor->output().find("\"listening\"") != std::string::npos; })) return 1;
      const auto idle = statements_during(s.db, std::chrono::seconds(window));
      std::printf("%-58s %lld statements in %ds = %.1f per minute\n", "intake: reactor idle",
                  static_cast<long long>(idle), window, 60.0 * static_cast<double>(idle) / window);
      for (auto& wf : s.workflows(n)) {
        write_workflow(s.db, wf);
        std::this_thread::sleep_for(5ms);
      }
      if (!eventually([&] { return s.db.count("SELECT count(*) FROM biomero_reactor.jobs") == n; }, 120s)) return 1;
      // From the event's own timestamp (taken by the writer before its transaction, as
      // BIOMERO does) to the history row's insert, and from the writer's commit to the
      // reactor's (track_commit_timestamp, set by pg-cluster).
      const std::string from_event =
          "SELECT extract(epoch FROM %s - %s) * 1000 FROM biomero_reactor.job_history h JOIN "
          "biomero_reactor.jobs j ON j.id = h.job_id JOIN workflowtracker_events e ON e.originator_id = j.workflow_id "
          "AND e.topic LIKE '%%WorkflowCompleted' WHERE h.to_state = 'pending'";
      const auto at = [&](const char* end, const char* start) {
        std::vector<char> sql(from_event.size() + 256);
        std::snprintf(sql.data(), sql.size(), from_event.c_str(), end, start);
        return stats(column(s.db, sql.data()));
      };
      print("intake: WorkflowCompleted timestamp -> job row written",
            at("h.at", "(convert_from(e.state, 'UTF8')::json->'timestamp'->>'_data_')::timestamptz"));
      print("intake: WorkflowCompleted commit -> job row committed",
            at("pg_xact_commit_timestamp(h.xmin)", "pg_xact_commit_timestamp(e.xmin)"));
      reactor->signal(SIGTERM);
      (void)reactor->wait(30s);
    }
    import_run("notify", n, std::chrono::seconds(window));
    import_run("poll", n, std::chrono::seconds(window));
  } catch (const std::exception& e) {
    std::cerr << "bench failed: " << e.what() << "\n";
    code = 1;
  }
  (void)std::system((script + " stop " + state).c_str());
  return code;
}
