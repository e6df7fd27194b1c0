#include "test_support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/http_endpoint.hpp"

namespace biomero_reactor::test {

namespace asio = boost::asio;

namespace {

std::string read_trimmed(const fs::path& p) {
  std::string s = read_file(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs `f` on a fresh connection to `conninfo` and returns its result.
template <class T>
T with_connection(const std::string& conninfo, std::function<asio::awaitable<T>(pg::Connection&)> f) {
  asio::io_context io;
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<T> {
        pg::Connection c(io.get_executor(), std::chrono::seconds(30));
        co_await c.connect(conninfo);
        co_return co_await f(c);
      },
      [&](std::exception_ptr e, T v) {
        if (e)
          error = e;
        else
          result.emplace(std::move(v));
      });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

}  // namespace

// ---- Cluster ----

fs::path Cluster::state_dir() {
  const char* s = std::getenv("BIOMERO_TEST_PG");
  if (s == nullptr) throw std::runtime_error("BIOMERO_TEST_PG is not set: run integration tests through ctest");
  return s;
}

std::string Cluster::conninfo(const std::string& dbname) {
  return "host=" + (state_dir() / "sock").string() + " port=" + read_trimmed(state_dir() / "port") +
         " user=postgres dbname=" + dbname;
}

void Cluster::restart() {
  const std::string cmd = std::string(BIOMERO_TEST_FIXTURES) + "/../support/pg-cluster restart " + state_dir().string();
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("pg-cluster restart failed");
}

// ---- TestDb ----

TestDb::TestDb(bool install_reactor_sql) : name_("t_" + random_uuid4().hex().substr(0, 16)) {
  with_connection<int>(Cluster::conninfo("postgres"), [&](pg::Connection& c) -> asio::awaitable<int> {
    co_await c.script("CREATE DATABASE " + name_ + " TEMPLATE biomero_template");
    co_return 0;
  });
  if (install_reactor_sql) {
    TempTree t;
    const auto cfg = write_reactor_config(t.path(), conninfo(), "");
    std::string out;
    if (run_reactor(cfg, {"install-sql"}, &out) != 0) throw std::runtime_error("install-sql failed: " + out);
  }
}

TestDb::~TestDb() {
  try {
    with_connection<int>(Cluster::conninfo("postgres"), [&](pg::Connection& c) -> asio::awaitable<int> {
      co_await c.script("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
      co_return 0;
    });
  } catch (...) {
  }
}

std::vector<StoredEvent> TestDb::events() {
  auto r = query("SELECT id, originator_id, originator_version, topic, state FROM workflowtracker_events ORDER BY id");
  std::vector<StoredEvent> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.int64(i, 0), *Uuid::parse(r.text(i, 1)), r.int64(i, 2), std::string(r.text(i, 3)), r.bytea(i, 4)});
  }
  return out;
}

pg::Result query_on(const std::string& conninfo, const std::string& sql, const pg::Params& params) {
  return with_connection<pg::Result>(conninfo, [&](pg::Connection& c) { return c.query(sql, params); });
}

pg::Result TestDb::query(const std::string& sql, const pg::Params& params) {
  return query_on(conninfo(), sql, params);
}

void TestDb::script(const std::string& sql) {
  with_connection<int>(conninfo(), [&](pg::Connection& c) -> asio::awaitable<int> {
    co_await c.script(sql);
    co_return 0;
  });
}

std::string TestDb::scalar(const std::string& sql, const pg::Params& params) {
  auto r = query(sql, params);
  if (r.rows() == 0 || r.is_null(0, 0)) return {};
  return std::string(r.text(0, 0));
}

std::int64_t TestDb::count(const std::string& sql, const pg::Params& params) {
  return query(sql, params).int64(0, 0);
}

// ---- TempTree ----

TempTree::TempTree() {
  std::string tmpl = (fs::temp_directory_path() / "biomero-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
}

TempTree::~TempTree() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

fs::path TempTree::write(const fs::path& rel, const std::string& content) {
  const fs::path p = root_ / rel;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::vector<std::string> TempTree::listing(const fs::path& rel) const {
  std::vector<std::string> out;
  const fs::path base = root_ / rel;
  if (!fs::exists(base)) return out;
  for (const auto& e : fs::recursive_directory_iterator(base)) {
    out.push_back(e.path().lexically_relative(base).string() + (e.is_directory() ? "/" : ""));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- BIOMERO's writes ----

void write_workflow(TestDb& db, const SampleWorkflow& wf) {
  write_workflow(db.conninfo(), wf);
}

void write_workflow(const std::string& conninfo, const SampleWorkflow& wf) {
  // Each call is one BIOMERO "save": its own transaction, EXCLUSIVE lock, max + 1.
  auto save = [&](std::vector<NewEvent> events) {
    with_connection<int>(conninfo, [&](pg::Connection& c) -> asio::awaitable<int> {
      co_await c.script("BEGIN");
      co_await append_events(c, events);
      co_await c.script("COMMIT");
      co_return 0;
    });
  };
  const std::string ev = "biomero.eventsourcing:";
  boost::json::object init{{"timestamp", typed_datetime(now_us())},
                           {"originator_topic", ev + "WorkflowRun"},
                           {"name", wf.name},
                           {"description", wf.description},
                           {"user", wf.user},
                           {"group", wf.group}};
  save({{wf.id, std::string(topics::workflow_initiated), init}});
  auto add_task = [&](const Uuid& task, const std::string& name, const boost::json::object& params,
                      const std::vector<std::string>& jobs, const std::string& final_status) {
    boost::json::object created{{"timestamp", typed_datetime(now_us())},
                                {"originator_topic", ev + "Task"},
                                {"workflow_id", typed_uuid(wf.id)},
                                {"task_name", name},
                                {"task_version", "v1.0"},
                                {"input_data", boost::json::object{{"IDs", boost::json::array{101, 102}}}},
                                {"params", params}};
    save({{task, std::string(topics::task_created), created}});
    save({{wf.id, std::string(topics::task_added), boost::json::object{{"task_id", typed_uuid(task)}}}});
    save({{task, std::string(topics::task_started), boost::json::object{}}});
    for (const auto& j : jobs) save({{task, std::string(topics::job_id_added), boost::json::object{{"job_id", j}}}});
    save({{task, std::string(topics::status_updated), boost::json::object{{"status", "RUNNING"}}}});
    save({{task, std::string(topics::status_updated), boost::json::object{{"status", final_status}}}});
    save({{task, std::string(topics::task_completed), boost::json::object{{"result", "done"}}}});
  };
  save({{wf.id, std::string(topics::workflow_started), boost::json::object{}}});
  add_task(wf.task_id, wf.name, wf.params, wf.job_ids, "COMPLETED");
  if (wf.python_import_task) add_task(random_uuid4(), "SLURM_Import_Results.py", {{"Task_ID", "x"}}, {}, "IMPORTED");
  if (!wf.finished) return;
  if (wf.complete) {
    save({{wf.id, std::string(topics::workflow_completed), boost::json::object{}}});
  } else {
    save({{wf.id, std::string(topics::workflow_failed), boost::json::object{{"error_message", "SLURM job failed"}}}});
  }
}

void save_events(TestDb& db, std::vector<NewEvent> events) {
  save_events(db.conninfo(), std::move(events));
}

void save_events(const std::string& conninfo, std::vector<NewEvent> events) {
  with_connection<int>(conninfo, [&](pg::Connection& c) -> asio::awaitable<int> {
    co_await c.script("BEGIN");
    co_await append_events(c, events);
    co_await c.script("COMMIT");
    co_return 0;
  });
}

Uuid write_handed_off_workflow(const std::string& conninfo, SampleWorkflow wf, const fs::path& results,
                               const fs::path& spool, const fs::path& handoff_module) {
  const std::string job = wf.job_ids.front();
  wf.finished = false;
  write_workflow(conninfo, wf);
  write_job_results(results, job);
  const fs::path zip = results / (job + "_out.zip");
  pad_results_zip(zip);
  const Uuid h = random_uuid4();
  boost::json::object created{{"timestamp", typed_datetime(now_us())},
                              {"originator_topic", "biomero.eventsourcing:Task"},
                              {"workflow_id", typed_uuid(wf.id)},
                              {"task_name", "SLURM_Import_Results.py"},
                              {"task_version", "2.8.2"},
                              {"input_data", boost::json::object{{"IDs", boost::json::array{101, 102}}}},
                              {"params", boost::json::object{{"SLURM Job Id", job}, {"workflow_uuid", wf.id.str()}}}};
  save_events(conninfo, {{h, std::string(topics::task_created), created}});
  save_events(conninfo, {{wf.id, std::string(topics::task_added), boost::json::object{{"task_id", typed_uuid(h)}}}});
  save_events(conninfo, {{h, std::string(topics::task_started), boost::json::object{}}});
  Process stage({"/usr/bin/python3",
                 handoff_module.string(),
                 "stage",
                 "--spool",
                 spool.string(),
                 "--workflow",
                 wf.id.str(),
                 "--job",
                 job,
                 "--zip",
                 zip.string(),
                 "--log",
                 (results / ("omero-" + job + ".log")).string(),
                 "--user-id",
                 std::to_string(wf.user),
                 "--user-name",
                 "alice",
                 "--group-id",
                 std::to_string(wf.group),
                 "--group-name",
                 "Demo",
                 "--task-id",
                 h.str()},
                results / ".stage.log");
  if (stage.wait(60s).value_or(-1) != 0) throw std::runtime_error("stage failed: " + stage.output());
  std::string marker = stage.output();
  while (!marker.empty() && marker.back() == '\n') marker.pop_back();
  save_events(conninfo, {{h, std::string(topics::status_updated), boost::json::object{{"status", "HANDED_OFF"}}}});
  save_events(conninfo, {{h, std::string(topics::task_completed), boost::json::object{{"result", marker}}}});
  save_events(conninfo, {{wf.id, std::string(topics::workflow_completed), boost::json::object{}}});
  return h;
}

asio::awaitable<void> complete_workflow(pg::Connection& c, Uuid workflow_id) {
  std::vector<NewEvent> events;
  events.push_back({workflow_id, std::string(topics::workflow_completed), boost::json::object{}});
  co_await c.script("BEGIN");
  co_await append_events(c, events);
  co_await c.script("COMMIT");
}

void write_completed_workflow(TestDb& db, const fs::path& results, const SampleWorkflow& wf) {
  fs::create_directories(results);
  for (const auto& j : wf.job_ids) write_job_results(results, j);
  db.query(
      "INSERT INTO public.biomero_workflow_progress_view (workflow_id, status, progress, \"user\", \"group\", "
      "name, start_time) VALUES ($1, 'COMPLETED', '100%', 2, 3, 'cellexpansion', now())",
      pg::params(wf.id.str()));
  write_workflow(db, wf);
}

void pad_results_zip(const fs::path& zip) {
  Process pad({"/usr/bin/python3", "-c",
               "import os,sys,zipfile\nwith zipfile.ZipFile(sys.argv[1], 'a') as z: "
               "z.writestr('data/out/padding.txt', os.urandom(4096))",
               zip.string()},
              zip.parent_path() / ("." + zip.filename().string() + ".pad.log"));
  if (pad.wait(60s).value_or(-1) != 0) throw std::runtime_error("padding the zip failed: " + pad.output());
}

void write_job_results(const fs::path& dir, const std::string& job_id, bool with_log) {
  const fs::path src = dir / (".src-" + job_id);
  fs::create_directories(src / "data" / "out");
  // A minimal little-endian TIFF header is enough: the stand-in importer checks existence.
  std::ofstream(src / "data" / "out" / "result_image.tiff", std::ios::binary) << std::string("II*\0\x08\0\0\0", 8);
  std::ofstream(src / "data" / "out" / "measurements.csv") << "label,area\n1,42\n";
  const fs::path zip = dir / (job_id + "_out.zip");
  const fs::path tmp = dir / (".tmp-" + job_id + "_out.zip");
  (void)zip_directory(src, tmp);
  fs::rename(tmp, zip);  // appears at once, as after the worker's copy
  fs::remove_all(src);
  if (with_log) std::ofstream(dir / ("omero-" + job_id + ".log")) << "SLURM job " << job_id << " finished\n";
}

// ---- processes ----

Process::Process(std::vector<std::string> argv, fs::path log, std::map<std::string, std::string> env)
    : log_(std::move(log)) {
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  if (running()) {
    signal(SIGKILL);
    (void)wait(5s);
  }
}

void Process::signal(int sig) {
  if (!status_) ::kill(pid_, sig);
}

bool Process::running() {
  if (status_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > end) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  return status_;
}

std::string Process::output() const {
  return read_file(log_);
}

fs::path write_reactor_config(const fs::path& dir, const std::string& events_conninfo, const std::string& extra_yaml,
                              const std::string& importer_conninfo) {
  const fs::path p = dir / "reactor.yml";
  std::ofstream out(p);
  out << "database:\n  events_url: \"" << events_conninfo << "\"\n";
  if (!importer_conninfo.empty()) out << "  importer_url: \"" << importer_conninfo << "\"\n";
  out << extra_yaml << "\n";
  return p;
}

std::string pipeline_yaml(const fs::path& dir) {
  const fs::path settings = dir / "settings.yml";
  std::ofstream(settings) << "base_dir: " << (dir / "data").string() << "\n";
  const std::string results = (dir / "results").string();
  return "importer:\n  settings: " + settings.string() + "\n  group_mappings: []\n" + "results:\n  zip: " + results +
         "/{job_id}_out.zip\n  log: " + results + "/omero-{job_id}.log\n  wait: 10s\n" +
         "names:\n  users: {2: alice}\n  groups: {3: Demo}\n" + "destination:\n  id: \"51\"\n";
}

std::unique_ptr<Process> start_reactor(const fs::path& config, const fs::path& log, std::vector<std::string> extra,
                                       std::map<std::string, std::string> env) {
  // The test hooks exist only in the test build of the daemon.
  bool hooked = false;
  for (const auto& kv : env) hooked = hooked || kv.first.rfind("BIOMERO_REACTOR_TEST_", 0) == 0;
  std::vector<std::string> argv{hooked ? BIOMERO_REACTOR_WITH_HOOKS : BIOMERO_REACTOR_BINARY,
                                "--config",
                                config.string(),
                                "--log-format",
                                "json",
                                "run"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(argv, log, std::move(env));
}

int run_reactor(const fs::path& config, const std::vector<std::string>& args, std::string* output) {
  std::vector<std::string> argv{BIOMERO_REACTOR_BINARY, "--config", config.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const fs::path log = config.parent_path() / ("cmd-" + random_uuid4().hex().substr(0, 8) + ".log");
  Process p(argv, log);
  const auto code = p.wait(120s);
  if (output != nullptr) *output = p.output();
  return code.value_or(-1);
}

std::unique_ptr<Process> start_standin_importer(const std::string& conninfo, const fs::path& log,
                                                std::vector<std::string> extra) {
  std::vector<std::string> argv{BIOMERO_STANDIN, "importer", "--db", conninfo};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(argv, log);
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(50ms);
  }
}

unsigned http_status(const std::string& listen, const std::string& target) {
  try {
    return http_get(listen, target, std::chrono::seconds(5)).status;
  } catch (const std::exception&) {
    return 0;
  }
}

std::string free_local_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return std::to_string(a.local_endpoint().port());
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

}  // namespace biomero_reactor::test
