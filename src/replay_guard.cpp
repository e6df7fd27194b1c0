#include "biomero_reactor/replay_guard.hpp"

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

std::vector<OpenOrder> open_orders(const std::vector<CurrentOrder>& orders,
                                   const std::map<std::string, Stage>& stages) {
  std::vector<OpenOrder> out;
  for (const auto& o : orders) {
    const auto found = stages.find(o.uuid);
    if (found == stages.end()) continue;
    const auto& stage = found->second.stage;
    if (stage == stage_completed || stage == stage_failed) continue;
    out.push_back({o, stage});
  }
  return out;
}

std::string describe(const OpenOrder& o) {
  return "job " + o.order.slurm_job_id + ": order " + o.order.uuid + " is at stage \"" + o.stage +
         "\" at the importer";
}

asio::awaitable<std::vector<OpenOrder>> open_orders_of_workflow(pg::Connection& events, pg::Connection& importer,
                                                                std::string workflow_id) {
  const auto r = co_await events.query(
      "SELECT j.id, j.slurm_job_id, j.attempt, o.order_uuid FROM biomero_reactor.jobs j "
      "JOIN biomero_reactor.orders o ON o.job_id = j.id AND o.attempt = j.attempt AND o.submission = j.submission "
      "WHERE j.workflow_id = $1 AND o.stage <> $2 ORDER BY j.id, o.kind",
      pg::params(workflow_id, stage_superseded));
  std::vector<CurrentOrder> orders;
  std::vector<std::string> uuids;
  for (int i = 0; i < r.rows(); ++i) {
    orders.push_back({r.int64(i, 0), std::string(r.text(i, 1)), static_cast<int>(r.int64(i, 2)),
                      std::string(r.text(i, 3))});
    uuids.push_back(orders.back().uuid);
  }
  const auto stages = co_await latest_stages(importer, uuids);
  co_return open_orders(orders, stages);
}

asio::awaitable<void> supersede_orders(pg::Connection& events, std::vector<OpenOrder> open) {
  co_await events.query("BEGIN");
  for (const auto& o : open) {
    const std::string detail = "replay --force: order " + o.order.uuid + " superseded at stage \"" + o.stage +
                               "\"; the importer may still import it";
    co_await events.query("UPDATE biomero_reactor.orders SET stage = $2, description = $3 WHERE order_uuid = $1",
                          pg::params(o.order.uuid, stage_superseded, detail));
    co_await events.query(
        "INSERT INTO biomero_reactor.job_history (job_id, to_state, attempt, detail) "
        "SELECT id, state, attempt, $2 FROM biomero_reactor.jobs WHERE id = $1",
        pg::params(o.order.job_row, detail));
    log::warn("order superseded by replay --force; the importer may still import it",
              {{"job_id", o.order.slurm_job_id}, {"order_uuid", o.order.uuid}, {"stage", o.stage}});
  }
  co_await events.query("COMMIT");
}

}  // namespace biomero_reactor
