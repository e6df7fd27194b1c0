#pragma once
// A handoff's manifest (spool/ready/<handoff id>/manifest.json, schema
// biomero-reactor/handoff-manifest@1, written by deploy/biomero/biomero_reactor_handoff.py)
// and the decisions taken on it. Everything here is pure: the spool scan (handoff_intake)
// reads the files and calls these.
//
// The manifest is untrusted input (written by another program, on a shared volume), so
// parse_manifest checks every field the reactor uses and refuses the whole manifest on
// the first fault, naming the field: the schema tag; handoff_id a UUID equal to the
// directory's name; workflow.id a UUID, workflow.task_id null or a UUID; slurm.job_id
// digits only; omero ids positive integers and names non-empty, bounded, without control
// characters; file names one safe path component (no '/', no leading '.'), distinct and
// none of the reactor's own names; sizes non-negative integers; sha256 64 hex digits.
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "biomero_reactor/uuid.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

inline constexpr std::string_view manifest_schema = "biomero-reactor/handoff-manifest@1";
inline constexpr std::string_view handoff_result_schema = "biomero-reactor/handoff-result@1";
inline constexpr std::string_view handoff_marker = "BIOMERO-REACTOR-HANDOFF/1 ";
inline constexpr std::size_t max_manifest_bytes = 1 << 20;

struct ManifestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HandoffFile {
  std::string name;  // in ready/<id>/
  std::uint64_t bytes = 0;
  std::string sha256;  // lowercase hex
};

struct HandoffManifest {
  Uuid handoff_id;
  Uuid workflow_id;
  std::optional<Uuid> task_id;  // the handoff (import) task in BIOMERO's event store
  std::string job_id;           // SLURM job id: digits
  std::int64_t user_id = 0, group_id = 0;
  std::string user_name, group_name;
  HandoffFile zip;
  std::optional<HandoffFile> log;
  boost::json::object inputs;  // the script's inputs, verbatim
};

// Throws ManifestError naming the first field that is wrong. `dir_name` is the name of
// the ready/ entry the manifest was found in.
[[nodiscard]] HandoffManifest parse_manifest(std::string_view json_text, std::string_view dir_name);

// What the pipeline needs of a workflow, for a standalone handoff whose workflow is not in
// BIOMERO's event store: the workflow id, the OMERO user and group ids, and a name and
// description saying where it came from; no tasks (with_handoff_inputs adds the inputs).
[[nodiscard]] Workflow workflow_from_manifest(const HandoffManifest& m);

// A ready/ entry's name is a handoff only when it is a canonical lowercase UUID.
[[nodiscard]] bool is_handoff_dir_name(std::string_view name);

// Output options of BIOMERO's import script that the reactor does not carry out (OMERO
// tables, attachments, ROIs, ...): one sentence per option the user chose, in the
// script's declaration order. Empty when every chosen option is honoured.
[[nodiscard]] std::vector<std::string> unhonoured_options(const boost::json::object& inputs, bool omero_connected);

// result.json for wait mode and operators.
[[nodiscard]] std::string handoff_result_json(const Uuid& handoff_id, const Uuid& reactor_task_id, bool imported,
                                              std::string_view message, std::string_view finished_at);

// What the finisher does with a handoff whose job has ended (or not).
enum class HandoffCleanup {
  wait,               // job not terminal yet
  write_result,       // terminal, result.json not written yet
  keep_result,        // result.json younger than the keep time: wait mode may still read it
  remove,             // remove ready/<id> (its files are in the job directory)
  keep_for_operator,  // the import failed before the results were archived: keep them
};
[[nodiscard]] HandoffCleanup handoff_cleanup(bool job_terminal, bool result_written, double result_age_s, double keep_s,
                                             bool archived);

// The verdict event on the workflow once the reactor's import task has ended and the
// workflow has a terminal event T (last WorkflowCompleted/WorkflowFailed not written by
// the reactor): nothing, WorkflowCompleted, or WorkflowFailed with a message.
struct Verdict {
  enum Kind { none, completed, failed } kind = none;
  std::string error_message;
};
[[nodiscard]] Verdict handoff_verdict(bool imported, std::string_view import_failure, bool t_completed,
                                      std::string_view t_error, bool t_before_import_end);

}  // namespace biomero_reactor
