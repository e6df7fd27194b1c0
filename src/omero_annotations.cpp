#include "biomero_reactor/omero_annotations.hpp"

#include <algorithm>
#include <cstdio>

#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/import_task.hpp"

namespace biomero_reactor {
namespace {

namespace json = boost::json;

// Python's str.isprintable() for the code points JSON text can carry: control
// characters, C1 controls, NBSP, soft hyphen and the line/paragraph separators
// are escaped; other non-ASCII text is kept as UTF-8.
void append_code_point_escape(std::string& out, std::uint32_t cp) {
  char buf[12];
  if (cp <= 0xff) {
    std::snprintf(buf, sizeof buf, "\\x%02x", cp);
  } else {
    std::snprintf(buf, sizeof buf, "\\u%04x", cp);
  }
  out += buf;
}

void append_string_repr(std::string& out, std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      append_code_point_escape(out, c);
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      // Decode one UTF-8 sequence (Boost.JSON only hands over valid UTF-8).
      const std::size_t length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      std::uint32_t cp = c & (length == 2 ? 0x1f : length == 3 ? 0x0f : 0x07);
      for (std::size_t k = 1; k < length && i + k < text.size(); ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
      }
      if (cp <= 0xa0 || cp == 0xad || cp == 0x2028 || cp == 0x2029) {
        append_code_point_escape(out, cp);
      } else {
        out.append(text.substr(i, length));
      }
      i += length - 1;
    }
  }
  out.push_back(quote);
}

void append_repr(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      out += "None";
      break;
    case json::kind::bool_:
      out += value.get_bool() ? "True" : "False";
      break;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      out += encode_value(value);  // json.dumps writes ints as Python does and floats as repr(float)
      break;
    case json::kind::string:
      append_string_repr(out, value.get_string());
      break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, item);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.get_object()) {
        if (!first) out += ", ";
        first = false;
        append_string_repr(out, key);
        out += ": ";
        append_repr(out, item);
      }
      out.push_back('}');
      break;
    }
  }
}

// ezomero's post_map_annotation: str() of each value, a list as repeated keys.
void add(KeyValues& values, std::string key, const json::value& value) {
  if (const auto* items = value.if_array()) {
    for (const json::value& item : *items) values.emplace_back(key, python_str(item));
    return;
  }
  values.emplace_back(std::move(key), python_str(value));
}

void add(KeyValues& values, std::string key, std::string value) {
  values.emplace_back(std::move(key), std::move(value));
}

std::string joined_task_ids(const Workflow& workflow) {
  std::string out;
  for (const Task& task : workflow.tasks) {
    if (!out.empty()) out += ", ";
    out += task.id.str();
  }
  return out;
}

// The stored text as Python holds it: the decoder reads a null as "", which Python
// would print as None.
std::string text_or_none(const std::string& text) {
  return text.empty() ? "None" : text;
}

// BIOMERO's own rule (first \d+.\d+.\d+, else "Unknown"), narrower than
// workflow_version_of: "v1.0" is "Unknown" here, as in the Python.
std::string biomero_version(const std::string& description) {
  const auto& d = description;
  const auto digits_end = [&](std::size_t i) {
    while (i < d.size() && d[i] >= '0' && d[i] <= '9') ++i;
    return i;
  };
  // The leftmost \d+\.\d+\.\d+ (std::regex is kept out of the daemon).
  for (std::size_t i = 0; i < d.size(); ++i) {
    const std::size_t a = digits_end(i);
    if (a == i || a >= d.size() || d[a] != '.') continue;
    const std::size_t b = digits_end(a + 1);
    if (b == a + 1 || b >= d.size() || d[b] != '.') continue;
    const std::size_t c = digits_end(b + 1);
    if (c > b + 1) return d.substr(i, c - i);
  }
  return "Unknown";
}

}  // namespace

std::string python_repr(const json::value& value) {
  std::string out;
  append_repr(out, value);
  return out;
}

std::string python_str(const json::value& value) {
  if (const auto* text = value.if_string()) return std::string(*text);
  return python_repr(value);
}

std::string python_isoformat(TimePoint at) {
  std::string text = format_datetime(at);  // "...:SS.ffffff+00:00"
  if (at.time_since_epoch().count() % 1000000 == 0) {
    const auto dot = text.find('.');
    if (dot != std::string::npos) text.erase(dot, 7);
  }
  return text;
}

std::string task_namespace(std::string_view task_name) {
  const std::string_view shown = task_name == import_task_name ? std::string_view("SLURM_Get_Results.py") : task_name;
  return std::string(workflow_namespace) + "/task/" + std::string(shown);
}

MapAnnotation workflow_annotation(const Workflow& workflow) {
  MapAnnotation a{std::string(workflow_namespace), {}};
  add(a.values, "Workflow_ID", workflow.id.str());
  add(a.values, "Name", text_or_none(workflow.name));
  add(a.values, "Version", biomero_version(workflow.description));
  add(a.values, "Created_On", python_isoformat(workflow.created_on));
  add(a.values, "Modified_On", python_isoformat(workflow.modified_on));
  add(a.values, "Task_IDs", joined_task_ids(workflow));
  return a;
}

MapAnnotation task_annotation(const Workflow& workflow, const Task& task) {
  MapAnnotation a{task_namespace(task.name), {}};
  add(a.values, "Task_ID", task.id.str());
  add(a.values, "Workflow_ID", workflow.id.str());
  add(a.values, "Workflow_Name", text_or_none(workflow.name));
  add(a.values, "Name", text_or_none(task.name));
  add(a.values, "Version", text_or_none(task.version));
  add(a.values, "Created_On", python_isoformat(task.created_on));
  add(a.values, "Modified_On", python_isoformat(task.modified_on));
  add(a.values, "Status", text_or_none(task.status));
  add(a.values, "Input_Data", task.input_data);
  std::string job_ids;
  for (const std::string& id : task.job_ids) job_ids += (job_ids.empty() ? "" : ", ") + id;
  add(a.values, "Job_IDs", job_ids);
  // BIOMERO str()s each param itself, so a list param stays one "[...]" value.
  for (const auto& [key, value] : task.params) add(a.values, "Param_" + std::string(key), python_str(value));
  return a;
}

MapAnnotation job_annotation(const Workflow& workflow, const Task& task, std::string_view job_id) {
  MapAnnotation a{task_namespace(task.name) + "/job", {}};
  add(a.values, "Job_ID", std::string(job_id));
  add(a.values, "Task_ID", task.id.str());
  add(a.values, "Workflow_ID", workflow.id.str());
  add(a.values, "Result_Message", task.result_message);
  const json::object* first = task.results.empty() ? nullptr : task.results.front().if_object();
  if (first != nullptr) {
    if (const auto* command = first->if_contains("command")) add(a.values, "Command", *command);
    if (const auto* env = first->if_contains("env")) {
      if (const auto* entries = env->if_object()) {
        for (const auto& [key, value] : *entries) add(a.values, "Env_" + std::string(key), python_str(value));
      }
    }
  }
  return a;
}

MapAnnotation untracked_job_annotation(std::string_view job_id) {
  return {std::string(untracked_job_namespace), {{"Job_ID", std::string(job_id)}}};
}

std::vector<MapAnnotation> workflow_annotations(const Workflow& workflow, const Task& import_task,
                                                const std::optional<Uuid>& handed_off) {
  Workflow current = workflow;
  if (handed_off) std::erase_if(current.tasks, [&](const Task& task) { return task.id == *handed_off; });
  const auto same = std::find_if(current.tasks.begin(), current.tasks.end(),
                                 [&](const Task& task) { return task.id == import_task.id; });
  if (same == current.tasks.end()) {
    current.tasks.push_back(import_task);
  } else {
    *same = import_task;
  }
  std::vector<MapAnnotation> out{workflow_annotation(current)};
  for (const Task& task : current.tasks) {
    out.push_back(task_annotation(current, task));
    for (const std::string& job_id : task.job_ids) out.push_back(job_annotation(current, task, job_id));
  }
  return out;
}

}  // namespace biomero_reactor
