#include "biomero_reactor/commands.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/serialize.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

#include "biomero_reactor/check_advice.hpp"
#include "biomero_reactor/config.hpp"
#include "biomero_reactor/conninfo.hpp"
#include "biomero_reactor/group_storage.hpp"
#include "biomero_reactor/http_endpoint.hpp"
#include "biomero_reactor/job_store.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/migrations.hpp"
#include "biomero_reactor/omero_check.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/reactor.hpp"
#include "biomero_reactor/replay_guard.hpp"
#include "biomero_reactor/uuid.hpp"
#include "biomero_reactor/verify_command.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace po = boost::program_options;

namespace {

constexpr int exit_config = 78;  // EX_CONFIG
constexpr auto io_timeout = std::chrono::milliseconds(30000);

std::filesystem::path default_config_path() {
  if (std::filesystem::exists("config/reactor.yml")) return "config/reactor.yml";
  return "/etc/biomero-reactor/reactor.yml";
}

// Runs one coroutine on a fresh io_context and returns its result (exceptions propagate).
template <class T>
T run_sync(asio::io_context& io, asio::awaitable<T> a) {
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
    if (e)
      error = e;
    else
      result.emplace(std::move(v));
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

struct Connections {
  pg::Connection events;
  pg::Connection importer;
  bool same_db;
  explicit Connections(asio::io_context& io, bool same)
      : events(io.get_executor(), io_timeout), importer(io.get_executor(), io_timeout), same_db(same) {}
  pg::Connection* importer_or_null() { return same_db ? nullptr : &importer; }
  pg::Connection& imports() { return same_db ? events : importer; }
};

asio::awaitable<void> connect(Connections& c, const Config& cfg) {
  const auto ev = libpq_conninfo(cfg.database.events_url, "database.events_url");
  co_await c.events.connect(ev);
  if (!c.same_db) co_await c.importer.connect(libpq_conninfo(cfg.database.importer_url, "database.importer_url"));
}

int cmd_install_sql(const Config& cfg, bool from_start) {
  asio::io_context io;
  Connections c(io, same_database(cfg));
  auto report = run_sync(io, [&]() -> asio::awaitable<InstallReport> {
    co_await connect(c, cfg);
    co_return co_await install_sql(c.events, c.importer_or_null(), from_start);
  }());
  if (report.cursor_set) {
    std::cout << "intake cursor set to event " << *report.cursor_set
              << (from_start ? " (--from-start: the event store's history will be processed)\n"
                             : " (the head of the event store: earlier workflows do not become jobs; "
                               "install-sql --from-start takes them)\n");
  }
  if (report.applied.empty()) {
    std::cout << "schema biomero_reactor is up to date (version " << report.version << ")\n";
  }
  for (const auto& a : report.applied) std::cout << "applied " << a << "\n";
  bool all = true;
  for (const auto& t : report.triggers) {
    std::cout << (t.installed ? "trigger installed on " : "trigger NOT installed on ") << t.table
              << (t.detail.empty() ? "" : ": " + t.detail) << "\n";
    all = all && t.installed;
  }
  if (!all) std::cout << "the reactor will poll where a trigger is missing; rerun install-sql once the table exists\n";
  return 0;
}

struct CheckLine {
  bool ok;
  std::string what;
  bool warning = false;  // ok, but some jobs will fail: printed WARN, exit code unchanged
};

int cmd_check(const Config& cfg) {
  std::vector<CheckLine> lines;
  std::cout << "configuration (secrets redacted):\n" << describe(cfg) << "\n";
  asio::io_context io;
  Connections c(io, same_database(cfg));
  try {
    run_sync(io, [&]() -> asio::awaitable<int> {
      co_await connect(c, cfg);
      lines.push_back({true, "connected to the event store database"});
      const int db = co_await database_schema_version(c.events);
      const int mine = binary_schema_version();
      lines.push_back({db == mine, "schema biomero_reactor version " + std::to_string(db) + " (this binary: " +
                                       std::to_string(mine) + (db == mine ? ")" : "): run install-sql")});
      struct Need {
        pg::Connection* conn;
        std::string table;
        std::string privileges;
      };
      const std::vector<Need> needs{
          {&c.events, "public.workflowtracker_events", "SELECT,INSERT"},
          {&c.imports(), "public.imports", "SELECT,INSERT"},
          {&c.events, "public.biomero_workflow_progress_view", "SELECT,UPDATE"},
          {&c.events, "public.biomero_task_execution", "SELECT,INSERT,UPDATE"},
      };
      for (const auto& n : needs) {
        auto r = co_await n.conn->query("SELECT to_regclass($1) IS NOT NULL", pg::params(n.table));
        if (!r.boolean(0, 0)) {
          const bool optional = n.table.find("biomero_") != std::string::npos;
          lines.push_back({optional, n.table + " does not exist" + (optional ? " (optional view; skipped)" : "")});
          continue;
        }
        std::string missing;
        std::size_t start = 0;
        while (start < n.privileges.size()) {
          const auto end = n.privileges.find(',', start);
          const std::string p = n.privileges.substr(start, end == std::string::npos ? std::string::npos : end - start);
          auto h = co_await n.conn->query("SELECT has_table_privilege($1, $2)", pg::params(n.table, p));
          if (!h.boolean(0, 0)) missing += (missing.empty() ? "" : ", ") + p;
          start = end == std::string::npos ? n.privileges.size() : end + 1;
        }
        lines.push_back(
            {missing.empty(), n.table + (missing.empty() ? ": privileges ok" : ": missing privileges " + missing)});
      }
      const auto triggers = co_await trigger_status(c.events, c.importer_or_null());
      for (const auto& t : triggers) {
        lines.push_back(
            {t.installed, "trigger on " + t.table +
                              (t.installed ? ": installed" : ": " + t.detail + " (the reactor polls instead)")});
      }
      co_return 0;
    }());
  } catch (const std::exception& e) {
    lines.push_back({false, std::string("database: ") + e.what()});
  }
  try {
    const auto storage = load_storage_settings(cfg);
    for (const auto& w : storage.warnings) lines.push_back({true, "note: " + w});
    lines.push_back({true, "group storage base_dir " + storage.base_dir.string() + ", running as uid " +
                               std::to_string(::getuid())});
    lines.push_back({true, describe_spool_placement(cfg.handoff.spool, storage.base_dir)});
    std::set<std::string> groups;
    for (const auto& [id, m] : storage.mappings) groups.insert(m.group_name);
    for (const auto& [id, name] : cfg.names.groups) groups.insert(name);
    for (const auto& g : groups) {
      const auto probe = probe_analyzed_writable(group_base_path(storage, g), ProbeCleanup::remove_created);
      lines.push_back({probe.ok, describe_probe(g, probe)});
    }
  } catch (const std::exception& e) {
    lines.push_back({false, std::string("group storage: ") + e.what()});
  }
  for (const auto& w : setup_warnings(cfg)) lines.push_back({true, w, true});
  bool ok = true;
  int warnings = 0;
  for (const auto& l : lines) {
    std::cout << (l.warning ? "  WARN  " : l.ok ? "  ok    " : "  FAIL  ") << l.what << "\n";
    ok = ok && l.ok;
    warnings += l.warning ? 1 : 0;
  }
  std::cout << (!ok             ? "check found problems\n"
                : warnings == 0 ? "check passed\n"
                                : "check passed with " + std::to_string(warnings) + " warning(s)\n");
  return ok ? 0 : 1;
}

int cmd_status(const Config& cfg, bool json) {
  asio::io_context io;
  Connections c(io, same_database(cfg));
  boost::json::object out;
  run_sync(io, [&]() -> asio::awaitable<int> {
    co_await connect(c, cfg);
    co_await require_schema(c.events);
    const StatusReport report = co_await JobStore::status(c.events, 50);
    out["intake_cursor"] = report.intake_cursor;
    out["event_store_head"] = report.event_store_head;
    out["handoffs_open"] = report.handoffs_open;
    boost::json::object counts;
    for (const auto& [state, n] : report.jobs_by_state) counts[state] = n;
    out["jobs_by_state"] = counts;
    boost::json::array triggers;
    const auto installed = co_await trigger_status(c.events, c.importer_or_null());
    for (const auto& t : installed) {
      triggers.push_back({{"table", t.table}, {"installed", t.installed}, {"detail", t.detail}});
    }
    out["triggers"] = triggers;
    boost::json::array jobs;
    for (const auto& j : report.recent) {
      jobs.push_back({{"workflow_id", j.workflow_id},
                      {"job_id", j.job_id},
                      {"state", j.state},
                      {"attempt", j.attempt},
                      {"submission", j.submission},
                      {"error", j.error},
                      {"updated_at", j.updated_at},
                      {"history", j.history}});
    }
    out["recent_jobs"] = jobs;
    co_return 0;
  }());
  if (json) {
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  std::cout << "intake cursor: event " << out["intake_cursor"].as_int64() << " of "
            << out["event_store_head"].as_int64() << " (newest in the event store; "
            << out["event_store_head"].as_int64() - out["intake_cursor"].as_int64() << " behind)\n"
            << "handoffs without result.json: " << out["handoffs_open"].as_int64() << "\njobs by state:";
  for (const auto& kv : out["jobs_by_state"].as_object()) std::cout << "  " << kv.key() << "=" << kv.value().as_int64();
  std::cout << "\ntriggers:\n";
  for (const auto& t : out["triggers"].as_array()) {
    std::cout << "  " << t.at("table").as_string().c_str() << ": "
              << (t.at("installed").as_bool() ? "installed" : "missing (polling)") << "\n";
  }
  std::cout << "recent jobs:\n";
  for (const auto& v : out["recent_jobs"].as_array()) {
    const auto& o = v.as_object();
    std::cout << "  " << o.at("workflow_id").as_string().c_str() << "  job " << o.at("job_id").as_string().c_str()
              << "  " << o.at("state").as_string().c_str() << "  attempt " << o.at("attempt").as_int64() << "  ("
              << o.at("history").as_string().c_str() << ")";
    if (!o.at("error").as_string().empty()) std::cout << "\n      error: " << o.at("error").as_string().c_str();
    std::cout << "\n";
  }
  return 0;
}

int cmd_replay(const Config& cfg, const std::string& workflow, bool force) {
  const auto id = Uuid::parse(workflow);
  if (!id) {
    std::cerr << "replay: \"" << workflow << "\" is not a workflow uuid\n";
    return 2;
  }
  asio::io_context io;
  {
    // Orders the importer may still act on: refused, or with --force superseded first.
    Connections c(io, same_database(cfg));
    const auto open = run_sync(io, [&]() -> asio::awaitable<std::vector<OpenOrder>> {
      co_await connect(c, cfg);
      co_return co_await open_orders_of_workflow(c.events, c.imports(), id->str());
    }());
    for (const auto& o : open) std::cerr << "replay: " << describe(o) << "\n";
    if (!open.empty() && !force) {
      std::cerr << "replay: not replaying workflow " << id->str()
                << " while orders are open (a replay would import the same results twice); wait until the importer "
                   "finishes them, or use --force\n";
      return 1;
    }
    if (!open.empty()) {
      io.restart();
      run_sync(io, [&]() -> asio::awaitable<int> {
        co_await supersede_orders(c.events, open);
        co_return 0;
      }());
      std::cerr << "replay: --force: " << open.size()
                << " open order(s) marked superseded; the importer may still import them (their files may be "
                   "imported twice)\n";
    }
  }
  io.restart();
  pg::Pool pool(io.get_executor(), libpq_conninfo(cfg.database.events_url, "database.events_url"), 1, io_timeout);
  const int n = run_sync(io, JobStore::replay(pool, id->str()));
  if (n == 0) {
    std::cerr << "replay: no jobs for workflow " << id->str() << "\n";
    return 1;
  }
  std::cout << "replaying " << n << " job(s) of workflow " << id->str() << " as the next attempt\n";
  return 0;
}

// For a container's HEALTHCHECK (no curl in the image): asks the running daemon's HTTP
// endpoint; exit 0 only on 200.
int cmd_health(const Config& cfg, bool ready) {
  if (cfg.http.listen.empty()) {
    std::cerr << "health: http.listen is not set, so the daemon has no endpoint to ask\n";
    return exit_config;
  }
  try {
    const auto answer = http_get(cfg.http.listen, ready ? "/readyz" : "/healthz", std::chrono::seconds(5));
    std::cout << answer.body;
    return answer.status == 200 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "health: no answer from " << cfg.http.listen << ": " << e.what() << "\n";
    return 1;
  }
}

int cmd_run(const Config& cfg, RunOptions opts) {
  asio::io_context io;
  Reactor reactor(io, cfg, std::move(opts));
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int signals_seen = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int sig) {
    if (ec) return;
    if (++signals_seen > 1) {
      log::warn("second signal: exiting now");
      std::_Exit(1);
    }
    log::info("signal received: stopping", {{"signal", sig}});
    reactor.request_stop();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  int code = 1;
  asio::co_spawn(io, reactor.run(), [&](std::exception_ptr e, int c) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("biomero-reactor cannot run", {{"error", ex.what()}});
      }
      code = 1;
    } else {
      code = c;
    }
    signals.cancel();
    io.stop();
  });
  io.run();
  if (const int busy = reactor.workers_busy(); busy > 0) {
    // A worker blocked in a read (a hung mount) can be neither joined nor killed: a stop
    // ends the process anyway, within jobs.shutdown_grace. Leases expire; jobs resume.
    log::warn("exiting without waiting for worker threads still in a file step", {{"workers_busy", busy}});
    std::cout.flush();
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}

}  // namespace

int main_with_args(int argc, char** argv) {
  po::options_description opts("biomero-reactor options");
  std::string config_file, log_level, log_format, instance;
  std::string since;
  bool once = false, json = false, ready = false, all = false, from_start = false, force = false;
  opts.add_options()("help,h", "show this help")("version", "print the version")(
      "config,c", po::value(&config_file),
      "configuration file (default config/reactor.yml, then /etc/biomero-reactor/reactor.yml)")(
      "log-level", po::value(&log_level), "trace, debug, info, warning or error (overrides log.level)")(
      "log-format", po::value(&log_format), "auto, json or text (overrides log.format)")(
      "once", po::bool_switch(&once), "run: process the backlog and exit when nothing is in flight")(
      "json", po::bool_switch(&json), "status, verify: JSON output")("all", po::bool_switch(&all),
                                                                     "verify: every archived job")(
      "since", po::value(&since), "verify: only jobs updated since this date (e.g. 2026-01-31)")(
      "ready", po::bool_switch(&ready), "health: ask /readyz instead of /healthz")(
      "instance", po::value(&instance), "run: lease owner name (default host:pid)")(
      "from-start", po::bool_switch(&from_start),
      "install-sql: process the event store's history (default on a first install: start at its head)")(
      "force", po::bool_switch(&force), "replay: even while orders are open at the importer (marks them superseded)")(
      "command", po::value<std::string>(),
      "run | install-sql | check | status | replay | verify | health | omero-check")(
      "args", po::value<std::vector<std::string>>(), "command arguments");
  po::positional_options_description pos;
  pos.add("command", 1).add("args", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "biomero-reactor: " << e.what() << "\n" << opts;
    return 2;
  }
  if (vm.count("version")) {
    std::cout << "biomero-reactor " << BIOMERO_REACTOR_VERSION << " (schema " << binary_schema_version() << ")\n";
    return 0;
  }
  if (vm.count("help") || !vm.count("command")) {
    std::cout << "usage: biomero-reactor [--config FILE] run [--once] | install-sql [--from-start] | check | "
                 "status [--json] | replay [--force] <workflow-uuid> | verify <workflow-uuid> | --all [--since DATE] "
                 "[--json] | "
                 "health [--ready] | omero-check <user> | --version\n\n"
              << opts;
    return vm.count("help") ? 0 : 2;
  }
  const std::string command = vm["command"].as<std::string>();
  const auto args = vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};

  Config cfg;
  try {
    // An empty --config (an unset variable) is refused by load_config, not replaced by the default.
    cfg = load_config(vm.count("config") ? std::filesystem::path(config_file) : default_config_path(),
                      process_environment());
    if (!log_level.empty()) cfg.log.level = log_level;
    if (!log_format.empty()) cfg.log.format = log_format;
    log::Options lo;
    lo.level = log::parse_level(cfg.log.level);
    lo.format = cfg.log.format == "json"   ? log::Format::json
                : cfg.log.format == "text" ? log::Format::text
                                           : log::Format::automatic;
    log::init(lo);
  } catch (const std::exception& e) {
    std::cerr << "biomero-reactor: " << e.what() << "\n";
    return exit_config;
  }

  try {
    if (command == "run") return cmd_run(cfg, RunOptions{once, instance});
    if (command == "install-sql") return cmd_install_sql(cfg, from_start);
    if (command == "check") return cmd_check(cfg);
    if (command == "status") return cmd_status(cfg, json);
    if (command == "health") return cmd_health(cfg, ready);
    if (command == "omero-check") {
      if (args.size() != 1) {
        std::cerr << "usage: biomero-reactor omero-check <omero-user-name>\n";
        return 2;
      }
      return omero_check_command(cfg, args[0]);
    }
    if (command == "replay") {
      if (args.size() != 1) {
        std::cerr << "usage: biomero-reactor replay [--force] <workflow-uuid>\n";
        return 2;
      }
      return cmd_replay(cfg, args[0], force);
    }
    if (command == "verify") {
      VerifyRequest request;
      request.json = json;
      if (!since.empty()) request.since = since;
      const auto id = args.size() == 1 ? Uuid::parse(args[0]) : std::nullopt;
      if (all == (args.size() == 1) || args.size() > 1 || (args.size() == 1 && !id)) {
        std::cerr << "usage: biomero-reactor verify <workflow-uuid> | --all [--since DATE] [--json]\n";
        return 2;
      }
      if (id) request.workflow_id = id->str();
      return cmd_verify(cfg, request);
    }
  } catch (const ConfigError& e) {
    std::cerr << "biomero-reactor: " << e.what() << "\n";
    return exit_config;
  } catch (const std::exception& e) {
    std::cerr << "biomero-reactor " << command << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << "biomero-reactor: unknown command \"" << command << "\"\n";
  return 2;
}

}  // namespace biomero_reactor
