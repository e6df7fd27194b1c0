#include "biomero_reactor/orders.hpp"

#include "biomero_reactor/event_codec.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

Uuid order_uuid(const Uuid& workflow_id, const std::string& job_id, const std::string& kind, int submission) {
  return uuid5(order_namespace(), workflow_id.str() + "/" + job_id + "/" + kind + "/" + std::to_string(submission));
}

std::vector<Order> plan_orders(const Uuid& workflow_id, const std::string& job_id, int submission,
                               const ImageSet& images, LabelsMode mode) {
  auto strings = [](const std::vector<std::filesystem::path>& ps) {
    std::vector<std::string> out;
    for (const auto& p : ps) out.push_back(p.string());
    return out;
  };
  const bool labels = !images.label_images.empty() && mode != LabelsMode::images_only;
  const bool main = !images.images.empty() && (mode != LabelsMode::labels_only_when_present || !labels);
  std::vector<Order> out;
  if (main) out.push_back({order_uuid(workflow_id, job_id, "images", submission), "images", strings(images.images)});
  if (labels) {
    out.push_back({order_uuid(workflow_id, job_id, "labels", submission), "labels", strings(images.label_images)});
  }
  return out;
}

std::string python_json_list(const std::vector<std::string>& items) {
  std::string s = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) s += ", ";
    s += encode_value(boost::json::value(items[i]));
  }
  return s + "]";
}

asio::awaitable<bool> insert_order(pg::Connection& importer, const Order& order, const OrderTarget& target) {
  // SHARE ROW EXCLUSIVE conflicts with every other INSERT: ids commit in id order.
  co_await importer.query("LOCK TABLE public.imports IN SHARE ROW EXCLUSIVE MODE");
  auto existing =
      co_await importer.query("SELECT 1 FROM public.imports WHERE uuid = $1 LIMIT 1", pg::params(order.uuid.str()));
  if (existing.rows() > 0) co_return false;
  std::vector<std::string> names;
  for (const auto& f : order.files) names.push_back(std::filesystem::path(f).filename().string());
  co_await importer.query(
      "INSERT INTO public.imports (group_name, user_name, destination_id, destination_type, stage, uuid, "
      "\"timestamp\", files, file_names) VALUES ($1, $2, $3, $4, $5, $6, now(), $7, $8)",
      pg::params(target.group_name, target.user_name, target.destination.id, target.destination.type,
                 std::string(stage_pending), order.uuid.str(), python_json_list(order.files), python_json_list(names)));
  co_return true;
}

asio::awaitable<std::map<std::string, Stage>> latest_stages(pg::Connection& importer,
                                                            const std::vector<std::string>& uuids) {
  std::map<std::string, Stage> out;
  if (uuids.empty()) co_return out;
  const std::string array = pg::array_literal(uuids);
  auto r = co_await importer.query(
      "SELECT DISTINCT ON (uuid) uuid, stage, description FROM public.imports WHERE uuid = ANY($1::text[]) "
      "ORDER BY uuid, stage IN ('Import Completed', 'Import Failed') DESC, id DESC",
      pg::params(array));
  for (int i = 0; i < r.rows(); ++i) out[std::string(r.text(i, 0))] = {std::string(r.text(i, 1)), r.opt_text(i, 2)};
  co_return out;
}

}  // namespace biomero_reactor
