// pg::Connection prepares each statement once per session and then runs it by name:
// against the real server, what the session holds, what happens when a table changes
// under a prepared plan, bad SQL, the cap, and a session that ends.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>
#include <functional>

#include "biomero_reactor/pg.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;
namespace asio = boost::asio;

namespace {

// Runs `body` on one session to `db` and rethrows what it threw.
void on_session(TestDb& db, const std::function<asio::awaitable<void>(pg::Connection&)>& body) {
  asio::io_context io;
  std::exception_ptr error;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        pg::Connection c(io.get_executor(), std::chrono::seconds(30));
        co_await c.connect(db.conninfo());
        co_await body(c);
      },
      [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

asio::awaitable<std::int64_t> prepared_count(pg::Connection& c) {
  auto r = co_await c.query("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql");
  co_return r.int64(0, 0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pg_session_test)

BOOST_AUTO_TEST_CASE(a_repeated_statement_is_prepared_once_and_keeps_its_parameters) {
  TestDb db(false);
  on_session(db, [](pg::Connection& c) -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      auto r =
          co_await c.query("SELECT $1::int + 1, $2::text IS NULL", pg::params(std::int64_t{i}, pg::null_if_empty("")));
      BOOST_TEST(r.int64(0, 0) == i + 1);
      BOOST_TEST(r.text(0, 1) == "t");
    }
    // That statement and the counting one: two, however often each ran.
    const std::int64_t first = co_await prepared_count(c);
    const std::int64_t again = co_await prepared_count(c);
    BOOST_TEST(first == 2);
    BOOST_TEST(again == 2);
  });
}

BOOST_AUTO_TEST_CASE(a_table_changed_under_a_prepared_plan_fails_once_retryably_then_is_prepared_afresh) {
  TestDb db(false);
  db.script("CREATE TABLE t (a int); INSERT INTO t VALUES (7)");
  on_session(db, [&db](pg::Connection& c) -> asio::awaitable<void> {
    const pg::Result before = co_await c.query("SELECT a FROM t");
    BOOST_TEST(before.text(0, 0) == "7");
    db.script("ALTER TABLE t ALTER COLUMN a TYPE text USING 'seven'");  // another session: a migration
    std::string state;
    try {
      (void)co_await c.query("SELECT a FROM t");
    } catch (const pg::Error& e) {
      state = pg::sqlstate(e.code());
    }
    BOOST_TEST(state == "0A000");                         // "cached plan must not change result type"
    BOOST_TEST(pg::is_retryable(pg::make_error(state)));  // in_transaction runs it again
    const pg::Result after = co_await c.query("SELECT a FROM t");
    BOOST_TEST(after.text(0, 0) == "seven");
  });
}

BOOST_AUTO_TEST_CASE(bad_sql_is_not_kept_and_the_session_goes_on) {
  TestDb db(false);
  on_session(db, [](pg::Connection& c) -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      std::string state;
      try {
        (void)co_await c.query("SELEC 1");
      } catch (const pg::Error& e) {
        state = pg::sqlstate(e.code());
      }
      BOOST_TEST(state == "42601");
    }
    const pg::Result one = co_await c.query("SELECT 1");
    BOOST_TEST(one.text(0, 0) == "1");
    const std::int64_t kept = co_await prepared_count(c);
    BOOST_TEST(kept == 2);
  });
}

BOOST_AUTO_TEST_CASE(past_the_cap_statements_run_unnamed_and_a_new_session_starts_empty) {
  TestDb db(false);
  on_session(db, [&db](pg::Connection& c) -> asio::awaitable<void> {
    for (int i = 0; i < 300; ++i) {
      const pg::Result r = co_await c.query("SELECT " + std::to_string(i));
      BOOST_TEST(r.text(0, 0) == std::to_string(i));
    }
    const std::int64_t capped = co_await prepared_count(c);
    BOOST_TEST(capped == 256);
    c.close();
    co_await c.connect(db.conninfo());
    const std::int64_t fresh = co_await prepared_count(c);
    BOOST_TEST(fresh == 1);
  });
}

BOOST_AUTO_TEST_SUITE_END()
