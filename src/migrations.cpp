#include "biomero_reactor/migrations.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <map>
#include <stdexcept>

#include "biomero_reactor/embedded_sql.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

// Any constant works as long as every reactor uses the same one.
constexpr std::int64_t install_lock_key = 0x62696f6d65726fLL;  // "biomero"

std::string sha256_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

struct Migration {
  int version;
  const EmbeddedSql* file;
};

std::vector<Migration> migrations() {
  std::vector<Migration> out;
  for (const auto& f : embedded_sql()) {
    if (!f.name.empty() && f.name[0] >= '0' && f.name[0] <= '9') out.push_back({std::stoi(std::string(f.name)), &f});
  }
  return out;
}

struct TriggerFile {
  const EmbeddedSql* file;
  std::string table;
  bool in_importer_db;
};

std::vector<TriggerFile> trigger_files() {
  std::vector<TriggerFile> out;
  for (const auto& f : embedded_sql()) {
    if (!f.name.starts_with("R")) continue;
    constexpr std::string_view marker = "-- requires: ";
    const auto at = f.text.find(marker);
    if (at == std::string_view::npos)
      throw std::logic_error(std::string(f.name) + " does not say which table it requires");
    const auto end = f.text.find('\n', at);
    std::string table(f.text.substr(at + marker.size(), end - at - marker.size()));
    out.push_back({&f, table, table == "public.imports"});
  }
  return out;
}

std::string trigger_name_in(std::string_view text) {
  constexpr std::string_view marker = "CREATE OR REPLACE TRIGGER ";
  const auto at = text.find(marker);
  const auto end = text.find_first_of(" \n", at + marker.size());
  return std::string(text.substr(at + marker.size(), end - at - marker.size()));
}

asio::awaitable<bool> table_exists(pg::Connection& c, std::string table) {
  auto r = co_await c.query("SELECT to_regclass($1) IS NOT NULL", pg::params(table));
  co_return r.boolean(0, 0);
}

asio::awaitable<bool> trigger_exists(pg::Connection& c, std::string table, std::string trigger) {
  auto r = co_await c.query(
      "SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2 AND tgenabled <> 'D'",
      pg::params(table, trigger));
  co_return r.int64(0, 0) > 0;
}

// The safe first start: on a fresh install the intake begins at the event store's head,
// so nothing BIOMERO (or its own import script) already handled becomes a job.
asio::awaitable<std::int64_t> place_intake_cursor(pg::Connection& c, bool from_start) {
  std::int64_t at = 0;
  if (!from_start && co_await table_exists(c, "public.workflowtracker_events")) {
    auto r = co_await c.query("SELECT coalesce(max(id), 0) FROM public.workflowtracker_events");
    at = r.int64(0, 0);
  }
  co_await c.query(
      "UPDATE biomero_reactor.intake_cursor SET last_event_id = $1, updated_at = now() "
      "WHERE source = 'workflowtracker_events'",
      pg::params(at));
  co_return at;
}

}  // namespace

int binary_schema_version() {
  const auto m = migrations();
  return m.empty() ? 0 : m.back().version;
}

asio::awaitable<int> database_schema_version(pg::Connection& c) {
  auto exists = co_await c.query("SELECT to_regclass('biomero_reactor.schema_migrations') IS NOT NULL");
  if (!exists.boolean(0, 0)) co_return 0;
  auto r = co_await c.query("SELECT coalesce(max(version), 0) FROM biomero_reactor.schema_migrations");
  co_return static_cast<int>(r.int64(0, 0));
}

asio::awaitable<void> require_schema(pg::Connection& c) {
  const int db = co_await database_schema_version(c);
  const int mine = binary_schema_version();
  if (db > mine) {
    throw std::runtime_error("the database's biomero_reactor schema is version " + std::to_string(db) +
                             ", newer than this binary's " + std::to_string(mine) + ": upgrade biomero-reactor");
  }
  if (db < mine) {
    throw std::runtime_error("the database's biomero_reactor schema is version " + std::to_string(db) +
                             ", this binary needs " + std::to_string(mine) + ": run `biomero-reactor install-sql`");
  }
}

asio::awaitable<InstallReport> install_sql(pg::Connection& events, pg::Connection* importer, bool from_start) {
  InstallReport report;
  co_await events.query("SELECT pg_advisory_lock($1)", pg::params(install_lock_key));
  std::exception_ptr failure;
  try {
    co_await events.script(
        "CREATE SCHEMA IF NOT EXISTS biomero_reactor;"
        "CREATE TABLE IF NOT EXISTS biomero_reactor.schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " binary_version text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    std::map<int, std::string> applied;
    auto rows = co_await events.query("SELECT version, checksum FROM biomero_reactor.schema_migrations");
    for (int i = 0; i < rows.rows(); ++i) applied[static_cast<int>(rows.int64(i, 0))] = std::string(rows.text(i, 1));
    const int mine = binary_schema_version();
    if (!applied.empty() && applied.rbegin()->first > mine) {
      throw std::runtime_error("the database's biomero_reactor schema is version " +
                               std::to_string(applied.rbegin()->first) + ", newer than this binary's " +
                               std::to_string(mine) + ": upgrade biomero-reactor instead");
    }
    for (const auto& m : migrations()) {
      const std::string sum = sha256_hex(m.file->text);
      if (auto it = applied.find(m.version); it != applied.end()) {
        if (it->second != sum) {
          throw std::runtime_error("migration " + std::string(m.file->name) +
                                   " differs from the one applied to this database (checksum mismatch)");
        }
        continue;
      }
      co_await events.script("BEGIN");
      co_await events.script(m.file->text);
      co_await events.query(
          "INSERT INTO biomero_reactor.schema_migrations (version, name, checksum, binary_version) VALUES ($1, $2, $3, "
          "$4)",
          pg::params(m.version, std::string(m.file->name), sum, std::string(BIOMERO_REACTOR_VERSION)));
      co_await events.script("COMMIT");
      report.applied.emplace_back(m.file->name);
    }
    report.version = mine;
    const bool fresh = applied.empty() && !report.applied.empty();
    if (from_start || fresh) report.cursor_set = co_await place_intake_cursor(events, from_start);
    for (const auto& t : trigger_files()) {
      pg::Connection& c = (t.in_importer_db && importer != nullptr) ? *importer : events;
      TriggerStatus st{std::string(t.file->name), t.table, false, {}};
      const bool exists = co_await table_exists(c, t.table);
      if (!exists) {
        st.detail = t.table + " does not exist yet; the reactor polls for it. Run install-sql again once it exists";
      } else {
        try {
          co_await c.script("BEGIN");
          co_await c.script(t.file->text);
          co_await c.script("COMMIT");
          st.installed = true;
        } catch (const pg::Error& e) {
          st.detail = std::string("cannot install the trigger on ") + t.table + ": " + e.what();
        }
      }
      report.triggers.push_back(std::move(st));
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (events.is_open()) {
    if (events.in_transaction()) co_await events.script("ROLLBACK");
    co_await events.query("SELECT pg_advisory_unlock($1)", pg::params(install_lock_key));
  }
  if (importer != nullptr && importer->is_open() && importer->in_transaction()) co_await importer->script("ROLLBACK");
  if (failure) std::rethrow_exception(failure);
  co_return report;
}

asio::awaitable<std::vector<TriggerStatus>> trigger_status(pg::Connection& events, pg::Connection* importer) {
  std::vector<TriggerStatus> out;
  for (const auto& t : trigger_files()) {
    pg::Connection& c = (t.in_importer_db && importer != nullptr) ? *importer : events;
    TriggerStatus st{std::string(t.file->name), t.table, false, {}};
    const bool exists = co_await table_exists(c, t.table);
    bool installed = false;
    if (exists) installed = co_await trigger_exists(c, t.table, trigger_name_in(t.file->text));
    if (!exists) {
      st.detail = t.table + " does not exist";
    } else if (!installed) {
      st.detail = "trigger " + trigger_name_in(t.file->text) + " is missing on " + t.table + ": run install-sql";
    } else {
      st.installed = true;
    }
    out.push_back(std::move(st));
  }
  co_return out;
}

}  // namespace biomero_reactor
