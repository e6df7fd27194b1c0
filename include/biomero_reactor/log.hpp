#pragma once
// The daemon's log stream: one JSON object per line on stdout with ts, level,
// msg and the ids that apply (workflow_id, job_id, order_uuid, stage, duration_s), or a
// logfmt line (ts=… level=… msg="…" key=value, quoted and escaped where needed) on a
// terminal or with --log-format text. A field named ts, level, msg or repeated is written
// as field_<name>: it never replaces the line's own. When stdout is systemd's journal
// (JOURNAL_STREAM), each line starts with its syslog priority (<3> error, <4> warning,
// <6> info, <7> debug), so `journalctl -p warning` works. Written through Boost.Log.
// Identical warnings and errors repeated within a window (a database down for minutes)
// are throttled: the first is written, the rest are counted, and when the window ends a
// summary line (the message with repeated=N) is written, even if the condition stopped.
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace biomero_reactor::log {

enum class Level { trace, debug, info, warning, error };
enum class Format { automatic, json, text };

struct Options {
  Level level = Level::info;
  Format format = Format::automatic;
  std::chrono::milliseconds throttle_window{30000};
};

// Parses "trace".."error"; throws std::invalid_argument otherwise.
Level parse_level(std::string_view);
void init(const Options&);
// For tests: send lines to a callback instead of stdout.
void capture(std::function<void(const std::string&)> sink);
[[nodiscard]] bool enabled(Level);
// Writes the summaries of throttle windows that have ended; the daemon calls it every
// second, so a summary never waits for the next log line.
void flush_throttled();
// `value` as a logfmt value: as it is when it has no space, quote, '=', backslash or
// control character (and is not empty); otherwise in double quotes with \" \\ \n \r \t
// and \u00XX escapes.
[[nodiscard]] std::string logfmt_value(std::string_view value);

// A key and a value for the log line; accepts strings, numbers, booleans and JSON values.
struct Field {
  Field(std::string_view k, boost::json::value v) : key(k), value(std::move(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(boost::json::string_view(v)) {}
  Field(std::string_view k, std::string_view v) : key(k), value(boost::json::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(boost::json::string_view(v)) {}
  std::string_view key;
  boost::json::value value;
};
using Fields = std::initializer_list<Field>;

void write(Level, std::string_view msg, Fields fields = {});
inline void trace(std::string_view m, Fields f = {}) {
  write(Level::trace, m, f);
}
inline void debug(std::string_view m, Fields f = {}) {
  write(Level::debug, m, f);
}
inline void info(std::string_view m, Fields f = {}) {
  write(Level::info, m, f);
}
inline void warn(std::string_view m, Fields f = {}) {
  write(Level::warning, m, f);
}
inline void error(std::string_view m, Fields f = {}) {
  write(Level::error, m, f);
}

}  // namespace biomero_reactor::log
