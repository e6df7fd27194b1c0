#pragma once
// Integration-test support. A throwaway PostgreSQL 15 cluster is started once per CTest
// run by test/support/pg-cluster (fixture "pg"); each test gets its own database created
// from `biomero_template` (BIOMERO's real DDL), so tests never see each other's rows.
// Databases are reached through the program's own pg layer; the reactor and the
// stand-in importer run as real processes.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The cluster CTest started: socket directory and port from $BIOMERO_TEST_PG.
struct Cluster {
  static fs::path state_dir();
  static std::string conninfo(const std::string& dbname);
  static void restart();  // pg_ctl restart (fault tests)
};

// One query on a fresh connection to any database (TestDb::query, and stand-ins that
// are handed a conninfo rather than a TestDb).
pg::Result query_on(const std::string& conninfo, const std::string& sql, const pg::Params& params = {});

// A fresh database for one test, dropped at the end.
class TestDb {
 public:
  explicit TestDb(bool install_reactor_sql = true);
  ~TestDb();
  TestDb(const TestDb&) = delete;
  TestDb& operator=(const TestDb&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::string conninfo() const { return Cluster::conninfo(name_); }

  pg::Result query(const std::string& sql, const pg::Params& params = {});
  void script(const std::string& sql);
  std::string scalar(const std::string& sql, const pg::Params& params = {});
  std::int64_t count(const std::string& sql, const pg::Params& params = {});
  // Every row of BIOMERO's workflowtracker_events, in id order.
  std::vector<StoredEvent> events();

 private:
  std::string name_;
};

// A temporary directory, removed with everything under it.
class TempTree {
 public:
  TempTree();
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  [[nodiscard]] const fs::path& path() const { return root_; }
  fs::path write(const fs::path& rel, const std::string& content);
  // Every regular file and directory under the tree, relative, sorted.
  [[nodiscard]] std::vector<std::string> listing(const fs::path& rel = {}) const;

 private:
  fs::path root_;
};

// The status of GET target on a reactor's http.listen, 0 while it does not answer (yet).
unsigned http_status(const std::string& listen, const std::string& target);
// A loopback port free right now, for a reactor's http.listen.
std::string free_local_port();
// A Prometheus text scrape as "name{labels}" -> value.
std::map<std::string, double> parse_metrics(const std::string& text);

std::string read_file(const fs::path& p);

// A completed workflow as BIOMERO writes it: WorkflowInitiated, a task with its SLURM job
// ids, statuses, and (unless complete = false) WorkflowCompleted, each save in its own
// transaction with BIOMERO's EXCLUSIVE lock.
struct SampleWorkflow {
  Uuid id = random_uuid4();
  Uuid task_id = random_uuid4();
  std::vector<std::string> job_ids{"1234"};
  std::int64_t user = 2;
  std::int64_t group = 3;
  std::string name = "cellexpansion";
  std::string description = "Run cellexpansion 1.0.1";
  boost::json::object params = {{"alpha", 1}};
  bool python_import_task = false;  // a completed SLURM_Import_Results.py task, as the Python worker writes
  bool complete = true;             // false: WorkflowFailed instead
  bool finished = true;             // false: neither yet (complete it later with complete_workflow)
};
void write_workflow(TestDb& db, const SampleWorkflow& wf);
void write_workflow(const std::string& conninfo, const SampleWorkflow& wf);
// One BIOMERO "save": the events in one transaction under BIOMERO's EXCLUSIVE lock, each
// at its aggregate's max version + 1.
void save_events(TestDb& db, std::vector<NewEvent> events);
void save_events(const std::string& conninfo, std::vector<NewEvent> events);

// BIOMERO's Run_Workflow with the handoff import script, for the demo: the workflow's
// analysis task (write_workflow, unfinished), its import task H (TaskCreated, TaskAdded,
// TaskStarted), the results published into `spool` by the handoff module's `stage`
// command (deploy/biomero), then H's StatusUpdated(HANDED_OFF) and TaskCompleted with the
// script's marker message, and WorkflowCompleted. Returns H, the handoff id. The results
// are <results>/<job>_out.zip (padded over the script's 1 KiB minimum) and its log.
Uuid write_handed_off_workflow(const std::string& conninfo, SampleWorkflow wf, const fs::path& results,
                               const fs::path& spool, const fs::path& handoff_module);
// WorkflowCompleted for a workflow written with finished = false, on an open connection.
boost::asio::awaitable<void> complete_workflow(pg::Connection& c, Uuid workflow_id);

// What BIOMERO leaves when a workflow completes: each job's result files in `results`, the
// workflow's row in biomero_workflow_progress_view, then its events (write_workflow).
void write_completed_workflow(TestDb& db, const fs::path& results, const SampleWorkflow& wf);

// Result files where BIOMERO's worker leaves them: <dir>/<job>_out.zip (a tiny TIFF and a
// CSV under data/out/) and <dir>/omero-<job>.log.
void write_job_results(const fs::path& dir, const std::string& job_id, bool with_log = true);
// Adds 4 KiB of random data to a results zip: the handoff script refuses zips under 1 KiB
// (as BIOMERO's import script does). Throws when python3 fails.
void pad_results_zip(const fs::path& zip);

// A child process with its stdout+stderr in a file.
class Process {
 public:
  Process(std::vector<std::string> argv, fs::path log, std::map<std::string, std::string> env = {});
  ~Process();  // SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  void signal(int sig);
  // Exit code (128+signal when killed); nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();
  [[nodiscard]] std::string output() const;
  [[nodiscard]] int pid() const { return pid_; }

 private:
  int pid_ = -1;
  std::optional<int> status_;
  fs::path log_;
};

// Writes a reactor config for `db` into `dir` with fast test timings and the given
// YAML appended (later keys of the same section must not repeat: pass whole sections).
fs::path write_reactor_config(const fs::path& dir, const std::string& events_conninfo, const std::string& extra_yaml,
                              const std::string& importer_conninfo = "");

// The sections every pipeline test shares: storage under <dir>/data (through an importer
// settings.yml it writes), results under <dir>/results, names for user 2 (alice) and group 3
// (Demo), destination Dataset 51. Append other sections after it.
std::string pipeline_yaml(const fs::path& dir);

std::unique_ptr<Process> start_reactor(const fs::path& config, const fs::path& log, std::vector<std::string> extra = {},
                                       std::map<std::string, std::string> env = {});
int run_reactor(const fs::path& config, const std::vector<std::string>& args, std::string* output = nullptr);
std::unique_ptr<Process> start_standin_importer(const std::string& conninfo, const fs::path& log,
                                                std::vector<std::string> extra = {});

// Polls `done` every 50 ms until true or the timeout; returns its last value.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 30s);

}  // namespace biomero_reactor::test
