#include "biomero_reactor/import_task.hpp"

#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/intake.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

// Namespace of every UUIDv5 the reactor derives (uuid5(NAMESPACE_URL, "biomero-reactor")).
const Uuid& reactor_namespace() {
  static const Uuid ns = uuid5(*Uuid::parse("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "biomero-reactor");
  return ns;
}

asio::awaitable<bool> table_exists(pg::Connection& c, const char* table) {
  auto r = co_await c.query("SELECT to_regclass($1) IS NOT NULL", pg::params(table));
  co_return r.boolean(0, 0);
}

// BIOMERO's views show import statuses at 90%.
asio::awaitable<void> update_views(pg::Connection& c, const ImportTask& t, std::string status, std::string error,
                                   bool finished) {
  // (co_await is kept out of `if` conditions: g++ 12 miscompiles it there.)
  const bool progress_view = co_await table_exists(c, "public.biomero_workflow_progress_view");
  const bool task_execution = co_await table_exists(c, "public.biomero_task_execution");
  if (progress_view) {
    co_await c.query(
        "UPDATE public.biomero_workflow_progress_view SET status = $2, progress = '90%', task = $3 "
        "WHERE workflow_id = $1",
        pg::params(t.workflow_id.str(), status, std::string(import_task_name)));
  }
  if (task_execution) {
    co_await c.query(
        "UPDATE public.biomero_task_execution SET status = $2, "
        "end_time = CASE WHEN $3 THEN (now() AT TIME ZONE 'UTC') END, error_type = $4 WHERE task_id = $1",
        pg::params(t.id.str(), status, finished, pg::null_if_empty(error)));
  }
}

}  // namespace

ImportTask import_task_for(const Uuid& workflow_id, const std::string& job_id, int attempt) {
  return {uuid5(reactor_namespace(), "import-task/" + workflow_id.str() + "/" + job_id + "/" + std::to_string(attempt)),
          workflow_id, job_id, attempt};
}

asio::awaitable<void> report_importing(pg::Connection& c, const ImportTask& t, const Workflow& wf) {
  boost::json::object created;
  created["timestamp"] = typed_datetime(now_us());
  created["originator_topic"] = topics::task;
  created["workflow_id"] = typed_uuid(t.workflow_id);
  created["task_name"] = import_task_name;
  created["task_version"] = BIOMERO_REACTOR_VERSION;
  created["input_data"] = boost::json::object{{"Job_ID", t.job_id}};
  created["params"] = boost::json::object{{"Job_ID", t.job_id},
                                          {"Workflow_ID", t.workflow_id.str()},
                                          {"Attempt", t.attempt},
                                          {std::string(reactor_task_marker), std::string(reactor_task_marker_value)}};
  std::vector<NewEvent> events;
  events.push_back({t.id, std::string(topics::task_created), std::move(created)});
  events.push_back(
      {t.workflow_id, std::string(topics::task_added), boost::json::object{{"task_id", typed_uuid(t.id)}}});
  events.push_back({t.id, std::string(topics::task_started), boost::json::object{}});
  events.push_back({t.id, std::string(topics::status_updated), boost::json::object{{"status", "IMPORTING"}}});
  co_await append_events(c, events);
  const bool task_execution = co_await table_exists(c, "public.biomero_task_execution");
  if (task_execution) {
    co_await c.query(
        "INSERT INTO public.biomero_task_execution (task_id, task_name, task_version, user_id, group_id, status, "
        "start_time) VALUES ($1, $2, $3, $4, $5, 'IMPORTING', now() AT TIME ZONE 'UTC') "
        "ON CONFLICT (task_id) DO UPDATE SET status = 'IMPORTING'",
        pg::params(t.id.str(), std::string(import_task_name), std::string(BIOMERO_REACTOR_VERSION), wf.user_id,
                   wf.group_id));
  }
  co_await update_views(c, t, "IMPORTING", "", false);
}

asio::awaitable<void> report_imported(pg::Connection& c, const ImportTask& t, std::string result) {
  std::vector<NewEvent> events;  // built outside co_await: g++ 12 miscompiles braced lists there
  events.push_back({t.id, std::string(topics::status_updated), boost::json::object{{"status", "IMPORTED"}}});
  events.push_back({t.id, std::string(topics::task_completed), boost::json::object{{"result", result}}});
  co_await append_events(c, events);
  co_await update_views(c, t, "IMPORTED", "", true);
}

asio::awaitable<void> report_import_failed(pg::Connection& c, const ImportTask& t, std::string reason) {
  std::vector<NewEvent> events;
  events.push_back({t.id, std::string(topics::status_updated), boost::json::object{{"status", "IMPORT_FAILED"}}});
  events.push_back(
      {t.id, std::string(topics::task_failed), boost::json::object{{"error_message", "Import failed: " + reason}}});
  co_await append_events(c, events);
  co_await update_views(c, t, "IMPORT_FAILED", reason.substr(0, 200), true);
}

}  // namespace biomero_reactor
