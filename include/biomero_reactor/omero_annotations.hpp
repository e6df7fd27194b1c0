// The map annotations BIOMERO writes on each imported Image (or Plate) once an import
// is confirmed: one on the workflow (`biomero/workflow`), one per task
// (`biomero/workflow/task/<name>`, the import task under BIOMERO's
// `.../SLURM_Get_Results.py`), one per SLURM job of each task (`<task ns>/job`).
// Keys in BIOMERO's insertion order; every value is what Python's str() makes of the
// stored value, and a list value becomes repeated keys, as ezomero writes them. Pure.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

inline constexpr std::string_view workflow_namespace = "biomero/workflow";
inline constexpr std::string_view untracked_job_namespace = "biomero/workflow/task/job";

using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct MapAnnotation {
  std::string ns;
  KeyValues values;
  friend bool operator==(const MapAnnotation&, const MapAnnotation&) = default;
};

// `biomero/workflow/task/<name>`; SLURM_Import_Results.py answers under
// SLURM_Get_Results.py, where BIOMERO's batch supervisor looks for outputs.
[[nodiscard]] std::string task_namespace(std::string_view task_name);

[[nodiscard]] MapAnnotation workflow_annotation(const Workflow& workflow);
[[nodiscard]] MapAnnotation task_annotation(const Workflow& workflow, const Task& task);
[[nodiscard]] MapAnnotation job_annotation(const Workflow& workflow, const Task& task, std::string_view job_id);
// What BIOMERO writes when workflow tracking is off: only the job id.
[[nodiscard]] MapAnnotation untracked_job_annotation(std::string_view job_id);

// Every annotation in the order BIOMERO posts them: workflow, then per task its own
// and one per job id. `import_task` is the task as it stands while importing (status
// IMPORTING); it replaces the workflow's task of the same id, or is appended. A handoff's
// task (`handed_off`: the handoff script's run, whose import the reactor's task took over)
// is left out, so the images carry one SLURM_Get_Results.py set, as after BIOMERO's import.
[[nodiscard]] std::vector<MapAnnotation> workflow_annotations(const Workflow& workflow, const Task& import_task,
                                                              const std::optional<Uuid>& handed_off = std::nullopt);

// Python's str() and repr() of a JSON-decoded value: None, True/False, ints, floats by
// repr's rules, strings (str: as is; repr: quoted and escaped), lists and dicts.
[[nodiscard]] std::string python_str(const boost::json::value& value);
[[nodiscard]] std::string python_repr(const boost::json::value& value);
// datetime.isoformat() of an aware UTC time: the fraction only when non-zero.
[[nodiscard]] std::string python_isoformat(TimePoint at);

}  // namespace biomero_reactor
