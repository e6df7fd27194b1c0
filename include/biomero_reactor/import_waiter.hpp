#pragma once
// Settles submitted jobs from the importer's stages: read -> decide -> write.
//   read:   the waiting jobs (those of notified orders, or all on the backstop poll) and
//           each order's stage; a notified `Import Completed` is final and taken as it
//           is, anything else is read from the importer's table;
//   decide: decide() in import_outcome.hpp, no I/O;
//   write:  per job, one transaction sent as one pipeline: take the job, record the
//           stages, report IMPORTED / IMPORT_FAILED in BIOMERO and change the job's
//           state; or send it back to `archived` for a new submission.
#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <string>

#include "biomero_reactor/pipeline.hpp"

namespace biomero_reactor {

// order uuid -> stage, from NOTIFY payloads.
using StageNotices = std::map<std::string, std::string>;

// All waiting jobs when `notices` is nullopt, else only those of the notified orders.
// Returns how many jobs still wait.
boost::asio::awaitable<int> settle_waiting_orders(PipelineContext& ctx, std::optional<StageNotices> notices);

}  // namespace biomero_reactor
