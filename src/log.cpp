#include "biomero_reactor/log.hpp"

#include <unistd.h>

#include <boost/core/null_deleter.hpp>
#include <boost/json/serialize.hpp>
#include <boost/log/core.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/logger.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/smart_ptr/shared_ptr.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>

namespace biomero_reactor::log {

namespace bl = boost::log;

namespace {

struct State {
  std::mutex mu;
  Options opts;
  bool json = true;
  bool initialised = false;
  std::function<void(const std::string&)> sink;
  struct Seen {
    std::chrono::steady_clock::time_point first;
    std::size_t suppressed = 0;
  };
  std::map<std::string, Seen> recent;  // key: level + message + fields
  bl::sources::logger logger;
};

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

std::string render(bool json, Level level, std::string_view msg, Fields fields, std::size_t suppressed) {
  if (json) {
    boost::json::object o;
    o["ts"] = timestamp();
    o["level"] = name(level);
    o["msg"] = msg;
    for (const auto& f : fields) o[f.key] = f.value;
    if (suppressed > 0) o["repeated"] = suppressed;
    return boost::json::serialize(o);
  }
  std::string line = timestamp() + " " + name(level) + " " + std::string(msg);
  for (const auto& f : fields) {
    line += " " + std::string(f.key) + "=";
    if (f.value.is_string()) {
      line += std::string(f.value.get_string());
    } else if (f.value.is_double()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", f.value.get_double());
      line += buf;
    } else {
      line += boost::json::serialize(f.value);
    }
  }
  if (suppressed > 0) line += " (repeated " + std::to_string(suppressed) + " more times)";
  return line;
}

void emit(State& s, const std::string& line) {
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

void write(Level level, std::string_view msg, Fields fields) {
  auto& s = state();
  if (!enabled(level)) return;
  std::lock_guard lock(s.mu);
  ensure_init(s);
  const auto now = std::chrono::steady_clock::now();
  // Only warnings and errors repeat in bulk (retry loops); they are the ones throttled.
  if (level >= Level::warning) {
    std::string key = std::string(name(level)) + '\x1f' + std::string(msg);
    for (const auto& f : fields) key += '\x1f' + std::string(f.key) + '=' + boost::json::serialize(f.value);
    auto [it, fresh] = s.recent.try_emplace(key, State::Seen{now, 0});
    if (!fresh) {
      if (now - it->second.first < s.opts.throttle_window) {
        ++it->second.suppressed;
        return;
      }
      const std::size_t suppressed = it->second.suppressed;
      it->second = State::Seen{now, 0};
      emit(s, render(s.json, level, msg, fields, suppressed));
      return;
    }
    if (s.recent.size() > 1000) s.recent.clear();
  }
  emit(s, render(s.json, level, msg, fields, 0));
}

}  // namespace biomero_reactor::log
