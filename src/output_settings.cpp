#include "biomero_reactor/output_settings.hpp"

#include <array>
#include <string_view>

#include "biomero_reactor/destination.hpp"
#include "biomero_reactor/rename_pattern.hpp"

namespace biomero_reactor {

namespace {

constexpr std::string_view new_dataset = "Output - Add as new images in NEW dataset";
constexpr std::string_view new_screen = "Output - Add as new images in NEW screen";
constexpr std::string_view dataset_name = "New Dataset";
constexpr std::string_view screen_name = "New Screen";
constexpr std::string_view dataset_duplicate = "Allow duplicate?";
constexpr std::string_view screen_duplicate = "Allow duplicate screen name?";
constexpr std::string_view rename_files = "Rename imported files?";
constexpr std::string_view rename_name = "Rename";
constexpr std::array known_keys{new_dataset,
                                new_screen,
                                dataset_name,
                                screen_name,
                                dataset_duplicate,
                                screen_duplicate,
                                rename_files,
                                std::string_view("Dataset_ID"),
                                std::string_view("Screen_ID")};

// A BIOMERO boolean: JSON true/false, or its text as unwrapped script inputs may carry it.
std::optional<bool> flag(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_bool()) return v->get_bool();
  if (v->is_string()) {
    const std::string_view s = v->get_string();
    if (s == "true" || s == "True") return true;
    if (s == "false" || s == "False") return false;
  }
  return std::nullopt;
}

std::optional<std::string> text(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string() || v->get_string().empty()) return std::nullopt;
  return std::string(v->get_string());
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const OutputSettings& s) {
  return os << s.type << " " << (s.id ? "id " + *s.id : "named \"" + s.name + "\"")
            << (s.allow_duplicate ? " (duplicates allowed)" : "")
            << (s.rename_pattern ? ", files renamed \"" + *s.rename_pattern + "\"" : "");
}

std::optional<OutputSettings> output_settings_from(const boost::json::object& inputs) {
  if (const auto* nested = inputs.if_contains("output_settings"); nested != nullptr && nested->is_object()) {
    if (auto found = output_settings_from(nested->get_object())) return found;
  }
  bool any = false;
  for (const auto key : known_keys) any = any || inputs.contains(key);
  if (!any) return std::nullopt;
  OutputSettings s;
  const bool screen = flag(inputs, new_screen).value_or(false) && !flag(inputs, new_dataset).value_or(false);
  if (screen) {
    s.type = "Screen";
    s.id = id_param(inputs, "Screen_ID");
    s.name = text(inputs, screen_name).value_or(std::string(default_container_name));
    s.allow_duplicate = flag(inputs, screen_duplicate).value_or(false);
  } else {
    s.id = id_param(inputs, "Dataset_ID");
    s.name = text(inputs, dataset_name).value_or(std::string(default_container_name));
    s.allow_duplicate = flag(inputs, dataset_duplicate).value_or(false);
    if (flag(inputs, rename_files).value_or(false)) {
      // An empty pattern is the user's too (every name then fails the checks and is kept).
      const auto* typed = inputs.if_contains(rename_name);
      s.rename_pattern = typed != nullptr && typed->is_string() ? std::string(typed->get_string())
                                                                : std::string(default_rename_pattern);
    }
  }
  return s;
}

OutputSettings output_settings_of(const Workflow& wf, const std::optional<Uuid>& analysis_task_id) {
  for (const auto& t : wf.tasks) {
    if (analysis_task_id && t.id == *analysis_task_id) {
      if (auto s = output_settings_from(t.params)) return *s;
    }
  }
  for (const auto& t : wf.tasks) {
    if (auto s = output_settings_from(t.params)) return *s;
  }
  return {};
}

}  // namespace biomero_reactor
