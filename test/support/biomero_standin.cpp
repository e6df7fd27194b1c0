// biomero-standin: does to the database what BIOMERO and BIOMERO.importer do, for the
// tests and the demo.
//   biomero-standin workflow --db CONNINFO --results DIR [--job ID]... [--group N] [--user N]
//       writes <DIR>/<job>_out.zip and omero-<job>.log, then a completed workflow's events
//       (BIOMERO's writer protocol); prints the workflow id.
//       With --handoff SPOOL --handoff-module PY (one --job): as BIOMERO with the handoff
//       import script instead (test_support.hpp, write_handed_off_workflow).
//   biomero-standin importer --db CONNINFO [--interval MS] [--delay MS] [--fail DESC]
//       [--hang] [--fail-open-orders-on-start]
//       BIOMERO.importer's loop: reads `Import Pending` rows with id > last seen, appends
//       `Import Started`, checks every file exists, then `Import Completed` or `Import Failed`.
//       --fail-open-orders-on-start does what the real importer does when it restarts: every
//       open order gets `Import Failed` with a NULL description.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <iostream>

#include "biomero_reactor/event_codec.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
namespace asio = boost::asio;

namespace {

struct ImporterOptions {
  std::string db;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds delay{0};
  std::string fail;
  bool hang = false;
  bool fail_open = false;
};

void say(const std::string& s) {
  std::cout << "[standin-importer] " << s << std::endl;
}

asio::awaitable<void> append_stage(pg::Connection& c, std::int64_t from_id, std::string stage, pg::Param description) {
  co_await c.query(
      "INSERT INTO public.imports (group_name, user_name, destination_id, destination_type, stage, uuid, "
      "\"timestamp\", files, file_names, description) "
      "SELECT group_name, user_name, destination_id, destination_type, $2, uuid, clock_timestamp(), files, "
      "file_names, $3 FROM public.imports WHERE id = $1",
      pg::params(from_id, stage, description));
}

asio::awaitable<void> run_importer(ImporterOptions o) {
  auto ex = co_await asio::this_coro::executor;
  pg::Connection c(ex, std::chrono::seconds(30));
  std::int64_t last_seen = 0;
  for (;;) {
    try {
      if (!c.is_open()) {
        co_await c.connect(o.db);
        if (o.fail_open) {
          // The last id is read first: an order submitted while open ones are failed is new.
          auto m = co_await c.query("SELECT coalesce(max(id), 0) FROM public.imports");
          last_seen = m.int64(0, 0);
          auto r = co_await c.query(
              "SELECT DISTINCT ON (uuid) id, uuid, stage FROM public.imports ORDER BY uuid, \"timestamp\" DESC, id "
              "DESC");
          for (int i = 0; i < r.rows(); ++i) {
            const std::string stage(r.text(i, 2));
            if (stage == "Import Completed" || stage == "Import Failed") continue;
            const std::string failed = "Import Failed";
            co_await append_stage(c, r.int64(i, 0), failed, pg::Param{});
            say("restart: failed open order " + std::string(r.text(i, 1)) + " without a description");
          }
          o.fail_open = false;
        }
        say("watching public.imports");
      }
      auto r = co_await c.query(
          "SELECT i.id, i.uuid, i.files FROM public.imports i WHERE i.id > $1 AND i.stage = 'Import Pending' "
          "ORDER BY i.id",
          pg::params(last_seen));
      for (int i = 0; i < r.rows(); ++i) {
        const std::int64_t id = r.int64(i, 0);
        last_seen = id;
        const std::string uuid(r.text(i, 1));
        const std::string started = "Import Started";
        co_await append_stage(c, id, started, pg::Param{});
        say("started " + uuid);
        if (o.hang) continue;
        if (o.delay.count() > 0) {
          asio::steady_timer t(ex, o.delay);
          co_await t.async_wait(asio::use_awaitable);
        }
        std::string missing;
        std::size_t n = 0;
        const boost::json::value files = boost::json::parse(r.text(i, 2));
        for (const auto& f : files.as_array()) {
          ++n;
          if (!std::filesystem::exists(std::string(f.as_string()))) missing = std::string(f.as_string());
        }
        std::string stage = "Import Completed";
        std::string description = std::to_string(n) + " images imported";
        if (!o.fail.empty()) {
          stage = "Import Failed";
          description = o.fail;
        } else if (!missing.empty()) {
          stage = "Import Failed";
          description = "File not found: " + missing;
        }
        co_await append_stage(c, id, stage, description);
        say(stage + " " + uuid + ": " + description);
      }
    } catch (const std::exception& e) {
      say(std::string("database error: ") + e.what());
      c.close();
    }
    asio::steady_timer t(ex, o.interval);
    co_await t.async_wait(asio::use_awaitable);
  }
}

std::string arg_value(int& i, int argc, char** argv) {
  if (i + 1 >= argc) throw std::runtime_error(std::string(argv[i]) + " needs a value");
  return argv[++i];
}

int importer_main(int argc, char** argv) {
  ImporterOptions o;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--db")
      o.db = arg_value(i, argc, argv);
    else if (a == "--interval")
      o.interval = std::chrono::milliseconds(std::stoll(arg_value(i, argc, argv)));
    else if (a == "--delay")
      o.delay = std::chrono::milliseconds(std::stoll(arg_value(i, argc, argv)));
    else if (a == "--fail")
      o.fail = arg_value(i, argc, argv);
    else if (a == "--hang")
      o.hang = true;
    else if (a == "--fail-open-orders-on-start")
      o.fail_open = true;
    else
      throw std::runtime_error("unknown option " + a);
  }
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  asio::co_spawn(io, run_importer(o), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  return 0;
}

int workflow_main(int argc, char** argv) {
  test::SampleWorkflow wf;
  std::string db;
  std::filesystem::path results;
  std::vector<std::string> jobs;
  std::filesystem::path spool, module;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--db")
      db = arg_value(i, argc, argv);
    else if (a == "--results")
      results = arg_value(i, argc, argv);
    else if (a == "--job")
      jobs.push_back(arg_value(i, argc, argv));
    else if (a == "--group")
      wf.group = std::stoll(arg_value(i, argc, argv));
    else if (a == "--user")
      wf.user = std::stoll(arg_value(i, argc, argv));
    else if (a == "--handoff")
      spool = arg_value(i, argc, argv);
    else if (a == "--handoff-module")
      module = arg_value(i, argc, argv);
    else
      throw std::runtime_error("unknown option " + a);
  }
  if (!jobs.empty()) wf.job_ids = jobs;
  if (!spool.empty()) {
    std::filesystem::create_directories(results);
    const Uuid h = test::write_handed_off_workflow(db, wf, results, spool, module);
    std::cout << wf.id.str() << " handoff " << h.str() << "\n";
    return 0;
  }
  std::filesystem::create_directories(results);
  for (const auto& j : wf.job_ids) test::write_job_results(results, j);
  test::write_workflow(db, wf);
  std::cout << wf.id.str() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "importer") return importer_main(argc, argv);
    if (cmd == "workflow") return workflow_main(argc, argv);
    std::cerr << "usage: biomero-standin importer|workflow --db CONNINFO ...\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "biomero-standin: " << e.what() << "\n";
    return 1;
  }
}
