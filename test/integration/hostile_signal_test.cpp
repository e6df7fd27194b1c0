// Signals an operator (or logrotate) sends a running daemon: SIGHUP must never end it.
// The real binary against the throwaway cluster.
#include <boost/test/unit_test.hpp>
#include <csignal>
#include <thread>

#include "test_support.hpp"

using namespace biomero_reactor;
using namespace biomero_reactor::test;

BOOST_AUTO_TEST_SUITE(hostile_signal_test)

BOOST_AUTO_TEST_CASE(sighup_is_logged_and_the_reactor_keeps_running) {
  TestDb db;
  TempTree tree;
  fs::create_directories(tree.path() / "data");
  const fs::path config = write_reactor_config(tree.path(), db.conninfo(), pipeline_yaml(tree.path()));
  auto reactor = start_reactor(config, tree.path() / "reactor.log");
  BOOST_REQUIRE(eventually([&] { return reactor->output().find("biomero-reactor started") != std::string::npos; }));
  reactor->signal(SIGHUP);
  reactor->signal(SIGHUP);
  BOOST_TEST(
      eventually([&] { return reactor->output().find("SIGHUP: reloading group mappings") != std::string::npos; }, 5s));
  std::this_thread::sleep_for(500ms);
  BOOST_TEST(reactor->running(), reactor->output());
  // And it still stops as it should.
  reactor->signal(SIGTERM);
  BOOST_TEST(reactor->wait(30s).value_or(-1) == 0, reactor->output());
}

BOOST_AUTO_TEST_SUITE_END()
