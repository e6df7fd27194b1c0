#include "biomero_reactor/metadata.hpp"

namespace biomero_reactor {
namespace {

void append_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out.push_back('"');
  for (const char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_row(std::string& out, std::string_view key, std::string_view value) {
  append_field(out, key);
  out.push_back(',');
  append_field(out, value);
  out.push_back('\n');
}

template <typename Range, typename Text>
std::string joined(const Range& items, Text text) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += text(item);
  }
  return out;
}

std::string param_text(const boost::json::value& value) {
  if (const auto* text = value.if_string()) return std::string(*text);
  return encode_value(value);
}

}  // namespace

std::string metadata_csv(const Workflow& workflow, std::string_view job_id, std::string_view user_name,
                         std::string_view group_name) {
  std::string out;
  append_row(out, "Job_ID", job_id);
  append_row(out, "Import_Type", "SLURM_Results");
  append_row(out, "Import_User", user_name);
  append_row(out, "Import_Group", group_name);
  append_row(out, "Workflow_ID", workflow.id.str());
  append_row(out, "Workflow_Name", workflow.name);
  append_row(out, "Workflow_Version", workflow.version.empty() ? "Unknown" : workflow.version);
  append_row(out, "Workflow_Created_On", format_datetime(workflow.created_on));
  append_row(out, "Workflow_Modified_On", format_datetime(workflow.modified_on));
  append_row(out, "Workflow_Task_IDs", joined(workflow.tasks, [](const Task& task) { return task.id.str(); }));
  for (const Task& task : workflow.tasks) {
    const std::string prefix = "Task_" + task.name + "_";
    append_row(out, prefix + "ID", task.id.str());
    append_row(out, prefix + "Name", task.name);
    append_row(out, prefix + "Version", task.version);
    append_row(out, prefix + "Status", task.status);
    append_row(out, prefix + "Input_Data", encode_value(task.input_data));
    append_row(out, prefix + "Job_IDs", joined(task.job_ids, [](const std::string& id) { return id; }));
    for (const auto& [key, value] : task.params) {
      append_row(out, prefix + "Param_" + std::string(key), param_text(value));
    }
  }
  return out;
}

}  // namespace biomero_reactor
