#include "biomero_reactor/replay_guard.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

BOOST_AUTO_TEST_SUITE(replay_guard_test)

// Item 9: only orders the importer may still act on hold a replay back.
BOOST_AUTO_TEST_CASE(an_order_is_open_until_its_stage_at_the_importer_is_terminal) {
  const std::vector<CurrentOrder> orders{
      {1, "11", 1, "a"}, {1, "11", 1, "b"}, {2, "12", 1, "c"}, {3, "13", 1, "d"}, {4, "14", 1, "e"}};
  const std::map<std::string, Stage> stages{{"a", {"Import Pending", {}}},
                                            {"b", {"Import Started", {}}},
                                            {"c", {"Import Completed", {}}},
                                            {"d", {"Import Failed", {"no such file"}}}};
  const auto open = open_orders(orders, stages);  // "e" has no row: nothing left to import
  BOOST_REQUIRE(open.size() == 2u);
  BOOST_TEST(open[0].order.uuid == "a");
  BOOST_TEST(open[0].stage == "Import Pending");
  BOOST_TEST(open[1].order.uuid == "b");
  BOOST_TEST(describe(open[1]) == "job 11: order b is at stage \"Import Started\" at the importer");
  BOOST_TEST(open_orders(orders, {}).empty());
}

BOOST_AUTO_TEST_SUITE_END()
