// A results zip still being written must not be taken: "appeared" means "complete".
// A real zip, written slowly by a thread, and the same zip cut short.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/fs_util.hpp"
#include "biomero_reactor/settle.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;
using namespace std::chrono_literals;
using test::TempTree;

namespace {

// A real zip's bytes (a few files of incompressible-ish data, about 300 KB).
std::string zip_bytes(TempTree& t) {
  std::string data;
  for (int i = 0; i < 300000; ++i) data.push_back(static_cast<char>((i * 7919) ^ (i >> 3)));
  t.write("src/a.tiff", data);
  t.write("src/b/c.csv", "label,area\n1,42\n");
  static_cast<void>(zip_directory(t.path() / "src", t.path() / "whole.zip"));
  return test::read_file(t.path() / "whole.zip");
}

// Appends `bytes` to `path` in ten pieces, `pause` apart.
void write_slowly(const fs::path& path, const std::string& bytes, std::chrono::milliseconds pause) {
  const std::size_t piece = bytes.size() / 10 + 1;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    std::ofstream(path, std::ios::binary | std::ios::app) << bytes.substr(at, piece);
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_settle_test)

BOOST_AUTO_TEST_CASE(a_zip_being_written_is_not_settled_until_it_is_complete) {
  TempTree t;
  const std::string whole = zip_bytes(t);
  const fs::path zip = t.path() / "1_out.zip";
  std::ofstream(zip, std::ios::binary) << "";
  std::thread writer(write_slowly, zip, whole, 60ms);
  int settled_while_growing = 0;
  for (int i = 0; i < 4; ++i) settled_while_growing += file_settled(zip, 100ms) ? 1 : 0;
  writer.join();
  BOOST_TEST(settled_while_growing == 0);
  BOOST_TEST(file_settled(zip, 50ms));
  BOOST_TEST(zip_end_readable(zip));
}

BOOST_AUTO_TEST_CASE(a_zip_cut_short_never_settles_however_long_it_stays) {
  TempTree t;
  const std::string whole = zip_bytes(t);
  for (const std::size_t cut : {whole.size() / 2, whole.size() - 30, whole.size() - 1}) {
    t.write("cut.zip", whole.substr(0, cut));
    BOOST_TEST(!zip_end_readable(t.path() / "cut.zip"), cut);
    BOOST_TEST(!file_settled(t.path() / "cut.zip", 20ms), cut);
  }
  t.write("empty.zip", "");
  BOOST_TEST(!file_settled(t.path() / "empty.zip", 20ms));
  // A zip with a comment, and the canonical empty zip, are complete.
  t.write("commented.zip", whole.substr(0, whole.size() - 2) + std::string("\x05\x00", 2) + "hello");
  BOOST_TEST(zip_end_readable(t.path() / "commented.zip"));
  t.write("nothing.zip", std::string("PK\x05\x06", 4) + std::string(18, '\0'));
  BOOST_TEST(zip_end_readable(t.path() / "nothing.zip"));
}

// The pipeline's way: one look at a time (the job is parked in between), each look's
// blocking half run by `run` (here inline; the worker pool in the daemon).
SettleResult look_once(const fs::path& path, std::chrono::milliseconds settle) {
  boost::asio::io_context io;
  SettleResult result = SettleResult::missing;
  const auto inline_run = [](auto f) -> boost::asio::awaitable<decltype(f())> { co_return f(); };
  boost::asio::co_spawn(io, look_at_results(path, settle, inline_run), [&](std::exception_ptr e, SettleResult r) {
    if (e) std::rethrow_exception(e);
    result = r;
  });
  io.run();
  return result;
}

BOOST_AUTO_TEST_CASE(looks_take_the_zip_only_once_it_is_complete) {
  TempTree t;
  const std::string whole = zip_bytes(t);
  const fs::path zip = t.path() / "1_out.zip";
  std::atomic<bool> finished{false};
  std::thread writer([&] {
    std::this_thread::sleep_for(100ms);  // not there at first
    write_slowly(zip, whole, 50ms);
    finished = true;
  });
  SettleResult result = SettleResult::missing;
  bool finished_first = false;
  bool seen_missing = false;
  for (const auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
    result = look_once(zip, 120ms);
    seen_missing = seen_missing || result == SettleResult::missing;
    finished_first = finished;
    if (result == SettleResult::settled) break;
    std::this_thread::sleep_for(20ms);  // parked
  }
  writer.join();
  BOOST_TEST((result == SettleResult::settled));
  BOOST_TEST(seen_missing);
  BOOST_TEST(finished_first, "taken while still being written");

  // Missing and never complete are told apart; a complete file is taken.
  BOOST_TEST((look_once(t.path() / "absent.zip", 20ms) == SettleResult::missing));
  t.write("cut.zip", whole.substr(0, whole.size() / 2));
  BOOST_TEST((look_once(t.path() / "cut.zip", 20ms) == SettleResult::not_settled));
  BOOST_TEST((look_once(zip, 20ms) == SettleResult::settled));
}

BOOST_AUTO_TEST_SUITE_END()
