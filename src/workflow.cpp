#include "biomero_reactor/workflow.hpp"

#include <algorithm>
#include <map>
#include <optional>

namespace biomero_reactor {
namespace {

namespace json = boost::json;

struct DecodedEvent {
  const StoredEvent* row;
  json::object state;
  TimePoint timestamp;
};

std::string describe(const StoredEvent& row) {
  std::string topic = row.topic;
  if (topic.size() > 128) {
    std::size_t cut = 128;  // on a character boundary: the text goes to a database row
    while (cut > 0 && (static_cast<unsigned char>(topic[cut]) & 0xC0) == 0x80) --cut;
    topic.resize(cut);
    topic += "...";
  }
  return "event " + std::to_string(row.id) + " (" + topic + ", " + row.originator_id.str() + " v" +
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

// Bytes of the UTF-8 sequence that starts with `lead` (Boost.JSON has checked the text
// is valid UTF-8, so only the length is needed).
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  return 2;
}

// An id or a name: bounded and free of control characters, or the event is refused.
std::string name_field(const DecodedEvent& event, std::string_view key, std::size_t cap) {
  std::string text = text_field(event, key);
  if (text.size() > cap) {
    throw CodecError(describe(*event.row) + ": field '" + std::string(key) + "' is " + std::to_string(text.size()) +
                     " bytes long, more than the " + std::to_string(cap) + " allowed");
  }
  if (has_control_character(text)) {
    throw CodecError(describe(*event.row) + ": field '" + std::string(key) +
                     "' holds a control character (NUL, newline, ...), which no id or name may hold");
  }
  return text;
}

// Free text: cut at the cap on a character boundary; control characters other than tab,
// newline and carriage return replaced.
std::string free_text_field(const DecodedEvent& event, std::string_view key) {
  const std::string text = text_field(event, key);
  std::string out;
  out.reserve(std::min(text.size(), max_free_text_bytes));
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const std::size_t length = std::min(sequence_length(byte), text.size() - i);
    if (out.size() + length > max_free_text_bytes) {
      out += " [truncated]";
      break;
    }
    const bool c1 = byte == 0xC2 && length == 2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7F || c1) {
      out += "\xEF\xBF\xBD";  // U+FFFD
    } else {
      out.append(text, i, length);
    }
    i += length;
  }
  return out;
}

std::int64_t integer_field(const DecodedEvent& event, std::string_view key) {
  const json::value& value = field(event, key);
  if (value.is_int64()) return value.get_int64();
  throw CodecError(describe(*event.row) + ": field '" + std::string(key) +
                   "' is not an integer: " + encode_excerpt(value));
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
      task.name = name_field(event, "task_name", max_name_bytes);
      task.version = name_field(event, "task_version", max_name_bytes);
      task.input_data = field(event, "input_data");
      const json::value& params = field(event, "params");
      if (params.is_object()) {
        task.params = params.get_object();
      } else if (!params.is_null()) {
        throw CodecError(describe(*event.row) + ": params is not an object: " + encode_excerpt(params));
      }
      task.created_on = event.timestamp;
    } else if (topic == topics::job_id_added) {
      task.job_ids.push_back(name_field(event, "job_id", max_job_id_bytes));
    } else if (topic == topics::status_updated) {
      task.status = name_field(event, "status", max_name_bytes);
      if (task.status == "HANDED_OFF") task.handed_off = true;
    } else if (topic == topics::task_started) {
      task.started = true;
    } else if (topic == topics::result_added) {
      task.results.push_back(field(event, "result"));
    } else if (topic == topics::task_completed) {
      task.completed = true;
      const json::value& result = field(event, "result");
      if (result.is_string() && result.get_string().starts_with("BIOMERO-REACTOR-HANDOFF/1 ")) task.handed_off = true;
      task.result_message = result;
    } else if (topic == topics::task_failed) {
      task.failed = true;
      task.error = free_text_field(event, "error_message");
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
      workflow.name = name_field(event, "name", max_name_bytes);
      workflow.description = free_text_field(event, "description");
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
      workflow.error = free_text_field(event, "error_message");
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

bool has_control_character(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) return true;
    if (byte == 0xC2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return true;
    }
  }
  return false;
}

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// End of the digit run starting at `at` (at itself when there is none).
std::size_t digits_end(std::string_view text, std::size_t at) {
  while (at < text.size() && is_digit(text[at])) ++at;
  return at;
}

// End of ".<digits>" at `at`, or npos.
std::size_t dot_digits_end(std::string_view text, std::size_t at) {
  if (at + 1 >= text.size() || text[at] != '.' || !is_digit(text[at + 1])) return std::string_view::npos;
  return digits_end(text, at + 1);
}

}  // namespace

// What std::regex_search gives for \d+\.\d+\.\d+ and then \d+(\.\d+)+, in linear time:
// the leftmost match starts at the start of a digit run (a start inside a run has the
// same continuation), and greedy \d+ takes whole runs. Each run is looked at by at most
// three candidate starts, so the scan is O(size).
std::string workflow_version_of(std::string_view description) {
  std::string_view first_dotted;
  for (std::size_t at = 0; at < description.size();) {
    if (!is_digit(description[at])) {
      ++at;
      continue;
    }
    const std::size_t run_end = digits_end(description, at);
    const std::size_t second = dot_digits_end(description, run_end);
    if (second != std::string_view::npos) {
      const std::size_t third = dot_digits_end(description, second);
      if (third != std::string_view::npos) return std::string(description.substr(at, third - at));
      if (first_dotted.empty()) first_dotted = description.substr(at, second - at);
    }
    at = run_end;
  }
  return std::string(first_dotted);
}

}  // namespace biomero_reactor
