#pragma once
// BIOMERO's event store (public.workflowtracker_events): reading a workflow's events and
// appending the reactor's own Task events the way BIOMERO's own writer does (EXCLUSIVE
// lock, version = current max + 1, insert, NOTIFY workflowtracker_events), and
// running a transaction that retries when another writer appended first (23505) or the
// database asks for a retry (serialization failure, deadlock).
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <vector>

#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/pg.hpp"

namespace biomero_reactor {

struct NewEvent {
  Uuid aggregate;
  std::string topic;          // one of topics::*
  boost::json::object state;  // encoded by the one codec; `timestamp` added if absent
};

// The statements that append `events` inside the caller's transaction: BIOMERO's lock,
// one insert per event (version = the aggregate's current max + 1), the NOTIFY. Each
// insert returns the version it gave. For a pipeline; append_events() runs them.
[[nodiscard]] std::vector<pg::Statement> append_statements(const std::vector<NewEvent>& events);
// Inside the caller's transaction, in one round trip. Returns the versions given, in order.
boost::asio::awaitable<std::vector<std::int64_t>> append_events(pg::Connection& c, const std::vector<NewEvent>& events);

// The workflow's own events and those of every task added to it, ordered by id.
boost::asio::awaitable<std::vector<StoredEvent>> load_workflow_events(pg::Connection& c, const Uuid& workflow_id);

// BEGIN; body(c); COMMIT on a pooled connection, retried on 23505/40001/40P01 and lost
// connections up to `attempts` times. body must be safe to run again from the start.
boost::asio::awaitable<void> in_transaction(pg::Pool& pool,
                                            std::function<boost::asio::awaitable<void>(pg::Connection&)> body,
                                            int attempts = 5);

// BEGIN and `statements` in one round trip (libpq pipeline mode), then COMMIT when
// `keep` accepts their results (BEGIN's excluded), else ROLLBACK. Returns the results
// when committed, nullopt when rolled back. Retried as in_transaction is.
boost::asio::awaitable<std::optional<std::vector<pg::Result>>> pipelined_transaction(
    pg::Pool& pool, std::vector<pg::Statement> statements,
    std::function<bool(const std::vector<pg::Result>&)> keep, int attempts = 5);

}  // namespace biomero_reactor
