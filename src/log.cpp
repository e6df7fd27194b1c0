#include "biomero_reactor/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/core/null_deleter.hpp>
#include <boost/json/serialize.hpp>
#include <boost/log/core.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/logger.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/smart_ptr/shared_ptr.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace biomero_reactor::log {

namespace bl = boost::log;

namespace {

struct State {
  std::mutex mu;
  Options opts;
  bool json = true;
  bool journald = false;  // stdout is systemd's journal stream: `<N>` priority prefixes
  bool initialised = false;
  std::function<void(const std::string&)> sink;
  struct Seen {
    std::chrono::steady_clock::time_point first;
    std::size_t suppressed = 0;
    Level level = Level::warning;
    std::string msg;
    std::vector<std::pair<std::string, boost::json::value>> fields;
  };
  std::map<std::string, Seen> recent;  // key: level + message + fields
  bl::sources::logger logger;
};

// systemd sets JOURNAL_STREAM=<device>:<inode> of the stream it connected to stdout.
bool stdout_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (stream == nullptr || ::fstat(STDOUT_FILENO, &st) != 0) return false;
  const std::string expected = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  return expected == stream;
}

State& state() {
  static State s;
  return s;
}

const char* name(Level l) {
  switch (l) {
    case Level::trace:
      return "trace";
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "info";
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us % 1000000));
  return buf;
}

// syslog priorities, for journald's `<N>` line prefix.
int priority(Level l) {
  switch (l) {
    case Level::trace:
    case Level::debug:
      return 7;
    case Level::info:
      return 6;
    case Level::warning:
      return 4;
    case Level::error:
      return 3;
  }
  return 6;
}

bool is_reserved(std::string_view key) {
  return key == "ts" || key == "level" || key == "msg" || key == "repeated";
}

// A field may never take the place of the line's own keys: it is renamed field_<key>.
std::string field_key(std::string_view key) {
  return is_reserved(key) ? "field_" + std::string(key) : std::string(key);
}

std::string text_of(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v.get_double());
    return buf;
  }
  return boost::json::serialize(v);
}

template <class FieldRange>
std::string render(bool json, Level level, std::string_view msg, const FieldRange& fields, std::size_t suppressed) {
  if (json) {
    boost::json::object o;
    o["ts"] = timestamp();
    o["level"] = name(level);
    o["msg"] = msg;
    for (const auto& f : fields) o[field_key(f.key)] = f.value;
    if (suppressed > 0) o["repeated"] = suppressed;
    return boost::json::serialize(o);
  }
  std::string line = "ts=" + timestamp() + " level=" + name(level) + " msg=" + logfmt_value(msg);
  for (const auto& f : fields) line += " " + field_key(f.key) + "=" + logfmt_value(text_of(f.value));
  if (suppressed > 0) line += " repeated=" + std::to_string(suppressed);
  return line;
}

void emit(State& s, Level level, const std::string& rendered) {
  const std::string line = s.journald ? "<" + std::to_string(priority(level)) + ">" + rendered : rendered;
  if (s.sink) {
    s.sink(line);
    return;
  }
  bl::record rec = s.logger.open_record();
  if (rec) {
    bl::record_ostream strm(rec);
    strm << line;
    strm.flush();
    s.logger.push_record(std::move(rec));
  }
}

void ensure_init(State& s) {
  if (s.initialised) return;
  s.initialised = true;
  s.json = s.opts.format == Format::json || (s.opts.format == Format::automatic && isatty(STDOUT_FILENO) == 0);
  s.journald = stdout_is_journal();
  using backend_t = bl::sinks::text_ostream_backend;
  auto backend = boost::make_shared<backend_t>();
  backend->add_stream(boost::shared_ptr<std::ostream>(&std::cout, boost::null_deleter()));
  backend->auto_flush(true);
  auto sink = boost::make_shared<bl::sinks::synchronous_sink<backend_t>>(backend);
  bl::core::get()->remove_all_sinks();
  bl::core::get()->add_sink(sink);
}

}  // namespace

Level parse_level(std::string_view s) {
  if (s == "trace") return Level::trace;
  if (s == "debug") return Level::debug;
  if (s == "info") return Level::info;
  if (s == "warning" || s == "warn") return Level::warning;
  if (s == "error") return Level::error;
  throw std::invalid_argument("log level must be trace, debug, info, warning or error, not \"" + std::string(s) + "\"");
}

void init(const Options& o) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.opts = o;
  s.initialised = false;
  ensure_init(s);
}

void capture(std::function<void(const std::string&)> sink) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.sink = std::move(sink);
  s.recent.clear();
}

bool enabled(Level l) {
  return l >= state().opts.level;
}

namespace {

// Summaries for the throttle windows that have ended: the message once more, with how
// often it was held back, even when the condition has stopped.
void flush_ended_windows(State& s, std::chrono::steady_clock::time_point now) {
  for (auto it = s.recent.begin(); it != s.recent.end();) {
    if (now - it->second.first < s.opts.throttle_window) {
      ++it;
      continue;
    }
    const State::Seen& seen = it->second;
    if (seen.suppressed > 0) {
      std::vector<Field> fields;
      for (const auto& [key, value] : seen.fields) fields.emplace_back(key, value);
      emit(s, seen.level, render(s.json, seen.level, seen.msg, fields, seen.suppressed));
    }
    it = s.recent.erase(it);
  }
}

}  // namespace

void flush_throttled() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  ensure_init(s);
  flush_ended_windows(s, std::chrono::steady_clock::now());
}

void write(Level level, std::string_view msg, Fields fields) {
  auto& s = state();
  if (!enabled(level)) return;
  std::lock_guard lock(s.mu);
  ensure_init(s);
  const auto now = std::chrono::steady_clock::now();
  flush_ended_windows(s, now);
  // Only warnings and errors repeat in bulk (retry loops); they are the ones throttled.
  if (level >= Level::warning) {
    std::string key = std::string(name(level)) + '\x1f' + std::string(msg);
    for (const auto& f : fields) key += '\x1f' + std::string(f.key) + '=' + boost::json::serialize(f.value);
    if (auto it = s.recent.find(key); it != s.recent.end()) {
      ++it->second.suppressed;
      return;
    }
    if (s.recent.size() < 1000) {  // beyond that, nothing is held back rather than memory grown
      State::Seen seen{now, 0, level, std::string(msg), {}};
      for (const auto& f : fields) seen.fields.emplace_back(std::string(f.key), f.value);
      s.recent.emplace(std::move(key), std::move(seen));
    }
  }
  emit(s, level, render(s.json, level, msg, fields, 0));
}

std::string logfmt_value(std::string_view value) {
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return c != ' ' && c != '"' && c != '=' && c != '\\' && static_cast<unsigned char>(c) > 0x1f && c != 0x7f;
  });
  if (plain) return std::string(value);
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace biomero_reactor::log
