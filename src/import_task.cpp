#include "biomero_reactor/import_task.hpp"

#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/intake.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

// BIOMERO's views show import statuses at 90%.
std::vector<pg::Statement> view_statements(const ImportTask& t, const std::string& status, const std::string& error,
                                           bool finished, const Projections& p) {
  std::vector<pg::Statement> out;
  if (p.progress_view) {
    out.push_back({"UPDATE public.biomero_workflow_progress_view SET status = $2, progress = '90%', task = $3 "
                   "WHERE workflow_id = $1",
                   pg::params(t.workflow_id.str(), status, std::string(import_task_name))});
  }
  if (p.task_execution) {
    out.push_back({"UPDATE public.biomero_task_execution SET status = $2, "
                   "end_time = CASE WHEN $3 THEN (now() AT TIME ZONE 'UTC') END, error_type = $4 WHERE task_id = $1",
                   pg::params(t.id.str(), status, finished, pg::null_if_empty(error))});
  }
  return out;
}

std::vector<pg::Statement> joined(std::vector<pg::Statement> a, std::vector<pg::Statement> b) {
  a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
  return a;
}

// BIOMERO's Run_Workflow gives its import task the workflow's input object ids as
// {"IDs": [...]}: its batch supervisor finds a batch's outputs with Input_Data LIKE.
boost::json::object input_ids(const Workflow& wf) {
  for (const auto& t : wf.tasks) {
    if (t.name == import_task_name) continue;
    if (t.input_data.is_array()) return {{"IDs", t.input_data}};
    if (!t.input_data.is_object()) continue;
    if (const auto* ids = t.input_data.get_object().if_contains("IDs"); ids != nullptr && ids->is_array()) {
      return {{"IDs", *ids}};
    }
  }
  return {{"IDs", boost::json::array{}}};
}

}  // namespace

ImportTask import_task_for(const Uuid& workflow_id, const std::string& job_id, int attempt,
                           const std::optional<Uuid>& handoff_id) {
  const std::string name =
      handoff_id ? "handoff/" + handoff_id->str() + "/" + std::to_string(attempt)
                 : "import-task/" + workflow_id.str() + "/" + job_id + "/" + std::to_string(attempt);
  return {uuid5(reactor_namespace(), name), workflow_id, job_id, attempt, handoff_id, true};
}

boost::json::object import_task_params(const ImportTask& t) {
  if (t.handoff_id) {
    return {{std::string(reactor_task_marker), std::string(reactor_task_marker_value)},
            {"Handoff_Task_ID", t.handoff_id->str()},
            {"SLURM Job Id", t.job_id},
            {"Attempt", t.attempt}};
  }
  return {{"Job_ID", t.job_id},
          {"Workflow_ID", t.workflow_id.str()},
          {"Attempt", t.attempt},
          {std::string(reactor_task_marker), std::string(reactor_task_marker_value)}};
}

boost::json::value import_task_input_data(const ImportTask& t, const Workflow& wf) {
  if (t.handoff_id) {
    // H's own input_data, as Run_Workflow gave it; a standalone handoff has no H.
    for (const auto& task : wf.tasks) {
      if (task.id == *t.handoff_id && task.name == import_task_name && !task.input_data.is_null()) {
        return task.input_data;
      }
    }
  }
  return input_ids(wf);
}

asio::awaitable<void> refresh_projections(pg::Connection& c, Projections& known) {
  if (known.complete()) co_return;
  auto r = co_await c.query(
      "SELECT to_regclass('public.biomero_workflow_progress_view') IS NOT NULL, "
      "       to_regclass('public.biomero_task_execution') IS NOT NULL");
  known.progress_view = r.boolean(0, 0);
  known.task_execution = r.boolean(0, 1);
}

asio::awaitable<void> report_importing(pg::Connection& c, const ImportTask& t, const Workflow& wf) {
  if (!t.in_event_store) co_return;
  boost::json::object created;
  created["timestamp"] = typed_datetime(now_us());
  created["originator_topic"] = topics::task;
  created["workflow_id"] = typed_uuid(t.workflow_id);
  created["task_name"] = import_task_name;
  // A handoff's R says who wrote it, as the contract has it; the workflow path keeps the bare version.
  const std::string version = t.handoff_id ? "biomero-reactor " BIOMERO_REACTOR_VERSION : BIOMERO_REACTOR_VERSION;
  created["task_version"] = version;
  created["input_data"] = import_task_input_data(t, wf);
  created["params"] = import_task_params(t);
  std::vector<NewEvent> events;
  events.push_back({t.id, std::string(topics::task_created), std::move(created)});
  events.push_back(
      {t.workflow_id, std::string(topics::task_added), boost::json::object{{"task_id", typed_uuid(t.id)}}});
  events.push_back({t.id, std::string(topics::task_started), boost::json::object{}});
  events.push_back({t.id, std::string(topics::status_updated), boost::json::object{{"status", "IMPORTING"}}});
  Projections p;
  co_await refresh_projections(c, p);
  auto statements = append_statements(events);
  if (p.task_execution) {
    statements.push_back(
        {"INSERT INTO public.biomero_task_execution (task_id, task_name, task_version, user_id, group_id, status, "
         "start_time) VALUES ($1, $2, $3, $4, $5, 'IMPORTING', now() AT TIME ZONE 'UTC') "
         "ON CONFLICT (task_id) DO UPDATE SET status = 'IMPORTING'",
         pg::params(t.id.str(), std::string(import_task_name), version, wf.user_id,
                    wf.group_id)});
  }
  statements = joined(std::move(statements), view_statements(t, "IMPORTING", "", false, p));
  co_await c.pipeline(statements);
}

std::vector<pg::Statement> imported_statements(const ImportTask& t, const std::string& result, const Projections& p) {
  if (!t.in_event_store) return {};
  std::vector<NewEvent> events;
  events.push_back({t.id, std::string(topics::status_updated), boost::json::object{{"status", "IMPORTED"}}});
  events.push_back({t.id, std::string(topics::task_completed), boost::json::object{{"result", result}}});
  return joined(append_statements(events), view_statements(t, "IMPORTED", "", true, p));
}

std::vector<pg::Statement> import_failed_statements(const ImportTask& t, const std::string& reason,
                                                    const Projections& p) {
  if (!t.in_event_store) return {};
  std::vector<NewEvent> events;
  events.push_back({t.id, std::string(topics::status_updated), boost::json::object{{"status", "IMPORT_FAILED"}}});
  events.push_back(
      {t.id, std::string(topics::task_failed), boost::json::object{{"error_message", "Import failed: " + reason}}});
  return joined(append_statements(events), view_statements(t, "IMPORT_FAILED", reason.substr(0, 200), true, p));
}

asio::awaitable<void> report_import_failed(pg::Connection& c, const ImportTask& t, std::string reason) {
  if (!t.in_event_store) co_return;
  Projections p;
  co_await refresh_projections(c, p);
  const auto statements = import_failed_statements(t, reason, p);
  co_await c.pipeline(statements);
}

}  // namespace biomero_reactor
