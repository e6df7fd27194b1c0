// The log stream's throttling: a warning repeated in a retry loop (a database down for
// minutes) is written once per window, then once more with how often it was held back.
#include "biomero_reactor/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace biomero_reactor;
using namespace std::chrono_literals;

namespace {

struct Captured {
  std::vector<boost::json::object> lines;
  Captured() {
    log::Options o;
    o.format = log::Format::json;
    o.throttle_window = 300ms;
    log::init(o);
    log::capture([this](const std::string& line) { lines.push_back(boost::json::parse(line).as_object()); });
  }
  ~Captured() {
    log::capture(nullptr);
    log::init(log::Options{});
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(log_test)

BOOST_FIXTURE_TEST_CASE(a_repeated_error_is_written_once_then_summarised_after_the_window, Captured) {
  for (int i = 0; i < 5; ++i) log::error("reading the event store failed; retrying", {{"error", "connection refused"}});
  BOOST_REQUIRE_EQUAL(lines.size(), 1U);
  BOOST_TEST(lines[0].at("level").as_string() == "error");
  BOOST_TEST(lines[0].at("error").as_string() == "connection refused");
  BOOST_TEST(!lines[0].contains("repeated"));

  std::this_thread::sleep_for(350ms);
  log::error("reading the event store failed; retrying", {{"error", "connection refused"}});
  // The window's summary first, then the new occurrence opens a new window.
  BOOST_REQUIRE_EQUAL(lines.size(), 3U);
  BOOST_TEST(lines[1].at("repeated").as_int64() == 4);
  BOOST_TEST(lines[1].at("error").as_string() == "connection refused");
  BOOST_TEST(!lines[2].contains("repeated"));
}

BOOST_FIXTURE_TEST_CASE(the_summary_is_written_when_the_window_ends_even_if_the_condition_stopped, Captured) {
  for (int i = 0; i < 3; ++i) log::warn("importer database unreachable", {{"database", "importer"}});
  BOOST_REQUIRE_EQUAL(lines.size(), 1U);
  log::flush_throttled();  // window still open: nothing yet
  BOOST_REQUIRE_EQUAL(lines.size(), 1U);
  std::this_thread::sleep_for(350ms);
  log::flush_throttled();  // what the daemon does every second
  BOOST_REQUIRE_EQUAL(lines.size(), 2U);
  BOOST_TEST(lines[1].at("msg").as_string() == "importer database unreachable");
  BOOST_TEST(lines[1].at("repeated").as_int64() == 2);
  BOOST_TEST(lines[1].at("level").as_string() == "warning");
  log::flush_throttled();  // once only
  BOOST_TEST(lines.size() == 2U);
}

BOOST_FIXTURE_TEST_CASE(a_field_never_replaces_the_lines_own_keys, Captured) {
  log::info("job imported", {{"msg", "forged"}, {"level", "debug"}, {"ts", "1970"}, {"job_id", "7"}});
  BOOST_REQUIRE_EQUAL(lines.size(), 1U);
  BOOST_TEST(lines[0].at("msg").as_string() == "job imported");
  BOOST_TEST(lines[0].at("level").as_string() == "info");
  BOOST_TEST(lines[0].at("ts").as_string() != "1970");
  BOOST_TEST(lines[0].at("field_msg").as_string() == "forged");
  BOOST_TEST(lines[0].at("field_level").as_string() == "debug");
  BOOST_TEST(lines[0].at("field_ts").as_string() == "1970");
}

BOOST_FIXTURE_TEST_CASE(the_same_message_with_other_fields_is_not_held_back, Captured) {
  log::warn("LISTEN session lost; polling until it is back", {{"database", "events"}});
  log::warn("LISTEN session lost; polling until it is back", {{"database", "importer"}});
  log::warn("LISTEN session lost; polling until it is back", {{"database", "events"}});
  BOOST_REQUIRE_EQUAL(lines.size(), 2U);
  BOOST_TEST(lines[0].at("database").as_string() == "events");
  BOOST_TEST(lines[1].at("database").as_string() == "importer");
}

BOOST_FIXTURE_TEST_CASE(job_state_changes_at_info_are_never_throttled, Captured) {
  for (int i = 0; i < 3; ++i)
    log::info("job imported", {{"workflow_id", "w"}, {"job_id", "1234"}, {"duration_s", 0.5}});
  BOOST_REQUIRE_EQUAL(lines.size(), 3U);
  BOOST_TEST(lines[2].at("job_id").as_string() == "1234");
  BOOST_TEST(lines[2].at("duration_s").as_double() == 0.5);
}

// The logfmt grammar (as go-logfmt and Grafana Loki's parser read it): pairs separated
// by spaces; key = run of characters other than space, '=' and '"'; value either bare
// (no space, no quote) or double-quoted with backslash escapes. Returns nullopt for a line
// that does not follow it.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_logfmt(std::string_view line) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    const std::size_t key_at = i;
    while (i < line.size() && line[i] != '=' && line[i] != ' ' && line[i] != '"') ++i;
    if (i == key_at || i == line.size() || line[i] != '=') return std::nullopt;
    std::string key(line.substr(key_at, i - key_at));
    ++i;
    std::string value;
    if (i < line.size() && line[i] == '"') {
      for (++i;; ++i) {
        if (i >= line.size()) return std::nullopt;
        if (line[i] == '"') break;
        if (static_cast<unsigned char>(line[i]) < 0x20) return std::nullopt;
        if (line[i] != '\\') {
          value += line[i];
          continue;
        }
        if (++i >= line.size()) return std::nullopt;
        switch (line[i]) {
          case 'n':
            value += '\n';
            break;
          case 'r':
            value += '\r';
            break;
          case 't':
            value += '\t';
            break;
          case 'u':
            value += static_cast<char>(std::stoi(std::string(line.substr(i + 1, 4)), nullptr, 16));
            i += 4;
            break;
          default:
            value += line[i];
        }
      }
      ++i;
      if (i < line.size() && line[i] != ' ') return std::nullopt;
    } else {
      while (i < line.size() && line[i] != ' ') {
        if (line[i] == '"' || line[i] == '=') return std::nullopt;
        value += line[i++];
      }
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

struct CapturedText {
  std::vector<std::string> lines;
  CapturedText() {
    log::Options o;
    o.format = log::Format::text;
    log::init(o);
    log::capture([this](const std::string& line) { lines.push_back(line); });
  }
  ~CapturedText() {
    log::capture(nullptr);
    log::init(log::Options{});
  }
};

BOOST_FIXTURE_TEST_CASE(text_lines_are_logfmt_that_a_parser_splits_back_into_the_same_values, CapturedText) {
  const std::vector<std::string> values{"plain",
                                        "two words",
                                        "say \"hi\"",
                                        "a=b",
                                        "back\\slash",
                                        "line\nbreak\ttab\rcr",
                                        "",
                                        std::string("nul\0bell\x07", 9),
                                        "Zellkern_5\xc2\xb5m.tiff"};
  for (const auto& v : values) log::info("value \"test\" = x", {{"detail", v}, {"job_id", "1234"}, {"n", 3}});
  BOOST_REQUIRE_EQUAL(lines.size(), values.size());
  for (std::size_t k = 0; k < values.size(); ++k) {
    BOOST_TEST_CONTEXT("line " << lines[k]) {
      const auto pairs = parse_logfmt(lines[k]);
      BOOST_REQUIRE(pairs.has_value());
      BOOST_REQUIRE_EQUAL(pairs->size(), 6U);
      BOOST_TEST((*pairs)[0].first == "ts");
      BOOST_TEST((*pairs)[1].first == "level");
      BOOST_TEST((*pairs)[1].second == "info");
      BOOST_TEST((*pairs)[2].first == "msg");
      BOOST_TEST((*pairs)[2].second == "value \"test\" = x");
      BOOST_TEST((*pairs)[3].first == "detail");
      BOOST_TEST((*pairs)[3].second == values[k]);
      BOOST_TEST((*pairs)[4].second == "1234");
      BOOST_TEST((*pairs)[5].second == "3");
      BOOST_TEST(lines[k].find('\n') == std::string::npos);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(under_systemd_each_line_starts_with_its_syslog_priority, CapturedText) {
  struct stat st {};
  BOOST_REQUIRE(::fstat(STDOUT_FILENO, &st) == 0);
  const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
  log::Options o;
  o.format = log::Format::text;
  o.level = log::Level::debug;
  log::init(o);
  log::error("job failed");
  log::warn("job step failed; will retry");
  log::info("job imported");
  log::debug("claimed");
  ::setenv("JOURNAL_STREAM", "0:0", 1);  // another stream: not the journal
  log::init(o);
  log::info("job imported");
  ::unsetenv("JOURNAL_STREAM");
  BOOST_REQUIRE_EQUAL(lines.size(), 5U);
  BOOST_TEST(lines[0].substr(0, 6) == "<3>ts=");
  BOOST_TEST(lines[1].substr(0, 6) == "<4>ts=");
  BOOST_TEST(lines[2].substr(0, 6) == "<6>ts=");
  BOOST_TEST(lines[3].substr(0, 6) == "<7>ts=");
  BOOST_TEST(lines[4].substr(0, 3) == "ts=");
}

BOOST_AUTO_TEST_SUITE_END()
