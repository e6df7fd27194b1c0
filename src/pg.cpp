#include "biomero_reactor/pg.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <stdexcept>

namespace biomero_reactor::pg {

using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

// A SQLSTATE is five characters of [0-9A-Z]: packed base-36 it fits an int.
int pack(std::string_view s) {
  int v = 0;
  for (char ch : s.substr(0, 5)) {
    const int d = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 10 : 0;
    v = v * 36 + d;
  }
  return v;
}

std::string unpack(int v) {
  std::string s(5, '0');
  for (int i = 4; i >= 0; --i) {
    const int d = v % 36;
    s[static_cast<std::size_t>(i)] = static_cast<char>(d < 10 ? '0' + d : 'A' + d - 10);
    v /= 36;
  }
  return s;
}

class SqlstateCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlstate"; }
  std::string message(int v) const override { return "SQLSTATE " + unpack(v); }
};

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

const std::error_category& sqlstate_category() {
  static const SqlstateCategory cat;
  return cat;
}

std::string array_literal(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    if (!item) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (const char ch : *item) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

std::string array_literal(const std::vector<std::string>& items) {
  return array_literal(std::vector<std::optional<std::string>>(items.begin(), items.end()));
}

bool is_unique_violation(std::error_code ec) {
  return ec == make_error(errc::unique_violation);
}

std::error_code make_error(std::string_view state) {
  return {pack(state), sqlstate_category()};
}

std::string sqlstate(std::error_code ec) {
  return ec.category() == sqlstate_category() ? unpack(ec.value()) : std::string{};
}

bool is_retryable(std::error_code ec) {
  if (ec.category() != sqlstate_category()) return false;
  const std::string s = unpack(ec.value());
  // 0A000/26000: a prepared statement outdated by a schema change (Connection::query
  // prepares it afresh), so the transaction is worth running again.
  return s.starts_with("08") || s == "40001" || s == "40P01" || s == "57P01" || s == "57P02" || s == "57P03" ||
         s == "55P03" || s == "0A000" || s == "26000";
}

// ---- Result ----

Result::Result(pg_result* r) : res_(r, PQclear) {}
int Result::rows() const {
  return res_ ? PQntuples(res_.get()) : 0;
}
int Result::columns() const {
  return res_ ? PQnfields(res_.get()) : 0;
}
bool Result::is_null(int row, int col) const {
  return PQgetisnull(res_.get(), row, col) != 0;
}

std::string_view Result::text(int row, int col) const {
  return {PQgetvalue(res_.get(), row, col), static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
}

std::optional<std::string> Result::opt_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return std::string(text(row, col));
}

std::int64_t Result::int64(int row, int col) const {
  const auto t = text(row, col);
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || p != t.data() + t.size()) {
    throw std::runtime_error("column " + std::string(PQfname(res_.get(), col)) +
                             " is not an integer: " + std::string(t));
  }
  return v;
}

std::optional<std::int64_t> Result::opt_int64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return int64(row, col);
}

bool Result::boolean(int row, int col) const {
  return text(row, col) == "t";
}

double Result::float64(int row, int col) const {
  return std::stod(std::string(text(row, col)));
}

std::string Result::bytea(int row, int col) const {
  const auto t = text(row, col);
  if (!t.starts_with("\\x") || t.size() % 2 != 0) throw std::runtime_error("bytea column not in hex format");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error("bad hex digit in bytea");
  };
  std::string out;
  out.reserve((t.size() - 2) / 2);
  for (std::size_t i = 2; i < t.size(); i += 2) out.push_back(static_cast<char>(nibble(t[i]) * 16 + nibble(t[i + 1])));
  return out;
}

std::int64_t Result::affected() const {
  const char* n = PQcmdTuples(res_.get());
  return (n && *n) ? std::stoll(n) : 0;
}

// ---- Connection ----

Connection::Connection(asio::any_io_executor ex, Duration io_timeout) : ex_(std::move(ex)), io_timeout_(io_timeout) {}
Connection::~Connection() {
  close();
}

bool Connection::is_open() const {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}
bool Connection::in_transaction() const {
  return conn_ != nullptr && PQtransactionStatus(conn_) != PQTRANS_IDLE;
}
int Connection::backend_pid() const {
  return conn_ ? PQbackendPID(conn_) : 0;
}

void Connection::close() {
  if (socket_) {
    socket_->release();  // libpq owns the fd
    socket_.reset();
  }
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  prepared_.clear();
  statements_named_ = 0;
}

void Connection::fail(const std::string& what) {
  std::string msg = what;
  if (conn_) msg += ": " + trimmed(PQerrorMessage(conn_));
  close();
  throw Error(errc::connection_failure, msg);
}

void Connection::fail_connect(const std::string& what, std::string_view conninfo) {
  std::string msg = what;
  if (conn_) msg += ": " + redact_secrets(trimmed(PQerrorMessage(conn_)), conninfo);
  close();
  throw Error(errc::connection_failure, msg);
}

void Connection::adopt_socket() {
  const int fd = PQsocket(conn_);
  if (socket_ && socket_->native_handle() == fd) return;
  if (socket_) {
    socket_->release();
    socket_.reset();
  }
  if (fd >= 0) socket_ = std::make_unique<asio::posix::stream_descriptor>(ex_, fd);
}

asio::awaitable<void> Connection::wait(Wait what, bool with_timeout) {
  if (!socket_) throw Error(errc::connection_closed, "connection is closed");
  const auto w =
      what == Wait::read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write;
  if (!with_timeout) {
    co_await socket_->async_wait(w, use_awaitable);
    co_return;
  }
  asio::steady_timer timer(ex_, io_timeout_);
  auto r = co_await (socket_->async_wait(w, use_awaitable) || timer.async_wait(use_awaitable));
  if (r.index() == 1) {
    close();
    throw Error(errc::connection_failure,
                "PostgreSQL did not answer within " + std::to_string(io_timeout_.count()) + " ms");
  }
}

void Connection::consume_input() {
  if (!PQconsumeInput(conn_)) fail("lost connection to PostgreSQL");
  while (PGnotify* n = PQnotifies(conn_)) {
    pending_.push_back({n->relname, n->extra ? n->extra : "", n->be_pid});
    PQfreemem(n);
  }
}

asio::awaitable<void> Connection::connect(std::string conninfo) {
  close();
  // Keywords after dbname override what the conninfo says; application_name before it
  // is only a default.
  const char* keys[] = {"application_name",    "dbname",           "keepalives", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", nullptr};
  const char* vals[] = {"biomero-reactor", conninfo.c_str(), "1", "30", "10", "3", nullptr};
  conn_ = PQconnectStartParams(keys, vals, 1);
  if (conn_ == nullptr) throw Error(errc::connection_failure, "libpq could not allocate a connection");
  // libpq's messages about the conninfo quote what it could not parse: the password too.
  if (PQstatus(conn_) == CONNECTION_BAD) fail_connect("cannot connect to PostgreSQL", conninfo);
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    adopt_socket();  // libpq may switch sockets while trying hosts or SSL modes
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) fail_connect("cannot connect to PostgreSQL", conninfo);
    const Wait what = st == PGRES_POLLING_READING ? Wait::read : Wait::write;
    co_await wait(what, true);
    st = PQconnectPoll(conn_);
  }
  if (PQsetnonblocking(conn_, 1) != 0) fail("cannot make the connection non-blocking");
  // Server NOTICEs ("already exists, skipping") are not for the operator's terminal.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

asio::awaitable<Result> Connection::finish_query() {
  for (;;) {
    const int f = PQflush(conn_);
    if (f == 0) break;
    if (f < 0) fail("cannot send to PostgreSQL");
    co_await wait(Wait::write, true);
  }
  Result last;
  std::optional<Error> err;
  for (;;) {
    while (PQisBusy(conn_)) {
      co_await wait(Wait::read, true);
      consume_input();
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) break;
    Result res(r);
    const auto st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
      if (!err) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const bool broken = PQstatus(conn_) == CONNECTION_BAD;
        err.emplace(state ? std::string_view(state) : (broken ? errc::connection_failure : errc::internal_error),
                    trimmed(PQresultErrorMessage(r)));
      }
    } else {
      last = res;
    }
  }
  consume_input();
  if (err) {
    if (PQstatus(conn_) == CONNECTION_BAD) close();
    throw *err;
  }
  co_return last;
}

asio::awaitable<Result> Connection::query(std::string_view sql, const Params& params) {
  if (!is_open()) throw Error(errc::connection_closed, "connection to PostgreSQL is not open");
  std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const int n = static_cast<int>(values.size());
  auto named = prepared_.find(text);
  if (named == prepared_.end() && prepared_.size() < max_prepared) {
    // Never a name used before on this session: a statement forgotten after 0A000 still
    // holds its old one on the server.
    std::string name = "biomero_reactor_" + std::to_string(++statements_named_);
    if (!PQsendPrepare(conn_, name.c_str(), text.c_str(), n, nullptr)) fail("cannot send query");
    co_await finish_query();  // an error (bad SQL, aborted transaction) is thrown; nothing is kept
    named = prepared_.emplace(text, std::move(name)).first;
  }
  const bool sent = named != prepared_.end()
                        ? PQsendQueryPrepared(conn_, named->second.c_str(), n, values.data(), nullptr, nullptr, 0)
                        : PQsendQueryParams(conn_, text.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
  if (!sent) fail("cannot send query");
  try {
    co_return co_await finish_query();
  } catch (const Error& e) {
    // A table changed under a prepared plan (a migration altering a column the statement
    // returns): prepare it afresh next time.
    if (sqlstate(e.code()) == "0A000" || sqlstate(e.code()) == "26000") prepared_.erase(text);
    throw;
  }
}

asio::awaitable<std::vector<Result>> Connection::pipeline(const std::vector<Statement>& statements) {
  if (!is_open()) throw Error(errc::connection_closed, "connection to PostgreSQL is not open");
  if (PQenterPipelineMode(conn_) != 1) fail("cannot enter pipeline mode");
  for (const auto& st : statements) {
    std::vector<const char*> values;
    values.reserve(st.params.size());
    for (const auto& p : st.params) values.push_back(p ? p->c_str() : nullptr);
    if (!PQsendQueryParams(conn_, st.sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                           nullptr, 0)) {
      fail("cannot send query");
    }
  }
  if (PQpipelineSync(conn_) != 1) fail("cannot send the pipeline");
  for (;;) {
    const int f = PQflush(conn_);
    if (f == 0) break;
    if (f < 0) fail("cannot send to PostgreSQL");
    co_await wait(Wait::write, true);
  }
  std::vector<Result> out(statements.size());
  std::optional<Error> err;
  std::size_t i = 0;  // each statement's results end with a null result; the sync ends all
  for (bool synced = false; !synced;) {
    while (PQisBusy(conn_)) {
      co_await wait(Wait::read, true);
      consume_input();
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) {
      ++i;
      continue;
    }
    Result res(r);
    const auto st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
      synced = true;
    } else if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
      if (!err) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        err.emplace(state ? std::string_view(state) : errc::internal_error, trimmed(PQresultErrorMessage(r)));
      }
    } else if (st != PGRES_PIPELINE_ABORTED && i < out.size()) {
      out[i] = res;
    }
  }
  if (PQexitPipelineMode(conn_) != 1) fail("cannot leave pipeline mode");
  consume_input();
  if (err) throw *err;
  co_return out;
}

asio::awaitable<void> Connection::script(std::string_view sql) {
  if (!is_open()) throw Error(errc::connection_closed, "connection to PostgreSQL is not open");
  const std::string text(sql);
  if (!PQsendQuery(conn_, text.c_str())) fail("cannot send query");
  co_await finish_query();
}

asio::awaitable<std::vector<Notification>> Connection::wait_notifications() {
  while (pending_.empty()) {
    co_await wait(Wait::read, false);
    consume_input();
  }
  co_return std::exchange(pending_, {});
}

std::vector<Notification> Connection::take_notifications() {
  return std::exchange(pending_, {});
}

// ---- Pool ----

struct Pool::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
};

Pool::Pool(asio::any_io_executor ex, std::string conninfo, std::size_t size, Duration io_timeout)
    : ex_(std::move(ex)), conninfo_(std::move(conninfo)), size_(size == 0 ? 1 : size), io_timeout_(io_timeout) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_ != nullptr && conn_) pool_->give_back(std::move(conn_));
}

void Pool::close_idle() {
  for (auto& c : idle_) c->close();
}

void Pool::give_back(std::unique_ptr<Connection> c) {
  idle_.push_back(std::move(c));
  if (!waiters_.empty()) {
    waiters_.front()->timer.cancel();
    waiters_.erase(waiters_.begin());
  }
}

asio::awaitable<Pool::Lease> Pool::acquire() {
  for (;;) {
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      try {
        if (c->is_open() && c->in_transaction()) co_await c->script("ROLLBACK");
        if (!c->is_open()) co_await c->connect(conninfo_);
      } catch (...) {
        --created_;
        throw;
      }
      co_return Lease(this, std::move(c));
    }
    if (created_ < size_) {
      ++created_;
      auto c = std::make_unique<Connection>(ex_, io_timeout_);
      try {
        co_await c->connect(conninfo_);
      } catch (...) {
        --created_;
        throw;
      }
      co_return Lease(this, std::move(c));
    }
    auto w = std::make_shared<Waiter>(ex_);
    waiters_.push_back(w);
    boost::system::error_code ec;
    co_await w->timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

}  // namespace biomero_reactor::pg
