#pragma once
// install-sql: applies the numbered migrations of sql/ (embedded in the binary) under an
// advisory lock, each in its own transaction, recording version and checksum in
// biomero_reactor.schema_migrations; then re-applies the trigger files (R*.sql) whose
// foreign table exists, reporting the ones that are missing. Idempotent.
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/pg.hpp"

namespace biomero_reactor {

struct TriggerStatus {
  std::string file;        // R01_workflow_trigger.sql
  std::string table;       // public.workflowtracker_events
  bool installed = false;  // table exists and the trigger is in place
  std::string detail;      // why not, for the operator
};

struct InstallReport {
  std::vector<std::string> applied;  // migrations applied by this run
  int version = 0;                   // schema version after the run
  std::vector<TriggerStatus> triggers;
  // Where this run put the intake cursor: a first install starts it at the head of the
  // event store (nothing from before becomes a job); --from-start puts it at 0.
  std::optional<std::int64_t> cursor_set;
};

[[nodiscard]] int binary_schema_version();

// `importer` is the importer's database when it is not the event store's (else null).
// `from_start`: take the event store's history (the cursor goes to 0) instead of the
// safe first start (a fresh install's cursor goes to the newest event).
boost::asio::awaitable<InstallReport> install_sql(pg::Connection& events, pg::Connection* importer,
                                                  bool from_start = false);

// The database's schema version (0 when never installed).
boost::asio::awaitable<int> database_schema_version(pg::Connection& events);

// Throws with an operator-facing message unless the database's schema is exactly the
// one this binary was built for (older: run install-sql; newer: upgrade the binary).
boost::asio::awaitable<void> require_schema(pg::Connection& events);

// Where each trigger stands now, without changing anything (check, status).
boost::asio::awaitable<std::vector<TriggerStatus>> trigger_status(pg::Connection& events, pg::Connection* importer);

}  // namespace biomero_reactor
