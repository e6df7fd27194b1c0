#pragma once
// The one PostgreSQL client of the program: libpq driven non-blocking from the Asio
// event loop. The connection's socket is watched through an asio::posix::stream_descriptor
// that never owns it (libpq does; the descriptor is released, never closed). Parameters
// are always sent separately from SQL text. Server errors carry their SQLSTATE as an
// std::error_code so callers can tell retryable failures from fatal ones.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <string_view>
#include <system_error>
#include <vector>

#include "biomero_reactor/units.hpp"

struct pg_conn;
struct pg_result;

namespace biomero_reactor::pg {

namespace asio = boost::asio;

// SQLSTATE <-> error_code. Connection failures without a server SQLSTATE use 08006.
const std::error_category& sqlstate_category();
std::error_code make_error(std::string_view sqlstate);
std::string sqlstate(std::error_code ec);
// 08* (connection), 40001 (serialization), 40P01 (deadlock), 57P01..03 (shutdown),
// 55P03 (lock not available): worth retrying on a fresh transaction or connection.
[[nodiscard]] bool is_retryable(std::error_code ec);

// `message` (a libpq error text) with every trace of the password in `conninfo` replaced
// by "(password hidden)". libpq echoes the conninfo when it cannot parse it: an unencoded
// '%' in a URI's password gives `invalid percent-encoded token: "<password>"`, an unclosed
// '[' quotes the whole URI. Every quoted part of the message that overlaps the password's
// place in the conninfo is hidden (a password with an unencoded '@' is split by libpq, so
// the quoted token may hold only part of it), and so is the password itself (as written,
// percent-decoded, and its pieces between '@'s, when 4 bytes or longer) anywhere else.
// The password is found leniently: in a URI from the user info's ':' to the last '@' and
// in `password=` query parameters; in keyword form after `password =`. Every error the pg
// layer raises while connecting goes through it; use it for any other libpq text that may
// quote a conninfo (PQconninfoParse's errors).
[[nodiscard]] std::string redact_secrets(std::string_view message, std::string_view conninfo);
// The SQLSTATEs the program names: callers test these, never a literal.
namespace errc {
inline constexpr std::string_view unique_violation = "23505";     // someone inserted the same key first
inline constexpr std::string_view connection_failure = "08006";   // also: no server SQLSTATE at all
inline constexpr std::string_view connection_closed = "08003";    // used while not connected
inline constexpr std::string_view internal_error = "XX000";       // an error without a SQLSTATE
}  // namespace errc
[[nodiscard]] bool is_unique_violation(std::error_code ec);

struct Error : std::system_error {
  Error(std::string_view sqlstate, const std::string& what) : std::system_error(make_error(sqlstate), what) {}
  [[nodiscard]] bool retryable() const { return is_retryable(code()); }
};

// One parameter in text format; nullopt is SQL NULL.
using Param = std::optional<std::string>;
using Params = std::vector<Param>;
inline Param param(std::string_view s) {
  return std::string(s);
}
inline Param param(const char* s) {
  return std::string(s);
}
inline Param param(const std::string& s) {
  return s;
}
inline Param param(std::int64_t v) {
  return std::to_string(v);
}
inline Param param(int v) {
  return std::to_string(v);
}
inline Param param(bool v) {
  return std::string(v ? "true" : "false");
}
inline Param param(std::nullopt_t) {
  return std::nullopt;
}
inline Param param(const Param& p) {
  return p;
}
// NULL for an empty string. (Use it rather than `c ? param(x) : Param{}` inside a
// co_await expression: docs/HACKING.md, coroutine rules.)
inline Param null_if_empty(const std::string& s) {
  return s.empty() ? Param{} : Param{s};
}
template <class... A>
Params params(const A&... a) {
  return Params{param(a)...};
}
// The one way to pass a list: a PostgreSQL array literal ("{"a","b"}"), every element
// quoted and escaped, nullopt as NULL; bind it as $n::text[] (or ::uuid[], ...).
[[nodiscard]] std::string array_literal(const std::vector<std::string>& items);
[[nodiscard]] std::string array_literal(const std::vector<std::optional<std::string>>& items);

class Result {
 public:
  Result() = default;
  explicit Result(pg_result* r);
  [[nodiscard]] int rows() const;
  [[nodiscard]] int columns() const;
  [[nodiscard]] bool is_null(int row, int col) const;
  [[nodiscard]] std::string_view text(int row, int col) const;
  [[nodiscard]] std::optional<std::string> opt_text(int row, int col) const;
  [[nodiscard]] std::int64_t int64(int row, int col) const;
  [[nodiscard]] std::optional<std::int64_t> opt_int64(int row, int col) const;
  [[nodiscard]] bool boolean(int row, int col) const;
  [[nodiscard]] double float64(int row, int col) const;
  // A bytea column in PostgreSQL's hex output format, decoded.
  [[nodiscard]] std::string bytea(int row, int col) const;
  [[nodiscard]] std::int64_t affected() const;

 private:
  std::shared_ptr<pg_result> res_;
};

// One statement of a pipeline.
struct Statement {
  std::string sql;
  Params params;
};

struct Notification {
  std::string channel;
  std::string payload;
  int backend_pid = 0;
};

class Connection {
 public:
  // io_timeout bounds every wait for the server inside connect() and query(); a server
  // that stops answering (half-open TCP) fails the call with 08006 and closes the session.
  Connection(asio::any_io_executor ex, Duration io_timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // conninfo: a libpq keyword string or URI. TCP keepalives are always on.
  asio::awaitable<void> connect(std::string conninfo);
  [[nodiscard]] bool is_open() const;
  [[nodiscard]] bool in_transaction() const;
  [[nodiscard]] int backend_pid() const;

  // One statement with parameters. Prepared on this session the first time its text is
  // seen (one extra round trip), then executed by name: the server parses and plans it
  // once per session, not at every call. So a connection pooler in front of PostgreSQL
  // must keep sessions (pgbouncer: session mode, or max_prepared_statements >= 1.21).
  asio::awaitable<Result> query(std::string_view sql, const Params& params = {});
  // Statements sent together in libpq's pipeline mode: one round trip for all of them.
  // They run in order; the first error is thrown (later statements are skipped, and an
  // open transaction is left aborted for the caller to roll back).
  asio::awaitable<std::vector<Result>> pipeline(const std::vector<Statement>& statements);
  // Several statements without parameters (migrations, BEGIN/COMMIT scripts).
  asio::awaitable<void> script(std::string_view sql);

  // Waits (without a timeout) until at least one notification arrives; the caller races
  // it against its own timers. Returns every notification buffered so far.
  asio::awaitable<std::vector<Notification>> wait_notifications();
  // Notifications that arrived while a query ran.
  std::vector<Notification> take_notifications();

  // Releases the descriptor, then PQfinish. Safe to call twice.
  void close();

 private:
  enum class Wait { read, write };
  asio::awaitable<void> wait(Wait what, bool with_timeout);
  asio::awaitable<Result> finish_query();
  void adopt_socket();
  void consume_input();
  [[noreturn]] void fail(const std::string& what);
  [[noreturn]] void fail_connect(const std::string& what, std::string_view conninfo);

  asio::any_io_executor ex_;
  Duration io_timeout_;
  pg_conn* conn_ = nullptr;
  // Statement text -> its name on this session; emptied when the session ends. Bounded:
  // past the cap, further statements run unnamed.
  std::unordered_map<std::string, std::string> prepared_;
  std::uint64_t statements_named_ = 0;
  static constexpr std::size_t max_prepared = 256;
  std::unique_ptr<asio::posix::stream_descriptor> socket_;
  std::vector<Notification> pending_;
};

// A fixed number of connections to one database, handed out one coroutine at a time.
// A connection returned in the middle of a transaction (the holder threw) is rolled back
// before its next use; a broken one is reconnected.
class Pool {
 public:
  Pool(asio::any_io_executor ex, std::string conninfo, std::size_t size, Duration io_timeout);
  ~Pool();

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), conn_(std::move(c)) {}
    Lease(Lease&& o) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  asio::awaitable<Lease> acquire();
  [[nodiscard]] const std::string& conninfo() const { return conninfo_; }

  // Closes the idle connections; each connects again when next acquired. For when the
  // LISTEN session to the same server was found dead: they most likely died with it,
  // and a query on a dead connection waits out the whole I/O timeout.
  void close_idle();

 private:
  void give_back(std::unique_ptr<Connection> c);

  asio::any_io_executor ex_;
  std::string conninfo_;
  std::size_t size_;
  Duration io_timeout_;
  std::size_t created_ = 0;
  std::vector<std::unique_ptr<Connection>> idle_;
  struct Waiter;
  std::vector<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace biomero_reactor::pg
