#pragma once
// The gauges /metrics reads from the events database: jobs by state, the orders waiting
// for the importer, the oldest waiting order and pending job, the NOTIFY queue. Read at
// scrape time, at most once per `max_age` whatever the number of scrapers (a scrape that
// finds a read in flight gets the previous one), so a dashboard refreshing every second
// cannot load the database.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>

#include "biomero_reactor/job_store.hpp"
#include "biomero_reactor/metrics.hpp"
#include "biomero_reactor/pg.hpp"

namespace biomero_reactor {

struct DatabaseReading {
  JobGauges jobs;
  double notification_queue_usage = 0;
};

// Pure: the families of one reading; nullopt = the database did not answer (database_up 0).
void write_database_gauges(MetricsText& m, const std::optional<DatabaseReading>& reading);

class DatabaseGauges {
 public:
  explicit DatabaseGauges(pg::Pool& events, std::chrono::steady_clock::duration max_age = std::chrono::seconds(1));
  boost::asio::awaitable<std::optional<DatabaseReading>> read();
  [[nodiscard]] std::uint64_t reads() const { return reads_; }  // database round trips made

 private:
  pg::Pool& events_;
  std::chrono::steady_clock::duration max_age_;
  std::optional<std::chrono::steady_clock::time_point> read_at_;
  std::optional<DatabaseReading> last_;
  bool in_flight_ = false;
  std::uint64_t reads_ = 0;
};

}  // namespace biomero_reactor
