// Events as a careless or hostile writer of the event store could leave them: free text
// that defeats a backtracking regex, deep or wide JSON, huge strings, control characters
// in ids. Each must be decoded or refused in bounded time, stack and memory, and no id
// with a control character may get past the decoder. Heavy inputs run in a forked child
// (child_probe.hpp), so a crash or a blow-up fails the test instead of the runner.
// Time is checked against a bound far above what the code takes (well under a second
// here) and far below what the faults took (minutes): a loaded CI machine must not fail
// it, a backtracking scan or a quadratic decode must. The numbers are printed.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/workflow.hpp"
#include "child_probe.hpp"

using namespace biomero_reactor;
using namespace std::chrono;
using biomero_reactor::test::probe_in_child;

namespace {

const Uuid workflow_id = *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");
const Uuid task_id = *Uuid::parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
const TimePoint t0 = sys_days(2026y / 11 / 29) + 21h;

StoredEvent event(const Uuid& aggregate, std::int64_t version, std::string_view topic, boost::json::object state) {
  static std::int64_t next_id = 5000;
  state.emplace("timestamp", typed_datetime(t0 + seconds(version)));
  return {next_id++, aggregate, version, std::string(topic), encode_state(state)};
}

struct Texts {
  std::string name = "cellexpansion";
  std::string description = "Run cellexpansion 1.0.1";
  std::string task_name = "cellexpansion";
  boost::json::value job_id = "1234";
  std::string error = "Out of memory";
};

std::vector<StoredEvent> workflow_events(const Texts& t) {
  return {
      event(workflow_id, 0, topics::workflow_initiated,
            {{"name", t.name}, {"description", t.description}, {"user", 2}, {"group", 3}}),
      event(task_id, 0, topics::task_created,
            {{"task_name", t.task_name}, {"task_version", "1.0"}, {"input_data", nullptr}, {"params", nullptr}}),
      event(workflow_id, 1, topics::task_added, {{"task_id", typed_uuid(task_id)}}),
      event(task_id, 1, topics::job_id_added, {{"job_id", t.job_id}}),
      event(task_id, 2, topics::task_failed, {{"error_message", t.error}}),
      event(workflow_id, 2, topics::workflow_completed, {}),
  };
}

std::string rejection(const std::vector<StoredEvent>& events) {
  try {
    (void)decode_workflow(workflow_id, events);
  } catch (const CodecError& error) {
    return error.what();
  }
  return "(accepted)";
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// What the reactor used to run on descriptions: here only on short, generated text.
std::string version_by_regex(const std::string& description) {
  static const std::regex three_part(R"(\d+\.\d+\.\d+)");
  static const std::regex dotted(R"(\d+(\.\d+)+)");
  std::smatch match;
  for (const std::regex* pattern : {&three_part, &dotted}) {
    if (std::regex_search(description, match, *pattern)) return match.str();
  }
  return "";
}

}  // namespace

// Minutes for the faults, a fraction of a second for the fixed code.
constexpr double slow_bound_s = 20.0;

BOOST_AUTO_TEST_SUITE(hostile_event_test)

BOOST_AUTO_TEST_CASE(a_ten_megabyte_digit_run_in_a_description_is_scanned_fast_without_a_crash) {
  const auto probe = probe_in_child([] {
    const std::string digits(10 << 20, '7');
    std::string found = workflow_version_of(digits);
    found += "|" + std::to_string(workflow_version_of(digits + ".1").size()) + "|";
    found += std::to_string(workflow_version_of(digits + ".1.2").size()) + "|";
    found += workflow_version_of(digits + " v1.2.3");
    return found;
  });
  BOOST_TEST(!probe.signal.has_value());
  BOOST_TEST(probe.result == "|" + std::to_string((10 << 20) + 2) + "|" + std::to_string((10 << 20) + 4) + "|1.2.3",
             probe.result.substr(0, 100));
  BOOST_TEST_MESSAGE("seconds: " << probe.seconds);
  BOOST_TEST(probe.seconds < slow_bound_s);
}

BOOST_AUTO_TEST_CASE(the_version_scan_finds_what_the_regex_found) {
  std::mt19937 rng(1313);
  const std::string alphabet = "0129..a v";
  for (int i = 0; i < 20000; ++i) {
    std::string text(rng() % 24, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    BOOST_TEST_REQUIRE(workflow_version_of(text) == version_by_regex(text), "\"" << text << "\"");
  }
}

BOOST_AUTO_TEST_CASE(a_workflow_with_a_huge_digit_description_decodes_in_bounded_time) {
  const auto probe = probe_in_child([] {
    Texts t;
    t.description = std::string(7 << 20, '9') + ".1.2";  // under the event cap, over the text cap
    const Workflow wf = decode_workflow(workflow_id, workflow_events(t));
    return std::to_string(wf.description.size()) + " " + wf.version;
  });
  BOOST_TEST(!probe.signal.has_value());
  BOOST_TEST(probe.result == std::to_string(max_free_text_bytes + std::string_view(" [truncated]").size()) + " ",
             probe.result);
  BOOST_TEST_MESSAGE("seconds: " << probe.seconds);
  BOOST_TEST(probe.seconds < slow_bound_s);
}

BOOST_AUTO_TEST_CASE(free_text_is_capped_and_control_characters_replaced) {
  Texts t;
  t.error = std::string("bad\0thing\n", 10) + std::string(100000, 'x');
  const Workflow wf = decode_workflow(workflow_id, workflow_events(t));
  const std::string& error = wf.tasks.at(0).error;
  BOOST_TEST(error.size() <= max_free_text_bytes + 16);
  BOOST_TEST(error.find('\0') == std::string::npos);
  BOOST_TEST(error.starts_with("bad\xEF\xBF\xBDthing\n"));
  BOOST_TEST(error.ends_with(" [truncated]"));
}

BOOST_AUTO_TEST_CASE(a_job_id_with_a_nul_is_refused_before_it_is_stored) {
  Texts t;
  t.job_id = std::string(
      "1234\0"
      "5678",
      9);
  const std::string message = rejection(workflow_events(t));
  BOOST_TEST(contains(message, "'job_id' holds a control character"), message);
}

BOOST_AUTO_TEST_CASE(names_with_control_characters_are_refused) {
  for (const std::string& bad : {std::string("cell\nexpansion"), std::string("a\x1b[31m"), std::string("x\x7f"),
                                 std::string("next\xC2\x85line"), std::string("tab\there")}) {
    Texts workflow_name;
    workflow_name.name = bad;
    BOOST_TEST(contains(rejection(workflow_events(workflow_name)), "'name' holds a control character"));
    Texts task_name;
    task_name.task_name = bad;
    BOOST_TEST(contains(rejection(workflow_events(task_name)), "'task_name' holds a control character"));
  }
  Texts fine;
  fine.name = "Zellkern_5µm résultat";  // non-ASCII is not a control character
  BOOST_TEST(decode_workflow(workflow_id, workflow_events(fine)).name == fine.name);
}

BOOST_AUTO_TEST_CASE(ids_and_names_over_their_caps_are_refused) {
  Texts long_id;
  long_id.job_id = std::string(max_job_id_bytes + 1, '1');
  BOOST_TEST(contains(rejection(workflow_events(long_id)), "'job_id' is 129 bytes long"));
  Texts long_name;
  long_name.name = std::string(max_name_bytes + 1, 'n');
  BOOST_TEST(contains(rejection(workflow_events(long_name)), "'name' is 1025 bytes long"));
}

BOOST_AUTO_TEST_CASE(a_hundred_thousand_levels_of_nesting_are_refused_fast) {
  const auto probe = probe_in_child([] {
    const std::string deep = R"({"a":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
    std::string deep_objects = "{";
    for (int i = 0; i < 100000; ++i) deep_objects += R"("k":{)";
    deep_objects += std::string(100001, '}');
    std::string out;
    for (const std::string* state : std::initializer_list<const std::string*>{&deep, &deep_objects}) {
      try {
        (void)decode_state(*state);
        out += "accepted;";
      } catch (const CodecError& e) {
        out += std::string(e.what()) + ";";
      }
    }
    return out;
  });
  BOOST_TEST(!probe.signal.has_value());
  BOOST_TEST(contains(probe.result, "nested more than 256 levels"), probe.result);
  BOOST_TEST(probe.result.find("accepted") == std::string::npos, probe.result);
  BOOST_TEST_MESSAGE("seconds: " << probe.seconds);
  BOOST_TEST(probe.seconds < slow_bound_s);
  BOOST_TEST(probe.peak_growth_kb < 64 * 1024);
}

// What took 3.2 GB: many levels, each with a long key; a path string was built at every
// level. Now the walk keeps references, so the cost is the event's size.
BOOST_AUTO_TEST_CASE(deep_levels_with_long_keys_cost_memory_linear_in_the_event) {
  const auto probe = probe_in_child([] {
    const std::string key(14000, 'k');
    std::string state;
    for (int i = 0; i < 250; ++i) state += "{\"" + key + "\":";
    state += R"({"_type_":"uuid_hex","_data_":"not a uuid"})";
    state += std::string(250, '}');
    try {
      (void)decode_state(state);
      return std::string("accepted");
    } catch (const CodecError& e) {
      return std::string(e.what());
    }
  });
  BOOST_TEST(!probe.signal.has_value());
  BOOST_TEST(contains(probe.result, "is not a UUID"), probe.result.substr(0, 300));
  BOOST_TEST(probe.result.size() < 600u);  // the path in the message is bounded too
  BOOST_TEST_MESSAGE("seconds: " << probe.seconds);
  BOOST_TEST(probe.seconds < slow_bound_s);
  BOOST_TEST(probe.peak_growth_kb < 64 * 1024);
}

BOOST_AUTO_TEST_CASE(a_wide_event_decodes_in_bounded_time_and_memory) {
  const auto probe = probe_in_child([] {
    // 300k small objects under a 16 KB key, then 200k members: about 7 MB.
    std::string state = "{\"" + std::string(16000, 'w') + "\":[";
    for (int i = 0; i < 300000; ++i) state += i == 0 ? "{}" : ",{}";
    state += "],\"m\":{";
    for (int i = 0; i < 200000; ++i) state += (i == 0 ? "\"" : ",\"") + std::to_string(i) + "\":[1]";
    state += "}}";
    const auto object = decode_state(state);
    return std::to_string(state.size()) + " " + std::to_string(object.size());
  });
  BOOST_TEST(!probe.signal.has_value());
  BOOST_TEST(probe.result.ends_with(" 2"), probe.result);
  BOOST_TEST_MESSAGE("seconds: " << probe.seconds);
  BOOST_TEST(probe.seconds < slow_bound_s);
  BOOST_TEST(probe.peak_growth_kb < 256 * 1024);
}

BOOST_AUTO_TEST_CASE(an_event_over_the_size_cap_is_refused_with_its_reason) {
  const std::string state = "{\"d\":\"" + std::string(max_state_bytes, 'x') + "\"}";
  try {
    (void)decode_state(state);
    BOOST_FAIL("accepted");
  } catch (const CodecError& e) {
    BOOST_TEST(contains(e.what(), "more than the 8388608 an event may have"), e.what());
  }
}

BOOST_AUTO_TEST_CASE(no_std_regex_in_the_daemon) {
  // std::regex on event text was the crash loop (it recurses per character); the daemon's
  // sources must not include it again. The test reads the repository's own files.
  const std::filesystem::path root = std::filesystem::path(BIOMERO_TEST_FIXTURES).parent_path().parent_path();
  int files = 0;
  for (const char* dir : {"src", "include"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root / dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      BOOST_TEST(text.find("#include <regex>") == std::string::npos, entry.path());
      ++files;
    }
  }
  BOOST_TEST(files > 20);
}

BOOST_AUTO_TEST_SUITE_END()
