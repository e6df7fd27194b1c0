#pragma once
// Upload orders in BIOMERO.importer's table public.imports: one row
// per stage, appended by the importer; the reactor inserts the `Import Pending` row and
// reads the latest stage. Order uuids are UUIDv5 of workflow, job, kind and submission,
// so a retry after a crash finds its order instead of writing a second one.
#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/images.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor {

inline constexpr std::string_view stage_pending = "Import Pending";
inline constexpr std::string_view stage_completed = "Import Completed";
inline constexpr std::string_view stage_failed = "Import Failed";

struct Order {
  Uuid uuid;
  std::string kind;  // "images" or "labels"
  std::vector<std::string> files;
};

struct OrderTarget {
  std::string group_name;
  std::string user_name;
  Destination destination;
};

[[nodiscard]] Uuid order_uuid(const Uuid& workflow_id, const std::string& job_id, const std::string& kind,
                              int submission);

// BIOMERO's rule: with labels present, only the labels are imported (they carry their
// image) unless configured otherwise.
[[nodiscard]] std::vector<Order> plan_orders(const Uuid& workflow_id, const std::string& job_id, int submission,
                                             const ImageSet& images, LabelsMode mode);

// JSON list as Python's json.dumps writes it: ["a", "b"].
[[nodiscard]] std::string python_json_list(const std::vector<std::string>& items);

// Inside the caller's transaction on the importer's database. Locks `imports` so no other
// writer's higher id commits first; a row with this uuid already there is left alone.
// Returns false when the order already existed.
boost::asio::awaitable<bool> insert_order(pg::Connection& importer, const Order& order, const OrderTarget& target);

struct Stage {
  std::string stage;
  std::optional<std::string> description;
};

// Current stage per order uuid: a terminal row (Completed, Failed) wins over any other
// whatever the timestamps (clocks skew, timestamps may be NULL); otherwise the last row
// by id, the order the importer writes them in. Orders without a row are absent.
boost::asio::awaitable<std::map<std::string, Stage>> latest_stages(pg::Connection& importer,
                                                                   const std::vector<std::string>& uuids);

}  // namespace biomero_reactor
