#include "biomero_reactor/reactor.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <map>

#include "biomero_reactor/conninfo.hpp"
#include "biomero_reactor/http_endpoint.hpp"
#include "biomero_reactor/intake.hpp"
#include "biomero_reactor/listener.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/metrics.hpp"
#include "biomero_reactor/migrations.hpp"
#include "biomero_reactor/pipeline.hpp"
#include "biomero_reactor/systemd_notify.hpp"
#include "biomero_reactor/wakeup.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int max_concurrent_jobs = 16;
constexpr const char* workflow_channel = "biomero_reactor_workflow";
constexpr const char* import_channel = "biomero_reactor_import";
constexpr const char* jobs_channel = "biomero_reactor_jobs";  // new or resubmitted jobs to claim

HttpAnswer json_answer(unsigned status, boost::json::object body) {
  return HttpAnswer{status, "application/json", boost::json::serialize(body) + "\n"};
}

}  // namespace

struct Reactor::Impl {
  asio::io_context& io;
  Config cfg;
  RunOptions opts;
  std::string events_conninfo, importer_conninfo;
  bool same_db;
  pg::Pool events;
  pg::Pool importer_own;
  asio::thread_pool workers{2};
  std::unique_ptr<PipelineContext> ctx;
  std::unique_ptr<Listener> events_listener, importer_listener;
  Wakeup intake_wake{io.get_executor()}, scheduler_wake{io.get_executor()}, waiter_wake{io.get_executor()},
      stop_wake{io.get_executor()}, watchdog_wake{io.get_executor()};
  std::set<std::string> notified_orders;
  bool import_trigger = false;
  bool workflow_trigger = false;
  bool stopping = false;
  int running_jobs = 0;
  int loops_running = 0;
  bool caught_up_once = false;
  SystemdNotifier systemd = SystemdNotifier::from_environment();
  bool ready_sent = false;
  std::unique_ptr<HttpEndpoint> http;
  // Counted here rather than in the pipeline: they describe the reactor's inputs.
  bool workflow_notified = false;
  std::uint64_t events_by_notify = 0, events_by_poll = 0;
  std::map<std::string, std::uint64_t> notifications_by_channel;
  std::map<std::string, Histogram> step_durations;  // by the state a step ended in

  Impl(asio::io_context& io_, Config c, RunOptions o)
      : io(io_),
        cfg(std::move(c)),
        opts(std::move(o)),
        events_conninfo(libpq_conninfo(cfg.database.events_url, "database.events_url")),
        importer_conninfo(cfg.database.importer_url.empty()
                              ? events_conninfo
                              : libpq_conninfo(cfg.database.importer_url, "database.importer_url")),
        same_db(events_conninfo == importer_conninfo),
        events(io.get_executor(), events_conninfo, static_cast<std::size_t>(cfg.database.pool_size), Millis(30000)),
        importer_own(io.get_executor(), importer_conninfo, 2, Millis(30000)) {
    if (opts.instance.empty()) opts.instance = default_instance();
  }

  pg::Pool& importer() { return same_db ? events : importer_own; }

  bool notifications_healthy() const {
    return events_listener && events_listener->healthy() && (!importer_listener || importer_listener->healthy());
  }

  void on_notification(const pg::Notification& n) {
    ++notifications_by_channel[n.channel];
    if (n.channel == workflow_channel) {
      log::debug("workflow completed notification", {{"event_id", n.payload}});
      workflow_notified = true;
      intake_wake.notify();
    } else if (n.channel == jobs_channel) {
      scheduler_wake.notify();
    } else if (n.channel == import_channel) {
      try {
        const auto o = boost::json::parse(n.payload).as_object();
        notified_orders.insert(std::string(o.at("uuid").as_string()));
        log::debug("import stage notification", {{"order_uuid", o.at("uuid")}, {"stage", o.at("stage")}});
      } catch (const std::exception&) {
        log::warn("ignoring a malformed import notification", {{"payload", n.payload}});
      }
      waiter_wake.notify();
    }
  }

  template <class F>
  void spawn_loop(F f) {
    ++loops_running;
    asio::co_spawn(io, std::move(f), [this](std::exception_ptr e) {
      --loops_running;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("internal loop ended with an error", {{"error", ex.what()}});
        }
      }
      stop_wake.notify();
    });
  }

  asio::awaitable<void> intake_once() {
    const bool by_notify = std::exchange(workflow_notified, false);
    auto stats = co_await run_intake(events, cfg);
    (by_notify ? events_by_notify : events_by_poll) += static_cast<std::uint64_t>(stats.events);
    caught_up_once = true;
    if (stats.jobs_created > 0) scheduler_wake.notify();
  }

  asio::awaitable<void> intake_loop() {
    while (!stopping) {
      try {
        co_await intake_once();
      } catch (const std::exception& e) {
        log::warn("reading the event store failed; retrying", {{"error", e.what()}});
      }
      const Duration next = notifications_healthy() ? cfg.intake.poll_interval : cfg.import.degraded_poll_interval;
      co_await intake_wake.wait_for(next);
    }
  }

  asio::awaitable<void> scheduler_loop() {
    while (!stopping) {
      Duration wait = cfg.intake.poll_interval;
      try {
        const int free = max_concurrent_jobs - running_jobs;
        std::vector<JobRef> jobs;
        if (free > 0) jobs = co_await claim_jobs(*ctx, free);
        for (const auto& j : jobs) {
          ++running_jobs;
          asio::co_spawn(
              io, [this, j]() -> asio::awaitable<void> { co_await run_job(*ctx, j); },
              [this](std::exception_ptr e) {
                --running_jobs;
                if (e) log::error("job coroutine ended with an unexpected error");
                scheduler_wake.notify();
              });
        }
        if (!jobs.empty()) continue;
        if (free > 0) {
          const auto due = co_await next_job_due(*ctx);
          if (due) wait = std::min(wait, std::max(*due, Duration(50)));
        }
      } catch (const std::exception& e) {
        log::warn("claiming jobs failed; retrying", {{"error", e.what()}});
        wait = cfg.import.degraded_poll_interval;
      }
      co_await scheduler_wake.wait_for(wait);
    }
  }

  asio::awaitable<void> waiter_loop() {
    auto next_full = Clock::now();
    while (!stopping) {
      const bool full = Clock::now() >= next_full || notified_orders.empty();
      std::optional<std::set<std::string>> only;
      if (!full) only = std::exchange(notified_orders, {});
      try {
        if (full) notified_orders.clear();
        co_await check_orders(*ctx, only);
      } catch (const std::exception& e) {
        log::warn("reading upload order stages failed; retrying", {{"error", e.what()}});
      }
      const auto interval =
          (notifications_healthy() && import_trigger) ? cfg.import.poll_interval : cfg.import.degraded_poll_interval;
      if (full) next_full = Clock::now() + interval;
      const auto left = std::chrono::duration_cast<Duration>(next_full - Clock::now());
      co_await waiter_wake.wait_for(std::max(left, Duration(0)));
    }
  }

  // --once: stop when intake has run and no job is in flight.
  asio::awaitable<void> once_monitor() {
    auto ex = co_await asio::this_coro::executor;
    while (!stopping) {
      asio::steady_timer t(ex, std::chrono::milliseconds(200));
      co_await t.async_wait(asio::use_awaitable);
      if (!caught_up_once || running_jobs > 0) continue;
      try {
        auto c = co_await events.acquire();
        auto r = co_await c->query(
            "SELECT count(*) FROM biomero_reactor.jobs WHERE state NOT IN ('imported', 'failed', 'skipped')");
        if (r.int64(0, 0) == 0) {
          log::info("nothing left in flight (--once)");
          stop();
        }
      } catch (const std::exception& e) {
        log::warn("checking for work in flight failed", {{"error", e.what()}});
      }
    }
  }

  Listener::Callbacks callbacks(bool for_events) {
    Listener::Callbacks cb;
    cb.notified = [this](const pg::Notification& n) { on_notification(n); };
    cb.catch_up = [this, for_events]() -> asio::awaitable<void> {
      if (for_events) co_await intake_once();
      waiter_wake.notify();
      // Connected, LISTENing and caught up: from here on nothing committed is missed.
      if (for_events && !ready_sent) {
        ready_sent = true;
        systemd.send("READY=1\nSTATUS=listening for completed workflows");
      }
    };
    cb.health_changed = [this, for_events](bool healthy) {
      if (!healthy) {
        log::warn("notifications unavailable: polling every " + format_duration(cfg.import.degraded_poll_interval));
        (for_events ? events : importer()).close_idle();
      }
      intake_wake.notify();
      waiter_wake.notify();
    };
    return cb;
  }

  void stop() {
    if (stopping) return;
    stopping = true;
    systemd.send("STOPPING=1");
    if (http) http->stop();
    if (events_listener) events_listener->stop();
    if (importer_listener) importer_listener->stop();
    intake_wake.notify();
    scheduler_wake.notify();
    waiter_wake.notify();
    stop_wake.notify();
    watchdog_wake.notify();
  }

  // Sent from the event loop itself, so a stuck loop stops the pings and systemd restarts us.
  asio::awaitable<void> watchdog_loop(std::chrono::milliseconds interval) {
    while (!stopping) {
      systemd.send("WATCHDOG=1");
      co_await watchdog_wake.wait_for(interval);
    }
  }

  // Empty when the database answers a query; otherwise why not.
  static asio::awaitable<std::string> database_problem(pg::Pool& pool, const char* which) {
    try {
      auto c = co_await pool.acquire();
      co_await c->query("SELECT 1");
      co_return std::string();
    } catch (const std::exception& e) {
      std::string problem = std::string(which) + " database unreachable: " + e.what();
      co_return problem;
    }
  }

  // Ready: the databases answer, notifications flow (or the reactor knowingly polls because
  // no trigger is installed), and the group storage can be written.
  asio::awaitable<HttpAnswer> readiness() {
    boost::json::array reasons;
    if (stopping) reasons.emplace_back("stopping");
    if (!ctx) reasons.emplace_back("starting");
    std::string problem = co_await database_problem(events, "events");
    if (!problem.empty()) reasons.emplace_back(problem);
    if (!same_db) {
      problem = co_await database_problem(importer_own, "importer");
      if (!problem.empty()) reasons.emplace_back(problem);
    }
    const bool poll_only = !workflow_trigger && !import_trigger;
    if (ctx && !poll_only && !notifications_healthy()) {
      std::string why = "LISTEN session down; polling every " + format_duration(cfg.import.degraded_poll_interval);
      if (events_listener && !events_listener->fsm().last_error().empty())
        why += ": " + events_listener->fsm().last_error();
      reasons.emplace_back(why);
    }
    if (ctx && ::access(ctx->storage.base_dir.c_str(), W_OK | X_OK) != 0) {
      reasons.emplace_back("group storage base_dir " + ctx->storage.base_dir.string() + " is not writable as uid " +
                           std::to_string(::getuid()) + ": " + std::strerror(errno));
    }
    const bool ready = reasons.empty();
    boost::json::object body;
    body["ready"] = ready;
    if (ready)
      body["poll_only"] = poll_only;
    else
      body["reasons"] = std::move(reasons);
    HttpAnswer answer = json_answer(ready ? 200 : 503, std::move(body));
    co_return answer;
  }

  // The database gauges are read at scrape time; a database that does not answer leaves them out.
  asio::awaitable<HttpAnswer> metrics() {
    MetricsText m;
    m.gauge("biomero_reactor_build_info", "Version of the running binary.", 1,
            {{"version", BIOMERO_REACTOR_VERSION}, {"schema", std::to_string(binary_schema_version())}});
    m.counter("biomero_reactor_events_total", "WorkflowCompleted events read, by what woke intake.",
              static_cast<double>(events_by_notify), {{"source", "notify"}});
    m.counter("biomero_reactor_events_total", "", static_cast<double>(events_by_poll), {{"source", "poll"}});
    for (const char* ch : {workflow_channel, import_channel}) {
      m.counter("biomero_reactor_notifications_total", "NOTIFY messages received, by channel.",
                static_cast<double>(notifications_by_channel[ch]), {{"channel", ch}});
    }
    const Counters c = ctx ? ctx->counters : Counters{};
    m.counter("biomero_reactor_jobs_total", "Jobs finished or retried, by outcome.",
              static_cast<double>(c.jobs_imported), {{"outcome", "imported"}});
    m.counter("biomero_reactor_jobs_total", "", static_cast<double>(c.jobs_failed), {{"outcome", "failed"}});
    m.counter("biomero_reactor_jobs_total", "", static_cast<double>(c.jobs_retried), {{"outcome", "retried"}});
    m.counter("biomero_reactor_orders_submitted_total", "Upload orders inserted into the importer's table.",
              static_cast<double>(c.orders_submitted));
    m.counter("biomero_reactor_orders_resubmitted_total",
              "Jobs whose orders were submitted again after an importer restart.",
              static_cast<double>(c.orders_resubmitted));
    m.counter("biomero_reactor_bytes_extracted_total", "Bytes extracted from result zips.",
              static_cast<double>(c.bytes_extracted));
    m.counter("biomero_reactor_bytes_copied_total", "Bytes copied into .analyzed trees.",
              static_cast<double>(c.bytes_copied));
    m.gauge("biomero_reactor_jobs_running", "Job steps running in this process.", running_jobs);
    for (const auto& [state, h] : step_durations) {
      m.histogram("biomero_reactor_step_duration_seconds", "Time from a job's previous state to this one.", h,
                  {{"state", state}});
    }
    for (const Listener* l : {events_listener.get(), importer_listener.get()}) {
      if (!l) continue;
      const std::string db = l == events_listener.get() ? "events" : "importer";
      m.gauge("biomero_reactor_listener_up", "1 while the LISTEN session is connected and caught up.",
              l->healthy() ? 1 : 0, {{"database", db}});
    }
    for (const Listener* l : {events_listener.get(), importer_listener.get()}) {
      if (!l) continue;
      const std::string db = l == events_listener.get() ? "events" : "importer";
      m.counter("biomero_reactor_listener_reconnects_total", "LISTEN sessions re-established after a loss.",
                static_cast<double>(l->fsm().reconnects()), {{"database", db}});
    }
    for (const Listener* l : {events_listener.get(), importer_listener.get()}) {
      if (!l) continue;
      const std::string db = l == events_listener.get() ? "events" : "importer";
      m.counter("biomero_reactor_listener_failures_total",
                "LISTEN session failures: connect, LISTEN, catch-up or heartbeat (half-open connection).",
                static_cast<double>(l->fsm().failures()), {{"database", db}});
    }
    try {
      auto conn = co_await events.acquire();
      auto r = co_await conn->query(
          "SELECT (SELECT count(*) FROM biomero_reactor.orders o JOIN biomero_reactor.jobs j ON j.id = o.job_id "
          "        AND o.attempt = j.attempt AND o.submission = j.submission WHERE j.state = 'submitted'), "
          "       pg_notification_queue_usage()");
      m.gauge("biomero_reactor_orders_waiting", "Upload orders waiting for BIOMERO.importer.",
              static_cast<double>(r.int64(0, 0)));
      m.gauge("biomero_reactor_notification_queue_usage",
              "Fraction of PostgreSQL's NOTIFY queue in use (events database).", r.float64(0, 1));
      m.gauge("biomero_reactor_database_up", "1 when the events database answered this scrape.", 1);
    } catch (const std::exception&) {
      m.gauge("biomero_reactor_database_up", "1 when the events database answered this scrape.", 0);
    }
    HttpAnswer answer{200, MetricsText::content_type, m.str()};
    co_return answer;
  }

  asio::awaitable<HttpAnswer> answer_http(std::string target) {
    const std::string path = target.substr(0, target.find('?'));
    HttpAnswer answer{404, "text/plain", "not found: try /healthz, /readyz or /metrics\n"};
    if (path == "/healthz") answer = json_answer(200, {{"status", "ok"}});
    if (path == "/readyz") answer = co_await readiness();
    if (path == "/metrics") answer = co_await metrics();
    co_return answer;
  }

  asio::awaitable<int> run() {
    if (!cfg.http.listen.empty()) {
      http = std::make_unique<HttpEndpoint>(io.get_executor(), cfg.http.listen,
                                            [this](std::string target) { return answer_http(std::move(target)); });
      log::info("HTTP endpoint listening", {{"listen", cfg.http.listen}, {"port", http->port()}});
      spawn_loop([this] { return http->run(); });
    }
    if (const auto interval = systemd.watchdog_interval()) {
      spawn_loop([this, i = *interval] { return watchdog_loop(i); });
    }
    {
      auto c = co_await events.acquire();
      co_await require_schema(*c);
      std::unique_ptr<pg::Pool::Lease> imp;
      if (!same_db) imp = std::make_unique<pg::Pool::Lease>(co_await importer_own.acquire());
      pg::Connection* importer_conn = imp ? &**imp : nullptr;
      const auto triggers = co_await trigger_status(*c, importer_conn);
      for (const auto& t : triggers) {
        if (t.table == "public.imports") import_trigger = t.installed;
        if (t.table == "public.workflowtracker_events") workflow_trigger = t.installed;
        if (!t.installed)
          log::warn("trigger not installed; polling instead", {{"table", t.table}, {"detail", t.detail}});
      }
    }
    StorageSettings storage = load_storage_settings(cfg);
    for (const auto& w : storage.warnings) log::warn(w);
    ctx = std::make_unique<PipelineContext>(PipelineContext{
        cfg, std::move(storage), events, importer(), same_db, workers, opts.instance, opts.stop_at_step, {}, {}, {}});
    ctx->wake_scheduler = [this] { scheduler_wake.notify(); };
    ctx->step_finished = [this](const std::string& state, double seconds) {
      step_durations.try_emplace(state, step_duration_histogram()).first->second.observe(seconds);
    };
    co_await release_own_leases(*ctx);
    log::info("biomero-reactor started",
              {{"version", BIOMERO_REACTOR_VERSION},
               {"instance", opts.instance},
               {"events_db", redact_conninfo(events_conninfo)},
               {"importer_db", same_db ? "same as events_db" : redact_conninfo(importer_conninfo)},
               {"base_dir", ctx->storage.base_dir.string()},
               {"import_notifications", import_trigger},
               {"once", opts.once}});

    const ListenerFsm::Settings ls{cfg.listener.heartbeat_interval, cfg.listener.backoff_initial,
                                   cfg.listener.backoff_max};
    std::vector<std::string> channels{workflow_channel, jobs_channel};
    if (same_db) channels.emplace_back(import_channel);
    events_listener = std::make_unique<Listener>(io.get_executor(), "events", events_conninfo, channels, ls,
                                                 cfg.listener.heartbeat_timeout, callbacks(true));
    if (!same_db) {
      importer_listener = std::make_unique<Listener>(io.get_executor(), "importer", importer_conninfo,
                                                     std::vector<std::string>{import_channel}, ls,
                                                     cfg.listener.heartbeat_timeout, callbacks(false));
      spawn_loop([this] { return importer_listener->run(); });
    }
    spawn_loop([this] { return events_listener->run(); });
    spawn_loop([this] { return intake_loop(); });
    spawn_loop([this] { return scheduler_loop(); });
    spawn_loop([this] { return waiter_loop(); });
    if (opts.once) spawn_loop([this] { return once_monitor(); });

    while (!stopping) co_await stop_wake.wait_for(std::chrono::hours(24));

    // Running steps finish or checkpoint; waiting orders resume on the next start.
    const auto deadline = Clock::now() + cfg.jobs.shutdown_grace;
    while ((running_jobs > 0 || loops_running > 0) && Clock::now() < deadline) {
      co_await stop_wake.wait_for(std::chrono::milliseconds(100));
    }
    if (running_jobs > 0) {
      log::warn("stopping with steps still running; their leases expire and they resume on the next start",
                {{"running", running_jobs}});
    }
    log::info("biomero-reactor stopped");
    co_return 0;
  }
};

Reactor::Reactor(asio::io_context& io, Config cfg, RunOptions opts)
    : impl_(std::make_unique<Impl>(io, std::move(cfg), std::move(opts))) {}
Reactor::~Reactor() {
  impl_->workers.join();
}
asio::awaitable<int> Reactor::run() {
  return impl_->run();
}
void Reactor::request_stop() {
  impl_->stop();
}

}  // namespace biomero_reactor
