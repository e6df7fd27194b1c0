#pragma once
// What the importer's stages mean for a submitted job: a pure decision, no I/O.
// Given each current order's latest stage (none yet = still pending) and how long the
// job and its orders have waited, the job waits, is imported, fails (with the
// importer's description), or is submitted again (the importer restarted, or never
// picked the order up) while submissions remain.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/orders.hpp"

namespace biomero_reactor {

struct OrderProgress {
  std::string uuid;
  std::optional<Stage> stage;  // nullopt: no row at the importer yet (as good as pending)
  std::int64_t age_ms = 0;     // since the order was submitted
  bool alerted = false;        // "still pending" already reported
};

struct ImportProgress {
  std::vector<OrderProgress> orders;
  std::int64_t waited_ms = 0;  // since the job was submitted
  int submission = 1;          // this job's order generation
};

struct ImportPolicy {
  Duration timeout = std::chrono::hours(1);          // import.timeout
  Duration pending_alert = std::chrono::minutes(10);  // import.pending_alert
  int max_submissions = 3;                            // import.max_attempts
};

enum class ImportVerdict { wait, imported, failed, resubmit };

struct ImportDecision {
  ImportVerdict verdict = ImportVerdict::wait;
  std::string reason;                       // failed or resubmit: why
  std::vector<std::string> newly_stuck;     // orders pending too long, not yet reported
  bool operator==(const ImportDecision&) const = default;
};

[[nodiscard]] ImportDecision decide(const ImportProgress& progress, const ImportPolicy& policy);

std::ostream& operator<<(std::ostream& os, ImportVerdict v);
std::ostream& operator<<(std::ostream& os, const ImportDecision& d);

}  // namespace biomero_reactor
