// A BIOMERO workflow as the reactor needs it: the WorkflowRun aggregate and
// its tasks, folded from their stored events. Pure: the caller reads the rows.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor {

struct Task {
  Uuid id;
  std::string name;     // TaskCreated.task_name
  std::string version;  // TaskCreated.task_version
  boost::json::object params;
  boost::json::value input_data;
  std::string status;                       // the last StatusUpdated, "" before any
  std::vector<std::string> job_ids;         // JobIdAdded, in order: one SLURM job each
  std::vector<boost::json::value> results;  // ResultAdded.result, in order ({command, env, stdout, stderr})
  boost::json::value result_message;        // TaskCompleted.result; null (Python's None) before it
  bool started = false;
  bool completed = false;
  bool failed = false;
  std::string error;  // TaskFailed.error_message
  // A StatusUpdated HANDED_OFF, or a TaskCompleted result starting with the handoff
  // marker: BIOMERO's handoff import script gave the results to the reactor's spool.
  bool handed_off = false;
  TimePoint created_on{};
  TimePoint modified_on{};        // timestamp of the task's last event
  std::int64_t next_version = 0;  // version the next appended Task event takes
};

struct Workflow {
  Uuid id;
  std::int64_t user_id = 0;  // OMERO ids, as WorkflowInitiated carries them
  std::int64_t group_id = 0;
  std::string name;
  std::string description;
  std::string version;      // workflow_version_of(description)
  TimePoint created_on{};   // WorkflowInitiated timestamp
  TimePoint modified_on{};  // timestamp of the workflow's last event
  std::vector<Task> tasks;  // in TaskAdded order
  bool completed = false;
  bool failed = false;
  std::string error;               // WorkflowFailed.error_message
  std::int64_t version_count = 0;  // workflow events = version the next one takes
};

// Every string taken from an event is bounded before it is kept, so no later step (the
// version scan, the metadata CSV, a log line, a database row) sees unbounded text:
// - identifiers (SLURM job id) and names (workflow name, task name, task version, task
//   status): at most the cap below, no control character (U+0000..U+001F, U+007F and
//   U+0080..U+009F: a NUL would be cut off where the text is stored, a newline would
//   forge CSV rows or log lines); an event breaking either rule is a CodecError, so the
//   workflow is skipped with that reason before anything is stored;
// - free text (workflow description, error messages): cut at max_free_text_bytes (on a
//   UTF-8 character boundary) with " [truncated]" appended; control characters other than
//   tab, newline and carriage return become U+FFFD. Never a reason to refuse an event.
inline constexpr std::size_t max_job_id_bytes = 128;       // as is_safe_component allows
inline constexpr std::size_t max_name_bytes = 1024;        // names, versions, statuses
inline constexpr std::size_t max_free_text_bytes = 65536;  // description, error messages

// True when `text` holds a control character: C0 (U+0000..U+001F), DEL, or C1
// (U+0080..U+009F, UTF-8 C2 80..C2 9F). For ids and names of any origin (event, config,
// group mappings) before they are stored or become part of a path.
[[nodiscard]] bool has_control_character(std::string_view text) noexcept;

// `events` holds the workflow's events and those of its tasks, in any order;
// events of other aggregates are ignored. Throws CodecError naming the event
// when WorkflowInitiated is missing, an aggregate's versions are not 0..n-1,
// an added task has no events, or a state is not what BIOMERO writes.
// Non-string text fields (BIOMERO's conversion workflows store description
// -1) read as their compact JSON; null reads as "".
[[nodiscard]] Workflow decode_workflow(const Uuid& workflow_id, const std::vector<StoredEvent>& events);

// A hand-written linear scan (no regex: the description is untrusted text, and a
// backtracking regex is exponential in time and recursive in stack on a digit run).
// The first \d+\.\d+\.\d+ in the description, as BIOMERO's scripts take it;
// failing that, the first dotted number \d+(\.\d+)+ ("Run cellexpansion v1.0"
// gives "1.0"), so short versions are not lost; otherwise "". A bare integer
// is not taken: in a description it is more often a count than a version.
[[nodiscard]] std::string workflow_version_of(std::string_view description);

}  // namespace biomero_reactor
