#pragma once
// `replay` must not make a second import of the same results: while a job's current
// upload orders are not terminal at the importer (Import Completed or Import Failed), the
// importer may still import them, and the replay's new orders would import the files
// again. replay refuses then, naming each open order and its stage; `--force` first
// marks those orders superseded in the reactor (orders.stage 'Superseded', a
// job_history row) and says that the importer may still import them.
#include <boost/asio/awaitable.hpp>
#include <map>
#include <string>
#include <vector>

#include "biomero_reactor/orders.hpp"
#include "biomero_reactor/pg.hpp"

namespace biomero_reactor {

inline constexpr std::string_view stage_superseded = "Superseded";

// One order of a job's current attempt and submission, as the reactor recorded it.
struct CurrentOrder {
  std::int64_t job_row = 0;
  std::string slurm_job_id;
  int attempt = 0;
  std::string uuid;
};

struct OpenOrder {
  CurrentOrder order;
  std::string stage;  // the importer's current stage
};

// The orders the importer may still act on: a row there whose current stage is not
// terminal. An order without a row at the importer has nothing left to import.
[[nodiscard]] std::vector<OpenOrder> open_orders(const std::vector<CurrentOrder>& orders,
                                                 const std::map<std::string, Stage>& stages);

// "job 1234: order <uuid> is at stage "Import Started" at the importer"
[[nodiscard]] std::string describe(const OpenOrder& o);

// The current orders of every job of the workflow with their stages at the importer.
boost::asio::awaitable<std::vector<OpenOrder>> open_orders_of_workflow(pg::Connection& events,
                                                                       pg::Connection& importer,
                                                                       std::string workflow_id);

// --force: each order marked superseded, with a history row on its job, in one transaction.
boost::asio::awaitable<void> supersede_orders(pg::Connection& events, std::vector<OpenOrder> open);

}  // namespace biomero_reactor
