#pragma once
// The handoff intake: the spool BIOMERO's handoff import script publishes into
// (handoff.spool; layout in docs/HANDOFF.md), and what follows a handoff's job.
//
// scan_spool reads spool/ready/: entries whose name is not a canonical UUID are ignored;
// entries with a result.json are finished; an entry that already has its job is left
// alone (the handoff id is the job's unique key, so a second scan or a replayed NOTIFY
// never makes a second job). A new entry's manifest is checked (parse_manifest) and its
// files against it (regular, one link, size and sha256); a bad entry is moved to
// spool/rejected/<name> with <name>.reason beside it and logged. Nothing here stops the
// daemon: every fault is about one entry.
//
// finish_handoffs follows the handoff jobs that ended: result.json (tmp + rename) into
// ready/<id>/, the verdict event on the workflow, and the entry removed once result.json
// is handoff.result_keep old and the results are in the job directory.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/handoff_manifest.hpp"
#include "biomero_reactor/pg.hpp"

namespace biomero_reactor {

struct HandoffScanStats {
  int found = 0;     // new entries looked at
  int created = 0;   // jobs created
  int rejected = 0;  // moved to rejected/
};

// One new ready/ entry after its checks (blocking: worker pool).
struct InspectedHandoff {
  std::filesystem::path dir;
  std::string name;
  std::optional<HandoffManifest> manifest;  // set when the checks passed
  std::string manifest_json;
  std::string reason;  // why it is refused, else empty
};
[[nodiscard]] InspectedHandoff inspect_handoff(const std::filesystem::path& dir);

// Moves ready/<name> to rejected/<name> (a suffix if taken) and writes the reason beside it.
void reject_handoff(const std::filesystem::path& spool, const std::filesystem::path& dir, const std::string& reason);

boost::asio::awaitable<HandoffScanStats> scan_spool(pg::Pool& events, const Config& cfg,
                                                    boost::asio::thread_pool& workers);
// Handoff jobs that have ended but whose result.json is not written yet (`run --once`
// waits for them: wait mode reads that file).
boost::asio::awaitable<std::int64_t> handoff_results_pending(pg::Pool& events);

boost::asio::awaitable<void> finish_handoffs(pg::Pool& events, const Config& cfg);

}  // namespace biomero_reactor
