#include "biomero_reactor/database_gauges.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

void write_database_gauges(MetricsText& m, const std::optional<DatabaseReading>& reading) {
  const char* up_help = "1 when the events database answered the last read of the gauges below.";
  if (!reading) {
    m.gauge("biomero_reactor_database_up", up_help, 0);
    return;
  }
  const JobGauges& j = reading->jobs;
  for (const auto& [state, n] : j.jobs_by_state) {
    m.gauge("biomero_reactor_jobs", "Jobs in the job table, by state.", static_cast<double>(n), {{"state", state}});
  }
  m.gauge("biomero_reactor_orders_waiting", "Upload orders waiting for BIOMERO.importer.",
          static_cast<double>(j.orders_waiting));
  m.gauge("biomero_reactor_oldest_waiting_order_age_seconds",
          "Age of the oldest upload order still waiting for BIOMERO.importer; 0 when none waits.",
          j.oldest_waiting_order_age_seconds);
  m.gauge("biomero_reactor_oldest_pending_job_age_seconds",
          "Time the oldest pending job has been pending; 0 when none is.", j.oldest_pending_job_age_seconds);
  m.gauge("biomero_reactor_notification_queue_usage_ratio",
          "Fraction of PostgreSQL's NOTIFY queue in use (events database), 0 to 1.", reading->notification_queue_usage);
  m.gauge("biomero_reactor_database_up", up_help, 1);
}

DatabaseGauges::DatabaseGauges(pg::Pool& events, std::chrono::steady_clock::duration max_age)
    : events_(events), max_age_(max_age) {}

asio::awaitable<std::optional<DatabaseReading>> DatabaseGauges::read() {
  const auto now = std::chrono::steady_clock::now();
  // In flight with nothing read yet: read too, rather than report the database down.
  if (read_at_ && (in_flight_ || now - *read_at_ < max_age_)) co_return last_;
  in_flight_ = true;
  std::optional<DatabaseReading> reading;
  try {
    ++reads_;
    auto conn = co_await events_.acquire();
    DatabaseReading r;
    r.jobs = co_await JobStore::gauges(*conn);
    auto q = co_await conn->query("SELECT pg_notification_queue_usage()");
    r.notification_queue_usage = q.float64(0, 0);
    reading = std::move(r);
  } catch (const std::exception&) {
    reading.reset();
  }
  in_flight_ = false;
  read_at_ = std::chrono::steady_clock::now();
  last_ = reading;
  co_return reading;
}

}  // namespace biomero_reactor
