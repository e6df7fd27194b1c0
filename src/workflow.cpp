#include "biomero_reactor/workflow.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <regex>

namespace biomero_reactor {
namespace {

namespace json = boost::json;

struct DecodedEvent {
  const StoredEvent* row;
  json::object state;
  TimePoint timestamp;
};

std::string describe(const StoredEvent& row) {
  return "event " + std::to_string(row.id) + " (" + row.topic + ", " + row.originator_id.str() + " v" +
         std::to_string(row.originator_version) + ")";
}

DecodedEvent decode_event(const StoredEvent& row) {
  try {
    json::object state = decode_state(row.state);
    const std::optional<TimePoint> timestamp = get_datetime(state, "timestamp");
    if (!timestamp) throw CodecError("it has no timestamp");
    return {&row, std::move(state), *timestamp};
  } catch (const CodecError& error) {
    throw CodecError(describe(row) + ": " + error.what());
  }
}

const json::value& field(const DecodedEvent& event, std::string_view key) {
  const auto found = event.state.find(key);
  if (found == event.state.end()) {
    throw CodecError(describe(*event.row) + ": field '" + std::string(key) + "' is missing");
  }
  return found->value();
}

std::string text_field(const DecodedEvent& event, std::string_view key) {
  const json::value& value = field(event, key);
  if (const auto* text = value.if_string()) return std::string(*text);
  if (value.is_null()) return "";
  return encode_value(value);
}

std::int64_t integer_field(const DecodedEvent& event, std::string_view key) {
  const json::value& value = field(event, key);
  if (value.is_int64()) return value.get_int64();
  throw CodecError(describe(*event.row) + ": field '" + std::string(key) +
                   "' is not an integer: " + encode_value(value));
}

// One aggregate's events decoded, checked to be versions 0..n-1.
std::vector<DecodedEvent> decode_aggregate(const Uuid& id, std::vector<const StoredEvent*> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const StoredEvent* a, const StoredEvent* b) { return a->originator_version < b->originator_version; });
  std::vector<DecodedEvent> decoded;
  decoded.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]->originator_version != static_cast<std::int64_t>(i)) {
      throw CodecError("aggregate " + id.str() + ": expected version " + std::to_string(i) + ", found " +
                       std::to_string(rows[i]->originator_version) + " (events missing or repeated)");
    }
    decoded.push_back(decode_event(*rows[i]));
  }
  return decoded;
}

Task fold_task(const Uuid& id, const std::vector<DecodedEvent>& events) {
  if (events.front().row->topic != topics::task_created) {
    throw CodecError("task " + id.str() + ": version 0 is " + events.front().row->topic + ", not TaskCreated");
  }
  Task task;
  task.id = id;
  for (const DecodedEvent& event : events) {
    const std::string& topic = event.row->topic;
    if (topic == topics::task_created) {
      task.name = text_field(event, "task_name");
      task.version = text_field(event, "task_version");
      task.input_data = field(event, "input_data");
      const json::value& params = field(event, "params");
      if (params.is_object()) {
        task.params = params.get_object();
      } else if (!params.is_null()) {
        throw CodecError(describe(*event.row) + ": params is not an object: " + encode_value(params));
      }
      task.created_on = event.timestamp;
    } else if (topic == topics::job_id_added) {
      task.job_ids.push_back(text_field(event, "job_id"));
    } else if (topic == topics::status_updated) {
      task.status = text_field(event, "status");
    } else if (topic == topics::task_started) {
      task.started = true;
    } else if (topic == topics::result_added) {
      task.results.push_back(field(event, "result"));
    } else if (topic == topics::task_completed) {
      task.completed = true;
      task.result_message = field(event, "result");
    } else if (topic == topics::task_failed) {
      task.failed = true;
      task.error = text_field(event, "error_message");
    }
  }
  task.modified_on = events.back().timestamp;
  task.next_version = static_cast<std::int64_t>(events.size());
  return task;
}

}  // namespace

Workflow decode_workflow(const Uuid& workflow_id, const std::vector<StoredEvent>& events) {
  std::map<Uuid, std::vector<const StoredEvent*>> rows_by_aggregate;
  for (const StoredEvent& row : events) rows_by_aggregate[row.originator_id].push_back(&row);

  const auto workflow_rows = rows_by_aggregate.find(workflow_id);
  const auto is_initiated = [](const StoredEvent* row) { return row->topic == topics::workflow_initiated; };
  if (workflow_rows == rows_by_aggregate.end() ||
      std::none_of(workflow_rows->second.begin(), workflow_rows->second.end(), is_initiated)) {
    throw CodecError("workflow " + workflow_id.str() +
                     " has no WorkflowInitiated event: not a BIOMERO workflow, or its events were not all read");
  }
  const std::vector<DecodedEvent> workflow_events = decode_aggregate(workflow_id, workflow_rows->second);
  if (!is_initiated(workflow_events.front().row)) {
    throw CodecError("workflow " + workflow_id.str() + ": version 0 is " + workflow_events.front().row->topic +
                     ", not WorkflowInitiated");
  }

  Workflow workflow;
  workflow.id = workflow_id;
  std::vector<Uuid> task_ids;
  for (const DecodedEvent& event : workflow_events) {
    const std::string& topic = event.row->topic;
    if (topic == topics::workflow_initiated) {
      workflow.user_id = integer_field(event, "user");
      workflow.group_id = integer_field(event, "group");
      workflow.name = text_field(event, "name");
      workflow.description = text_field(event, "description");
      workflow.created_on = event.timestamp;
    } else if (topic == topics::task_added) {
      const std::optional<Uuid> task_id = get_uuid(event.state, "task_id");
      if (!task_id) throw CodecError(describe(*event.row) + ": task_id is missing");
      if (std::find(task_ids.begin(), task_ids.end(), *task_id) == task_ids.end()) {
        task_ids.push_back(*task_id);
      }
    } else if (topic == topics::workflow_completed) {
      workflow.completed = true;
    } else if (topic == topics::workflow_failed) {
      workflow.failed = true;
      workflow.error = text_field(event, "error_message");
    }
  }
  workflow.version = workflow_version_of(workflow.description);
  workflow.modified_on = workflow_events.back().timestamp;
  workflow.version_count = static_cast<std::int64_t>(workflow_events.size());

  for (const Uuid& task_id : task_ids) {
    const auto task_rows = rows_by_aggregate.find(task_id);
    if (task_rows == rows_by_aggregate.end()) {
      throw CodecError("workflow " + workflow_id.str() + ": task " + task_id.str() +
                       " was added but none of its events were given");
    }
    workflow.tasks.push_back(fold_task(task_id, decode_aggregate(task_id, task_rows->second)));
  }
  return workflow;
}

std::string workflow_version_of(std::string_view description) {
  static const std::regex three_part(R"(\d+\.\d+\.\d+)");
  static const std::regex dotted(R"(\d+(\.\d+)+)");
  std::match_results<std::string_view::const_iterator> match;
  for (const std::regex* pattern : {&three_part, &dotted}) {
    if (std::regex_search(description.begin(), description.end(), match, *pattern)) return match.str();
  }
  return "";
}

}  // namespace biomero_reactor
