// Seeded random inputs for the two parsers of untrusted bytes: the event decoder (state
// JSON, and whole workflows with one event mutated) and the archive admission
// (extract_archive on mutated zips and tars). Every input must end in a result or in the
// parser's own error (CodecError, ArchiveError, or std::system_error from the target
// file system), never a crash, another exception, a write outside the target, or a slow
// input. CI runs a bounded number of cases (a few seconds); BIOMERO_FUZZ_CASES=N runs N
// of each (100000+ for a real campaign) and BIOMERO_FUZZ_SEED picks the seed. The summary
// (cases, slowest input, peak RSS) is printed as a test message.
#include <sys/resource.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/event_codec.hpp"
#include "biomero_reactor/workflow.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;
using Clock = std::chrono::steady_clock;

namespace {

std::size_t cases_or(std::size_t fallback) {
  const char* text = std::getenv("BIOMERO_FUZZ_CASES");
  return text != nullptr ? static_cast<std::size_t>(std::strtoull(text, nullptr, 10)) : fallback;
}

std::uint64_t seed() {
  const char* text = std::getenv("BIOMERO_FUZZ_SEED");
  return text != nullptr ? std::strtoull(text, nullptr, 10) : 20261203;
}

long peak_rss_mb() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

std::vector<StoredEvent> fixture_events() {
  std::ifstream in(BIOMERO_TEST_FIXTURES "/events.tsv", std::ios::binary);
  std::vector<StoredEvent> events;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::vector<std::string> columns;
    std::istringstream fields(line);
    for (std::string column; std::getline(fields, column, '\t');) columns.push_back(column);
    events.push_back(
        {std::stoll(columns[0]), *Uuid::parse(columns[1]), std::stoll(columns[2]), columns[3], columns[4]});
  }
  return events;
}

// Pieces that reach the decoder's corners: typed values, deep openers, digit runs, escapes.
const std::vector<std::string> tokens{"{",
                                      "}",
                                      "[",
                                      "]",
                                      ",",
                                      ":",
                                      "\"",
                                      "null",
                                      "true",
                                      "-1",
                                      "1e308",
                                      "1.5",
                                      "\"\\u0000\"",
                                      "\"\\ud800\"",
                                      "\"_type_\"",
                                      "\"_data_\"",
                                      "\"uuid_hex\"",
                                      "\"datetime_iso\"",
                                      "\"decimal_str\"",
                                      "\"job_id\"",
                                      "\"description\"",
                                      "\"2026-11-29T21:37:02.956582+00:00\"",
                                      "\"da9e05d217414302a188311267647bcc\"",
                                      "\xC2\x85",
                                      "\xFF",
                                      "\\",
                                      "1.2.3",
                                      "99999999999999999999999"};

std::string mutate(std::string text, std::mt19937_64& rng) {
  const int edits = rng() % 2 ? 1 : 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
    switch (rng() % 7) {
      case 0:  // flip a byte
        if (!text.empty()) text[at % text.size()] = static_cast<char>(rng());
        break;
      case 1:  // insert a token
        text.insert(at, tokens[rng() % tokens.size()]);
        break;
      case 2:  // delete a span
        if (!text.empty()) text.erase(at % text.size(), rng() % 16);
        break;
      case 3:  // truncate
        text.resize(at);
        break;
      case 4:  // a run of one character (digits, openers)
        text.insert(at, 1 + rng() % 5000, "9[{\"."[rng() % 5]);
        break;
      case 5: {  // duplicate a span
        if (text.empty()) break;
        const std::size_t from = rng() % text.size();
        text.insert(at, text.substr(from, rng() % 64));
        break;
      }
      default:  // a typed value with random data
        text.insert(at, std::string(R"({"_type_":")") + (rng() % 2 ? "uuid_hex" : "datetime_iso") + R"(","_data_":")" +
                            std::to_string(rng()) + "\"}");
    }
  }
  return text;
}

struct Tally {
  std::size_t cases = 0, accepted = 0, refused = 0;
  double slowest_s = 0;
  void time(Clock::time_point start) {
    slowest_s = std::max(slowest_s, std::chrono::duration<double>(Clock::now() - start).count());
  }
};

// Bytes of an archive made by libarchive's writer (through zip_directory) or by tar.
std::string seed_zip(test::TempTree& t) {
  t.write("src/data/out/image.tiff", std::string("II*\0\x08\0\0\0", 8) + std::string(3000, 'p'));
  t.write("src/data/out/measurements.csv", "label,area\n1,42\n2,17\n");
  t.write("src/résultat/Zellkern_5µm.tiff", "nucleus");
  static_cast<void>(zip_directory(t.path() / "src", t.path() / "seed.zip"));
  return test::read_file(t.path() / "seed.zip");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_fuzz_test)

BOOST_AUTO_TEST_CASE(the_event_decoder_survives_random_states_and_workflows) {
  const std::vector<StoredEvent> events = fixture_events();
  BOOST_REQUIRE(!events.empty());
  const Uuid workflow_id = *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");
  std::mt19937_64 rng(seed());
  Tally tally;
  const std::size_t cases = cases_or(3000);
  for (std::size_t i = 0; i < cases; ++i) {
    std::vector<StoredEvent> workflow = events;
    StoredEvent& victim = workflow[rng() % workflow.size()];
    victim.state = mutate(victim.state, rng);
    const auto start = Clock::now();
    try {
      if (i % 2 == 0) {
        static_cast<void>(decode_state(victim.state));
      } else {
        const Workflow wf = decode_workflow(workflow_id, workflow);
        for (const Task& task : wf.tasks) {
          for (const std::string& job : task.job_ids) BOOST_REQUIRE(!has_control_character(job));
        }
        BOOST_REQUIRE(wf.description.size() <= max_free_text_bytes + 16);
      }
      ++tally.accepted;
    } catch (const CodecError&) {
      ++tally.refused;
    }
    tally.time(start);
    ++tally.cases;
  }
  BOOST_TEST_MESSAGE("event decoder: " << tally.cases << " cases (" << tally.accepted << " decoded, " << tally.refused
                                       << " refused), slowest " << tally.slowest_s << " s, peak RSS " << peak_rss_mb()
                                       << " MB");
  BOOST_TEST(tally.slowest_s < 1.0);
  BOOST_TEST(peak_rss_mb() < 256);
}

BOOST_AUTO_TEST_CASE(archive_admission_survives_random_archives) {
  test::TempTree t;
  const std::string zip = seed_zip(t);
  BOOST_REQUIRE(
      std::system(
          ("tar -C '" + (t.path() / "src").string() + "' -czf '" + (t.path() / "seed.tgz").string() + "' .").c_str()) ==
      0);
  const std::string tgz = test::read_file(t.path() / "seed.tgz");
  const fs::path job = t.path() / "job";
  const fs::path archive = job / "input";
  const fs::path target = job / "out";
  fs::create_directories(job);
  std::mt19937_64 rng(seed() + 1);
  ExtractLimits limits;
  limits.max_total_bytes = 1 << 20;
  limits.max_entries = 1000;
  limits.threads = 2;
  Tally tally;
  std::size_t system_errors = 0;
  const std::size_t cases = cases_or(400);
  for (std::size_t i = 0; i < cases; ++i) {
    const std::string& base = i % 3 == 2 ? tgz : zip;
    // A few bytes changed: headers, sizes, names; mutate's JSON tokens are noise here.
    std::string bytes = base;
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 8 == 0) bytes.resize(rng() % bytes.size());
    if (rng() % 8 == 0) bytes = mutate(bytes, rng);
    std::ofstream(archive, std::ios::binary | std::ios::trunc) << bytes;
    fs::create_directory(target);
    const auto start = Clock::now();
    try {
      static_cast<void>(extract_archive(archive, target, limits));
      ++tally.accepted;
    } catch (const ArchiveError&) {
      ++tally.refused;
    } catch (const std::system_error&) {
      ++system_errors;  // e.g. a name too long for the file system
    }
    tally.time(start);
    ++tally.cases;
    // Nothing but the archive and the target in the job directory.
    std::size_t beside = 0;
    for (const auto& entry : fs::directory_iterator(job)) beside += entry.path() != archive && entry.path() != target;
    BOOST_REQUIRE_MESSAGE(beside == 0, "case " << i << " wrote outside the target");
    fs::remove_all(target);
  }
  BOOST_TEST_MESSAGE("archive admission: " << tally.cases << " cases (" << tally.accepted << " extracted, "
                                           << tally.refused << " refused, " << system_errors
                                           << " file-system errors), slowest " << tally.slowest_s << " s, peak RSS "
                                           << peak_rss_mb() << " MB");
  BOOST_TEST(tally.slowest_s < 1.0);
  BOOST_TEST(peak_rss_mb() < 256);
}

BOOST_AUTO_TEST_SUITE_END()
