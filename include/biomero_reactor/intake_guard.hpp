#pragma once
// The poison-event rule of intake (sql/004_intake_marker.sql): an event whose processing
// crashed the daemon (or froze it until the watchdog killed it) is skipped at the next
// start with the reason recorded, instead of being retried, and crashing, forever.
// Intake marks each event before decoding it, on the guard's own connection (committed
// at once, outside the batch's transaction), and clears the mark after the batch commits.
// A mark found after the cursor that another process left and whose session is gone
// names the poison event. This process's own marks (a batch rolled back by a database
// error) never count. The guard's session is a pool of one: intake runs may overlap (a
// notification during a poll), and each statement takes the session only for itself.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/units.hpp"

namespace biomero_reactor {

// The reason recorded for a poison event.
[[nodiscard]] std::string poison_reason(std::int64_t event_id);

class IntakeGuard {
 public:
  IntakeGuard(boost::asio::any_io_executor ex, std::string conninfo, std::string instance, Duration io_timeout);
  IntakeGuard(const IntakeGuard&) = delete;
  IntakeGuard& operator=(const IntakeGuard&) = delete;

  // The event after `cursor` that a dead process was working on, if any.
  boost::asio::awaitable<std::optional<std::int64_t>> poisoned(std::int64_t cursor);
  // Commits "working on event_id" before it is decoded.
  boost::asio::awaitable<void> mark(std::int64_t event_id);
  // After the batch committed (its events are behind the cursor).
  boost::asio::awaitable<void> clear();
  // The LISTEN session was lost: the guard's idle session may be dead too.
  void close_idle() { pool_.close_idle(); }

 private:
  std::string owner_;
  pg::Pool pool_;
};

}  // namespace biomero_reactor
