// The one codec for BIOMERO's stored events (the `state` bytea column of
// workflowtracker_events). BIOMERO's Python `eventsourcing` writes compact
// UTF-8 JSON (json.dumps with separators (',', ':') and ensure_ascii=False)
// in which UUIDs, datetimes and decimals are two-key objects
// {"_type_": "uuid_hex" | "datetime_iso" | "decimal_str", "_data_": "..."}.
// Decoding keeps those objects in the tree (after checking them); encoding
// reproduces Python's bytes exactly, so rows the reactor appends cannot be
// told apart from rows BIOMERO writes.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor {

// A stored event's state (or a value in it) is not what BIOMERO writes.
struct CodecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using TimePoint = std::chrono::sys_time<std::chrono::microseconds>;

// Caps on one event's state, checked before and while it is parsed: an event over either
// is a CodecError saying which (the intake skips the workflow with that reason).
// BIOMERO's events are a few KiB and nest a handful of levels; a hostile one of a few MB
// nested deeply must cost time and memory linear in its size, never more.
inline constexpr std::size_t max_state_bytes = std::size_t{8} << 20;
inline constexpr std::size_t max_state_depth = 256;

// Parses the state; throws CodecError for anything that is not a JSON object
// (zlib-compressed or encrypted state included) or holds a malformed typed
// value (bad uuid_hex, bad datetime_iso, non-string decimal_str).
// Limits inherited from Boost.JSON: NaN/Infinity literals are rejected as
// not JSON, and integers beyond 64 bits become doubles.
[[nodiscard]] boost::json::object decode_state(std::string_view bytes);

// Byte-identical to Python's json.dumps(obj, separators=(',', ':'),
// ensure_ascii=False): key order kept, raw UTF-8, floats as repr(float).
[[nodiscard]] std::string encode_state(const boost::json::object& state);
[[nodiscard]] std::string encode_value(const boost::json::value& value);
// encode_value cut to about max_bytes (on a character boundary, "..." appended): for
// error messages, which must stay short whatever the event holds.
[[nodiscard]] std::string encode_excerpt(const boost::json::value& value, std::size_t max_bytes = 200);

[[nodiscard]] boost::json::value typed_uuid(const Uuid& id);
[[nodiscard]] boost::json::value typed_datetime(TimePoint at);

// The field as a typed value: nullopt when absent or null, CodecError when
// present but not a typed value of that kind.
[[nodiscard]] std::optional<Uuid> get_uuid(const boost::json::object& state, std::string_view key);
[[nodiscard]] std::optional<TimePoint> get_datetime(const boost::json::object& state, std::string_view key);

// "2026-11-29T21:37:03.549420+00:00": always six fraction digits, always UTC.
[[nodiscard]] std::string format_datetime(TimePoint at);
// What Python's isoformat() writes: YYYY-MM-DDTHH:MM:SS, an optional fraction
// of 1 to 6 digits (isoformat drops it when microseconds are 0), then "Z" or
// a ±HH:MM offset. Naive times (no offset) are nullopt: their instant is unknown.
[[nodiscard]] std::optional<TimePoint> parse_datetime(std::string_view text);

[[nodiscard]] TimePoint now_us();

// One row of workflowtracker_events.
struct StoredEvent {
  std::int64_t id = 0;
  Uuid originator_id;
  std::int64_t originator_version = 0;
  std::string topic;
  std::string state;
};

inline constexpr std::string_view topic_prefix = "biomero.eventsourcing:";

namespace topics {
// Aggregate topics, carried as `originator_topic` by the Created events.
inline constexpr std::string_view workflow_run = "biomero.eventsourcing:WorkflowRun";
inline constexpr std::string_view task = "biomero.eventsourcing:Task";

inline constexpr std::string_view workflow_initiated = "biomero.eventsourcing:WorkflowRun.WorkflowInitiated";
inline constexpr std::string_view task_added = "biomero.eventsourcing:WorkflowRun.TaskAdded";
inline constexpr std::string_view workflow_started = "biomero.eventsourcing:WorkflowRun.WorkflowStarted";
inline constexpr std::string_view workflow_completed = "biomero.eventsourcing:WorkflowRun.WorkflowCompleted";
inline constexpr std::string_view workflow_failed = "biomero.eventsourcing:WorkflowRun.WorkflowFailed";

inline constexpr std::string_view task_created = "biomero.eventsourcing:Task.TaskCreated";
inline constexpr std::string_view job_id_added = "biomero.eventsourcing:Task.JobIdAdded";
inline constexpr std::string_view status_updated = "biomero.eventsourcing:Task.StatusUpdated";
inline constexpr std::string_view progress_updated = "biomero.eventsourcing:Task.ProgressUpdated";
inline constexpr std::string_view result_added = "biomero.eventsourcing:Task.ResultAdded";
inline constexpr std::string_view task_started = "biomero.eventsourcing:Task.TaskStarted";
inline constexpr std::string_view task_completed = "biomero.eventsourcing:Task.TaskCompleted";
inline constexpr std::string_view task_failed = "biomero.eventsourcing:Task.TaskFailed";
}  // namespace topics

}  // namespace biomero_reactor
