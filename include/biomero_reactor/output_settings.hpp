#pragma once
// Where a workflow's user asked for its results, in the words of BIOMERO's import script
// parameters: "Output - Add as new images in NEW dataset" (the default) or "... NEW
// screen", the container's name ("New Dataset" / "New Screen", "Imported_Results" unless
// typed), "Allow duplicate?" / "Allow duplicate screen name?", an explicit
// Dataset_ID / Screen_ID that wins over the name, and "Rename imported files?". Pure: the inputs come from a handoff
// manifest, or from a task's params (directly or under "output_settings", as BIOMERO's
// detached poller stores them).
#include <boost/json/object.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "biomero_reactor/uuid.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

inline constexpr std::string_view default_container_name = "Imported_Results";

struct OutputSettings {
  std::string type = "Dataset";   // "Dataset" or "Screen"
  std::optional<std::string> id;  // explicit Dataset_ID / Screen_ID (decimal)
  std::string name = std::string(default_container_name);
  bool allow_duplicate = false;
  // "Rename imported files?" with its "Rename" pattern (BIOMERO's default when the box is
  // ticked without one); Datasets only, as the script renames. See rename_pattern.hpp.
  std::optional<std::string> rename_pattern{};
  bool operator==(const OutputSettings&) const = default;
};
std::ostream& operator<<(std::ostream& os, const OutputSettings& s);

// nullopt when `inputs` holds none of the keys above (nor an "output_settings" object
// that does). A Dataset choice wins over a Screen one, as in BIOMERO.
[[nodiscard]] std::optional<OutputSettings> output_settings_from(const boost::json::object& inputs);

// The analysis task's settings, else the first task's that has any, else the defaults.
[[nodiscard]] OutputSettings output_settings_of(const Workflow& wf, const std::optional<Uuid>& analysis_task_id);

}  // namespace biomero_reactor
