#include "biomero_reactor/reactor.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <map>

#include "biomero_reactor/channels.hpp"
#include "biomero_reactor/conninfo.hpp"
#include "biomero_reactor/handoff_intake.hpp"
#include "biomero_reactor/health.hpp"
#include "biomero_reactor/http_endpoint.hpp"
#include "biomero_reactor/import_waiter.hpp"
#include "biomero_reactor/instance_lock.hpp"
#include "biomero_reactor/intake.hpp"
#include "biomero_reactor/intake_guard.hpp"
#include "biomero_reactor/listener.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/migrations.hpp"
#include "biomero_reactor/omero_annotator.hpp"
#include "biomero_reactor/omero_step.hpp"
#include "biomero_reactor/pipeline.hpp"
#include "biomero_reactor/reload_signal.hpp"
#include "biomero_reactor/storage_refresh.hpp"
#include "biomero_reactor/systemd_notify.hpp"
#include "biomero_reactor/wakeup.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// How long the scheduler waits at least before looking again for a job that is due.
constexpr Duration min_scheduler_wait = std::chrono::milliseconds(50);
// How often `run --once` looks whether anything is still in flight.
constexpr Duration once_check_interval = std::chrono::milliseconds(200);

}  // namespace

struct Reactor::Impl {
  asio::io_context& io;
  Config cfg;
  RunOptions opts;
  std::string events_conninfo, importer_conninfo;
  bool same_db;
  pg::Pool events;
  pg::Pool importer_own;
  asio::thread_pool workers{static_cast<std::size_t>(cfg.jobs.workers)};
  std::shared_ptr<WorkerWatch> watch = std::make_shared<WorkerWatch>();
  std::unique_ptr<JobStore> store;
  std::unique_ptr<PipelineContext> ctx;
  std::unique_ptr<Listener> events_listener, importer_listener;
  Wakeup intake_wake{io.get_executor()}, scheduler_wake{io.get_executor()}, waiter_wake{io.get_executor()},
      stop_wake{io.get_executor()}, watchdog_wake{io.get_executor()}, log_wake{io.get_executor()},
      handoff_wake{io.get_executor()}, annotation_wake{io.get_executor()}, lock_wake{io.get_executor()};
  bool handoff_scanned_once = false;
  std::unique_ptr<InstanceLock> instance_lock;  // held for the daemon's life
  std::unique_ptr<IntakeGuard> intake_guard;    // the poison-event rule
  int exit_code = 0;
  StageNotices notified_orders;
  bool import_trigger = false;
  bool workflow_trigger = false;
  bool stopping = false;
  int running_jobs = 0;
  int loops_running = 0;
  bool caught_up_once = false;
  SystemdNotifier systemd = SystemdNotifier::from_environment();
  bool ready_sent = false;
  std::unique_ptr<HttpEndpoint> http;
  std::unique_ptr<Health> health;
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
        same_db(same_database(cfg)),
        events(io.get_executor(), events_conninfo, static_cast<std::size_t>(cfg.database.pool_size),
               cfg.database.timeout),
        importer_own(io.get_executor(), importer_conninfo, static_cast<std::size_t>(cfg.database.importer_pool_size),
                     cfg.database.timeout) {
    if (opts.instance.empty()) opts.instance = default_instance();
  }

  pg::Pool& importer() { return same_db ? events : importer_own; }

  bool notifications_healthy() const {
    return events_listener && events_listener->healthy() && (!importer_listener || importer_listener->healthy());
  }

  void on_notification(const pg::Notification& n) {
    ++notifications_by_channel[n.channel];
    if (n.channel == channels::workflow) {
      log::debug("workflow completed notification", {{"event_id", n.payload}});
      workflow_notified = true;
      intake_wake.notify();
    } else if (n.channel == channels::jobs) {
      scheduler_wake.notify();
    } else if (n.channel == channels::handoff) {
      log::debug("handoff notification", {{"task_id", n.payload}});
      handoff_wake.notify();
    } else if (n.channel == channels::import) {
      try {
        const auto o = boost::json::parse(n.payload).as_object();
        notified_orders[std::string(o.at("uuid").as_string())] = std::string(o.at("stage").as_string());
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
    if (!intake_guard)
      intake_guard = std::make_unique<IntakeGuard>(io.get_executor(), events_conninfo, opts.instance, cfg.database.timeout);
    auto stats = co_await run_intake(events, cfg, intake_guard.get());
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

  // The spool: scanned at start, every handoff.scan_interval and on a handoff NOTIFY;
  // ended handoff jobs are finished (result.json, verdict, cleanup) at least every second.
  asio::awaitable<void> handoff_loop() {
    constexpr Duration finish_interval = std::chrono::seconds(1);
    auto next_scan = Clock::now();
    while (!stopping) {
      try {
        if (Clock::now() >= next_scan) {
          next_scan = Clock::now() + cfg.handoff.scan_interval;
          const auto stats = co_await scan_spool(events, cfg, workers);
          if (stats.created > 0) scheduler_wake.notify();
          handoff_scanned_once = true;
        }
        co_await finish_handoffs(events, cfg);
      } catch (const std::exception& e) {
        log::warn("handling the handoff spool failed; retrying", {{"error", e.what()}});
      }
      const bool woken = co_await handoff_wake.wait_for(finish_interval);
      if (woken) next_scan = Clock::now();
    }
  }

  asio::awaitable<void> scheduler_loop() {
    while (!stopping) {
      Duration wait = cfg.intake.poll_interval;
      try {
        const int free = cfg.jobs.slots - running_jobs;
        std::vector<JobRef> jobs;
        // Storage that refuses writes: no new job until it takes them again.
        const bool storage_ok = ctx->storage_gate.open();
        if (!storage_ok) wait = std::min<Duration>(wait, std::chrono::seconds(1));
        if (free > 0 && storage_ok) jobs = co_await store->claim(free);
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
          const auto due = co_await store->next_due();
          if (due) wait = std::min(wait, std::max(*due, min_scheduler_wait));
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
      std::optional<StageNotices> only;
      if (!full) only = std::exchange(notified_orders, {});
      try {
        if (full) notified_orders.clear();
        co_await settle_waiting_orders(*ctx, only);
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
      asio::steady_timer t(ex, once_check_interval);
      co_await t.async_wait(asio::use_awaitable);
      if (!caught_up_once || !handoff_scanned_once || running_jobs > 0) continue;
      try {
        std::int64_t unfinished = co_await JobStore::unfinished(events);
        unfinished += co_await handoff_results_pending(events);  // their result.json
        if (ctx->omero) unfinished += co_await annotations_untried(events);
        if (unfinished == 0) {
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
        if (for_events && intake_guard) intake_guard->close_idle();
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
    log_wake.notify();
    handoff_wake.notify();
    annotation_wake.notify();
    lock_wake.notify();
  }

  // The instance lock goes with its session: after a database restart it is taken again.
  asio::awaitable<void> instance_lock_loop() {
    while (!stopping) {
      co_await lock_wake.wait_for(std::max<Duration>(cfg.jobs.lease / 3, std::chrono::seconds(1)));
      if (stopping) break;
      try {
        co_await instance_lock->keep();
      } catch (const InstanceTaken& e) {
        // Most often our own half-open session that the server has not dropped yet.
        log::warn("the instance lock is held by another session; trying again",
                  {{"instance", opts.instance}, {"error", e.what()}});
      } catch (const std::exception& e) {
        log::warn("cannot check the instance lock; retrying", {{"error", e.what()}});
      }
    }
  }

  // Throttled log lines get their summary when their window ends, not at the next line.
  asio::awaitable<void> log_flush_loop() {
    while (!stopping) {
      co_await log_wake.wait_for(std::chrono::seconds(1));
      log::flush_throttled();
    }
  }

  // OMERO annotations of imported jobs, beside the pipeline (omero_annotator.hpp).
  asio::awaitable<void> annotation_loop() {
    while (!stopping) {
      try {
        co_await annotate_due_jobs(*ctx);
      } catch (const std::exception& e) {
        log::warn("looking for imported jobs to annotate failed; retrying", {{"error", e.what()}});
      }
      co_await annotation_wake.wait_for(cfg.import.degraded_poll_interval);
    }
  }

  // Sent from the event loop itself, so a stuck loop stops the pings and systemd restarts us.
  asio::awaitable<void> watchdog_loop(std::chrono::milliseconds interval) {
    while (!stopping) {
      systemd.send("WATCHDOG=1");
      co_await watchdog_wake.wait_for(interval);
    }
  }

  ReactorSnapshot snapshot() const {
    ReactorSnapshot s;
    s.starting = !ctx;
    s.stopping = stopping;
    s.poll_only = !workflow_trigger && !import_trigger;
    s.notifications_healthy = notifications_healthy();
    s.degraded_poll = format_duration(cfg.import.degraded_poll_interval);
    if (ctx) {
      s.base_dir = ctx->storage.base_dir;
      s.counters = ctx->counters;
    }
    for (const Listener* l : {events_listener.get(), importer_listener.get()}) {
      if (!l) continue;
      s.listeners.push_back({l == events_listener.get() ? "events" : "importer", l->healthy(), l->fsm().reconnects(),
                             l->fsm().failures(), l->fsm().last_error()});
    }
    s.running_jobs = running_jobs;
    s.events_by_notify = events_by_notify;
    s.events_by_poll = events_by_poll;
    s.notifications_by_channel = notifications_by_channel;
    s.step_durations = step_durations;
    s.workers = cfg.jobs.workers;
    s.workers_stuck = watch->stuck.load();
    return s;
  }

  asio::awaitable<int> run() {
    // Before anything else (the HTTP port, the leases): one live process per instance name.
    instance_lock = std::make_unique<InstanceLock>(io.get_executor(), events_conninfo, opts.instance,
                                                   cfg.database.timeout);
    co_await instance_lock->acquire();
    if (!cfg.http.listen.empty()) {
      health = std::make_unique<Health>(events, same_db ? nullptr : &importer_own, [this] { return snapshot(); });
      http = std::make_unique<HttpEndpoint>(io.get_executor(), cfg.http.listen,
                                            [this](std::string target) { return health->answer(std::move(target)); });
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
    store = std::make_unique<JobStore>(events, opts.instance, cfg.jobs.lease, [this](JobState state, double seconds) {
      step_durations.try_emplace(std::string(to_string(state)), step_duration_histogram())
          .first->second.observe(seconds);
    });
    ctx = std::make_unique<PipelineContext>(PipelineContext{
        cfg, std::move(storage), *store, importer(), same_db, workers, {}, {}, {}, {}, StorageGate{}, watch});
    ctx->omero = make_omero_link(cfg, process_environment());
    ctx->wake_scheduler = [this] { scheduler_wake.notify(); };
    // SIGHUP: group mappings edited by the operator take effect without a restart.
    set_reload_hook([this] { asio::post(io, [this] { reload_storage(); }); });
    co_await store->release_own_leases();
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
    std::vector<std::string> listened{std::string(channels::workflow), std::string(channels::jobs),
                                      std::string(channels::handoff)};
    if (same_db) listened.emplace_back(channels::import);
    events_listener = std::make_unique<Listener>(io.get_executor(), "events", events_conninfo, listened, ls,
                                                 cfg.listener.heartbeat_timeout, callbacks(true));
    if (!same_db) {
      importer_listener = std::make_unique<Listener>(io.get_executor(), "importer", importer_conninfo,
                                                     std::vector<std::string>{std::string(channels::import)}, ls,
                                                     cfg.listener.heartbeat_timeout, callbacks(false));
      spawn_loop([this] { return importer_listener->run(); });
    }
    spawn_loop([this] { return events_listener->run(); });
    spawn_loop([this] { return intake_loop(); });
    spawn_loop([this] { return scheduler_loop(); });
    spawn_loop([this] { return waiter_loop(); });
    spawn_loop([this] { return log_flush_loop(); });
    spawn_loop([this] { return handoff_loop(); });
    if (ctx->omero && ctx->omero->annotations) spawn_loop([this] { return annotation_loop(); });
    spawn_loop([this] { return instance_lock_loop(); });
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

  // SIGHUP: importer.settings and the group mapping files read again (storage_refresh.hpp).
  void reload_storage() {
    if (ctx) refresh_storage(ctx->storage, cfg, true);
  }
};

Reactor::Reactor(asio::io_context& io, Config cfg, RunOptions opts)
    : impl_(std::make_unique<Impl>(io, std::move(cfg), std::move(opts))) {}
Reactor::~Reactor() {
  set_reload_hook({});
  impl_->workers.join();
}
asio::awaitable<int> Reactor::run() {
  return impl_->run();
}
void Reactor::request_stop() {
  impl_->stop();
}
int Reactor::workers_busy() const {
  return impl_->watch->running.load();
}

}  // namespace biomero_reactor
