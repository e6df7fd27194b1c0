// The log stream's throttling: a warning repeated in a retry loop (a database down for
// minutes) is written once per window, then once more with how often it was held back.
#include "biomero_reactor/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
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
  BOOST_REQUIRE_EQUAL(lines.size(), 2U);
  BOOST_TEST(lines[1].at("repeated").as_int64() == 4);
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

BOOST_AUTO_TEST_SUITE_END()
