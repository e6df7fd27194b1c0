#pragma once
// What the HTTP endpoint answers about a running reactor: /healthz (the event loop
// answers), /readyz (the databases answer, notifications flow or polling is knowingly in
// use, the group storage is writable) and /metrics (Prometheus). It reads the reactor
// through a snapshot taken at each request, and the databases at scrape time.
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/database_gauges.hpp"
#include "biomero_reactor/http_endpoint.hpp"
#include "biomero_reactor/metrics.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/pipeline.hpp"

namespace biomero_reactor {

struct ListenerSnapshot {
  std::string database;  // "events" or "importer"
  bool up = false;       // connected, LISTENing and caught up
  std::uint64_t reconnects = 0, failures = 0;
  std::string last_error;
};

struct ReactorSnapshot {
  bool starting = true, stopping = false;
  bool poll_only = false;              // no trigger installed: polling is the plan
  bool notifications_healthy = false;  // every LISTEN session is up
  std::string degraded_poll;           // the poll interval while notifications are down
  std::optional<std::filesystem::path> base_dir;
  std::vector<ListenerSnapshot> listeners;
  Counters counters;
  int running_jobs = 0;
  std::uint64_t events_by_notify = 0, events_by_poll = 0;
  std::map<std::string, std::uint64_t> notifications_by_channel;
  std::map<std::string, Histogram> step_durations;  // by the state a step ended in
  int workers = 0, workers_stuck = 0;               // the worker pool (worker_watch.hpp)
};

class Health {
 public:
  // importer: its own pool when the importer's table is in another database, else null.
  Health(pg::Pool& events, pg::Pool* importer, std::function<ReactorSnapshot()> snapshot);
  boost::asio::awaitable<HttpAnswer> answer(std::string target);

 private:
  boost::asio::awaitable<HttpAnswer> readiness();
  // Why /readyz would answer 503 now; empty when ready. Without probe_events the caller
  // has asked the events database itself.
  boost::asio::awaitable<boost::json::array> not_ready_reasons(bool probe_events = true);
  boost::asio::awaitable<HttpAnswer> metrics();

  pg::Pool& events_;
  pg::Pool* importer_;
  std::function<ReactorSnapshot()> snapshot_;
  DatabaseGauges database_gauges_;
};

}  // namespace biomero_reactor
