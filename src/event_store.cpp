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

asio::awaitable<std::vector<std::int64_t>> append_events(pg::Connection& c, const std::vector<NewEvent>& events) {
  co_await c.query("LOCK TABLE public.workflowtracker_events IN EXCLUSIVE MODE");
  std::map<Uuid, std::int64_t> next;
  std::vector<std::int64_t> versions;
  for (const auto& e : events) {
    auto it = next.find(e.aggregate);
    if (it == next.end()) {
      auto r = co_await c.query(
          "SELECT coalesce(max(originator_version), -1) + 1 FROM public.workflowtracker_events WHERE originator_id = "
          "$1",
          pg::params(e.aggregate.str()));
      it = next.emplace(e.aggregate, r.int64(0, 0)).first;
    }
    boost::json::object state;
    if (!e.state.contains("timestamp")) state["timestamp"] = typed_datetime(now_us());
    for (const auto& kv : e.state) state[kv.key()] = kv.value();
    co_await c.query(
        "INSERT INTO public.workflowtracker_events (originator_id, originator_version, topic, state) "
        "VALUES ($1, $2, $3, convert_to($4, 'UTF8'))",
        pg::params(e.aggregate.str(), it->second, e.topic, encode_state(state)));
    versions.push_back(it->second++);
  }
  co_await c.query("NOTIFY workflowtracker_events");
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
        const bool conflict = pg::sqlstate(e.code()) == "23505";
        if (attempt >= attempts || !(conflict || e.retryable()))
          failure = std::current_exception();
        else
          retry = e;
      } catch (...) {
        failure = std::current_exception();
      }
      // Roll back now: an open transaction may hold BIOMERO's EXCLUSIVE lock.
      if (c->is_open() && c->in_transaction()) {
        try {
          co_await c->script("ROLLBACK");
        } catch (const pg::Error&) {
          c->close();
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
    log::debug("transaction retried", {{"reason", retry->what()}, {"attempt", attempt}});
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(20 * attempt));
    co_await t.async_wait(asio::use_awaitable);
  }
}

}  // namespace biomero_reactor
