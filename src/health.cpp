#include "biomero_reactor/health.hpp"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>

#include "biomero_reactor/channels.hpp"
#include "biomero_reactor/migrations.hpp"
#include "biomero_reactor/process_metrics.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

HttpAnswer json_answer(unsigned status, boost::json::object body) {
  return HttpAnswer{status, "application/json", boost::json::serialize(body) + "\n"};
}

// Empty when the database answers a query; otherwise why not.
asio::awaitable<std::string> database_problem(pg::Pool& pool, std::string which) {
  try {
    auto c = co_await pool.acquire();
    co_await c->query("SELECT 1");
    co_return std::string();
  } catch (const std::exception& e) {
    std::string problem = which + " database unreachable: " + e.what();
    co_return problem;
  }
}

// Every state a step can end in, from the first scrape on (zero counts before the first
// job), so rate() and histogram_quantile() see the series from the start.
void write_step_durations(MetricsText& m, const std::map<std::string, Histogram>& observed) {
  for (const JobState state : all_job_states) {
    if (state == JobState::pending || state == JobState::skipped) continue;  // never a step's end
    const std::string name(to_string(state));
    const auto it = observed.find(name);
    m.histogram("biomero_reactor_step_duration_seconds", "Time from a job's previous state to this one.",
                it == observed.end() ? step_duration_histogram() : it->second, {{"state", name}});
  }
}

}  // namespace

Health::Health(pg::Pool& events, pg::Pool* importer, std::function<ReactorSnapshot()> snapshot)
    : events_(events), importer_(importer), snapshot_(std::move(snapshot)), database_gauges_(events) {}

asio::awaitable<HttpAnswer> Health::answer(std::string target) {
  const std::string path = target.substr(0, target.find('?'));
  HttpAnswer answer{404, "text/plain", "not found: try /healthz, /readyz or /metrics\n"};
  if (path == "/healthz") answer = json_answer(200, {{"status", "ok"}});
  if (path == "/readyz") answer = co_await readiness();
  if (path == "/metrics") answer = co_await metrics();
  co_return answer;
}

asio::awaitable<boost::json::array> Health::not_ready_reasons(bool probe_events) {
  boost::json::array reasons;
  const ReactorSnapshot before = snapshot_();
  if (before.stopping) reasons.emplace_back("stopping");
  if (before.starting) reasons.emplace_back("starting");
  std::string problem;
  if (probe_events) problem = co_await database_problem(events_, "events");
  if (!problem.empty()) reasons.emplace_back(problem);
  if (importer_ != nullptr) {
    problem = co_await database_problem(*importer_, "importer");
    if (!problem.empty()) reasons.emplace_back(problem);
  }
  const ReactorSnapshot s = snapshot_();
  if (!s.starting && !s.poll_only && !s.notifications_healthy) {
    std::string why = "LISTEN session down; polling every " + s.degraded_poll;
    for (const auto& l : s.listeners) {
      if (!l.last_error.empty()) {
        why += ": " + l.last_error;
        break;
      }
    }
    reasons.emplace_back(why);
  }
  if (s.base_dir && ::access(s.base_dir->c_str(), W_OK | X_OK) != 0) {
    reasons.emplace_back("group storage base_dir " + s.base_dir->string() + " is not writable as uid " +
                         std::to_string(::getuid()) + ": " + std::strerror(errno));
  }
  if (s.workers > 0 && s.workers_stuck >= s.workers) {
    reasons.emplace_back("every worker thread (" + std::to_string(s.workers) +
                         ") is stuck in a file step past jobs.file_step_timeout (a hung mount?)");
  }
  co_return reasons;
}

asio::awaitable<HttpAnswer> Health::readiness() {
  boost::json::array reasons = co_await not_ready_reasons();
  const ReactorSnapshot s = snapshot_();
  const bool poll_only = s.poll_only;
  const bool ready = reasons.empty();
  boost::json::object body;
  if (s.workers_stuck > 0) body["workers_stuck"] = s.workers_stuck;
  body["ready"] = ready;
  if (ready)
    body["poll_only"] = poll_only;
  else
    body["reasons"] = std::move(reasons);
  HttpAnswer answer = json_answer(ready ? 200 : 503, std::move(body));
  co_return answer;
}

// The database gauges are read at scrape time (database_gauges.hpp); a database that does
// not answer leaves them out.
asio::awaitable<HttpAnswer> Health::metrics() {
  const ReactorSnapshot s = snapshot_();
  MetricsText m;
  m.gauge("biomero_reactor_build_info", "Version of the running binary.", 1,
          {{"version", BIOMERO_REACTOR_VERSION}, {"schema", std::to_string(binary_schema_version())}});
  m.counter("biomero_reactor_events_total", "WorkflowCompleted events read, by what woke intake.",
            static_cast<double>(s.events_by_notify), {{"source", "notify"}});
  m.counter("biomero_reactor_events_total", "", static_cast<double>(s.events_by_poll), {{"source", "poll"}});
  for (const std::string_view ch : {channels::workflow, channels::import}) {
    const auto it = s.notifications_by_channel.find(std::string(ch));
    const double n = it == s.notifications_by_channel.end() ? 0 : static_cast<double>(it->second);
    m.counter("biomero_reactor_notifications_total", "NOTIFY messages received, by channel.", n,
              {{"channel", std::string(ch)}});
  }
  const Counters& c = s.counters;
  m.counter("biomero_reactor_jobs_total", "Jobs finished by this process, by outcome.",
            static_cast<double>(c.jobs_imported), {{"outcome", "imported"}});
  m.counter("biomero_reactor_jobs_total", "", static_cast<double>(c.jobs_failed), {{"outcome", "failed"}});
  m.counter("biomero_reactor_step_retries_total", "Job steps that failed transiently and were scheduled again.",
            static_cast<double>(c.step_retries));
  m.counter("biomero_reactor_orders_submitted_total", "Upload orders inserted into the importer's table.",
            static_cast<double>(c.orders_submitted));
  m.counter("biomero_reactor_orders_resubmitted_total",
            "Jobs whose orders were submitted again after an importer restart.",
            static_cast<double>(c.orders_resubmitted));
  m.counter("biomero_reactor_omero_annotations_total", "Imported jobs' OMERO annotation attempts, by outcome.",
            static_cast<double>(c.annotations_done), {{"outcome", "done"}});
  m.counter("biomero_reactor_omero_annotations_total", "", static_cast<double>(c.annotation_failures),
            {{"outcome", "failed"}});
  m.counter("biomero_reactor_omero_annotations_total", "", static_cast<double>(c.annotations_given_up),
            {{"outcome", "given_up"}});
  m.counter("biomero_reactor_extracted_bytes_total", "Bytes extracted from result zips.",
            static_cast<double>(c.bytes_extracted));
  m.counter("biomero_reactor_copied_bytes_total", "Bytes copied into .analyzed trees.",
            static_cast<double>(c.bytes_copied));
  m.gauge("biomero_reactor_jobs_running", "Job steps running in this process.", s.running_jobs);
  m.gauge("biomero_reactor_workers_stuck",
          "Worker threads still in a file step that was given up after jobs.file_step_timeout.", s.workers_stuck);
  write_step_durations(m, s.step_durations);
  // One family after another, as the exposition format wants them grouped.
  struct Family {
    const char* name;
    const char* help;
    bool gauge;
    double (*value)(const ListenerSnapshot&);
  };
  const Family families[] = {
      {"biomero_reactor_listener_up", "1 while the LISTEN session is connected and caught up.", true,
       [](const ListenerSnapshot& l) { return l.up ? 1.0 : 0.0; }},
      {"biomero_reactor_listener_reconnects_total", "LISTEN sessions re-established after a loss.", false,
       [](const ListenerSnapshot& l) { return static_cast<double>(l.reconnects); }},
      {"biomero_reactor_listener_failures_total",
       "LISTEN session failures: connect, LISTEN, catch-up or heartbeat (half-open connection).", false,
       [](const ListenerSnapshot& l) { return static_cast<double>(l.failures); }},
  };
  for (const auto& f : families) {
    for (const auto& l : s.listeners) {
      if (f.gauge)
        m.gauge(f.name, f.help, f.value(l), {{"database", l.database}});
      else
        m.counter(f.name, f.help, f.value(l), {{"database", l.database}});
    }
  }
  // The events database answered (or not) the gauges' read: readiness reuses that rather
  // than waiting for it a second time when it hangs.
  const std::optional<DatabaseReading> reading = co_await database_gauges_.read();
  const boost::json::array not_ready = co_await not_ready_reasons(false);
  m.gauge("biomero_reactor_ready", "1 when /readyz answers 200 (the same checks, run for this scrape).",
          not_ready.empty() && reading ? 1 : 0);
  write_database_gauges(m, reading);
  if (const auto process = read_process_stats()) write_process_metrics(m, *process);
  HttpAnswer answer{200, MetricsText::content_type, m.str()};
  co_return answer;
}

}  // namespace biomero_reactor
