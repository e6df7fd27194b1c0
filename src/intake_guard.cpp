#include "biomero_reactor/intake_guard.hpp"

#include "biomero_reactor/test_hooks.hpp"
#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

std::string poison_reason(std::int64_t event_id) {
  return "processing this event (id " + std::to_string(event_id) +
         ") crashed or stalled the reactor at its last start; skipped so that it cannot do so again "
         "(poison-event rule)";
}

IntakeGuard::IntakeGuard(asio::any_io_executor ex, std::string conninfo, std::string instance, Duration io_timeout)
    : owner_(std::move(instance) + "/" + random_uuid4().hex().substr(0, 12)),
      pool_(std::move(ex), std::move(conninfo), 1, io_timeout) {}

asio::awaitable<std::optional<std::int64_t>> IntakeGuard::poisoned(std::int64_t cursor) {
  auto c = co_await pool_.acquire();
  const auto r = co_await c->query(
      "SELECT event_id FROM biomero_reactor.intake_marker m WHERE source = 'workflowtracker_events' "
      "  AND event_id > $1 AND owner <> $2 "
      "  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = m.backend_pid)",
      pg::params(cursor, owner_));
  if (r.rows() == 0) co_return std::nullopt;
  co_return r.int64(0, 0);
}

asio::awaitable<void> IntakeGuard::mark(std::int64_t event_id) {
  auto c = co_await pool_.acquire();
  co_await c->query(
      "UPDATE biomero_reactor.intake_marker SET event_id = $1, owner = $2, backend_pid = pg_backend_pid(), "
      "marked_at = now() WHERE source = 'workflowtracker_events'",
      pg::params(event_id, owner_));
  if (test_hooks::event_marked) test_hooks::event_marked(event_id);
}

asio::awaitable<void> IntakeGuard::clear() {
  auto c = co_await pool_.acquire();
  co_await c->query(
      "UPDATE biomero_reactor.intake_marker SET event_id = NULL, marked_at = now() "
      "WHERE source = 'workflowtracker_events' AND owner = $1",
      pg::params(owner_));
}

}  // namespace biomero_reactor
