#include "biomero_reactor/event_store.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

constexpr std::string_view select_events =
    "SELECT id, originator_id, originator_version, topic, state FROM public.workflowtracker_events ";

std::vector<StoredEvent> to_events(const pg::Result& r) {
  std::vector<StoredEvent> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    auto id = Uuid::parse(r.text(i, 1));
    if (!id) throw CodecError("event " + std::string(r.text(i, 0)) + " has a malformed originator_id");
    out.push_back({r.int64(i, 0), *id, r.int64(i, 2), std::string(r.text(i, 3)), r.bytea(i, 4)});
  }
  return out;
}

}  // namespace

std::vector<pg::Statement> append_statements(const std::vector<NewEvent>& events) {
  std::vector<pg::Statement> out;
  out.push_back({"LOCK TABLE public.workflowtracker_events IN EXCLUSIVE MODE", {}});
  for (const auto& e : events) {
    boost::json::object state;
    if (!e.state.contains("timestamp")) state["timestamp"] = typed_datetime(now_us());
    for (const auto& kv : e.state) state[kv.key()] = kv.value();
    // Under the lock, earlier inserts of this transaction are counted: versions follow on.
    out.push_back({"INSERT INTO public.workflowtracker_events (originator_id, originator_version, topic, state) "
                   "SELECT $1::uuid, coalesce(max(originator_version), -1) + 1, $2, convert_to($3, 'UTF8') "
                   "FROM public.workflowtracker_events WHERE originator_id = $1::uuid RETURNING originator_version",
                   pg::params(e.aggregate.str(), e.topic, encode_state(state))});
  }
  out.push_back({"NOTIFY workflowtracker_events", {}});
  return out;
}

asio::awaitable<std::vector<std::int64_t>> append_events(pg::Connection& c, const std::vector<NewEvent>& events) {
  const auto statements = append_statements(events);
  const auto results = co_await c.pipeline(statements);
  std::vector<std::int64_t> versions;
  for (std::size_t i = 1; i + 1 < results.size(); ++i) versions.push_back(results[i].int64(0, 0));
  co_return versions;
}

asio::awaitable<std::vector<StoredEvent>> load_workflow_events(pg::Connection& c, const Uuid& workflow_id) {
  auto own = to_events(co_await c.query(std::string(select_events) + "WHERE originator_id = $1 ORDER BY id",
                                        pg::params(workflow_id.str())));
  std::string task_ids = "{";
  for (const auto& e : own) {
    if (e.topic != topics::task_added) continue;
    if (auto id = get_uuid(decode_state(e.state), "task_id")) {
      if (task_ids.size() > 1) task_ids += ',';
      task_ids += id->str();
    }
  }
  task_ids += '}';
  auto tasks = to_events(co_await c.query(
      std::string(select_events) + "WHERE originator_id = ANY($1::uuid[]) ORDER BY id", pg::params(task_ids)));
  own.insert(own.end(), tasks.begin(), tasks.end());
  co_return own;
}

namespace {

// Whether a failed transaction is worth running again: someone appended first, or the
// database asks for it (serialization failure, deadlock, lost connection).
bool worth_retrying(const pg::Error& e, int attempt, int attempts) {
  return attempt < attempts && (pg::is_unique_violation(e.code()) || e.retryable());
}

// Roll back now: an open transaction may hold BIOMERO's EXCLUSIVE lock.
asio::awaitable<void> roll_back(pg::Connection& c) {
  if (!c.is_open() || !c.in_transaction()) co_return;
  try {
    co_await c.script("ROLLBACK");
  } catch (const pg::Error&) {
    c.close();
  }
}

asio::awaitable<void> pause_before_retry(int attempt, const std::string& reason) {
  log::debug("transaction retried", {{"reason", reason}, {"attempt", attempt}});
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(20 * attempt));
  co_await t.async_wait(asio::use_awaitable);
}

}  // namespace

asio::awaitable<void> in_transaction(pg::Pool& pool, std::function<asio::awaitable<void>(pg::Connection&)> body,
                                     int attempts) {
  for (int attempt = 1;; ++attempt) {
    std::optional<pg::Error> retry;
    std::exception_ptr failure;
    {
      auto c = co_await pool.acquire();
      try {
        co_await c->script("BEGIN");
        co_await body(*c);
        co_await c->script("COMMIT");
        co_return;
      } catch (const pg::Error& e) {
        if (worth_retrying(e, attempt, attempts))
          retry = e;
        else
          failure = std::current_exception();
      } catch (...) {
        failure = std::current_exception();
      }
      co_await roll_back(*c);
    }
    if (failure) std::rethrow_exception(failure);
    co_await pause_before_retry(attempt, retry->what());
  }
}

asio::awaitable<std::optional<std::vector<pg::Result>>> pipelined_transaction(
    pg::Pool& pool, std::vector<pg::Statement> statements, std::function<bool(const std::vector<pg::Result>&)> keep,
    int attempts) {
  statements.insert(statements.begin(), pg::Statement{"BEGIN", {}});
  for (int attempt = 1;; ++attempt) {
    std::optional<pg::Error> retry;
    std::exception_ptr failure;
    {
      auto c = co_await pool.acquire();
      try {
        auto results = co_await c->pipeline(statements);
        results.erase(results.begin());
        if (!keep(results)) {
          co_await c->script("ROLLBACK");
          co_return std::nullopt;
        }
        co_await c->script("COMMIT");
        co_return results;
      } catch (const pg::Error& e) {
        if (worth_retrying(e, attempt, attempts))
          retry = e;
        else
          failure = std::current_exception();
      } catch (...) {
        failure = std::current_exception();
      }
      co_await roll_back(*c);
    }
    if (failure) std::rethrow_exception(failure);
    co_await pause_before_retry(attempt, retry->what());
  }
}

}  // namespace biomero_reactor
