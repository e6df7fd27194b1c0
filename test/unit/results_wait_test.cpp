#include "biomero_reactor/results_wait.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(results_wait_test)

// Issue #13 item 4: a job whose results are not there yet gives its slot back.
BOOST_AUTO_TEST_CASE(results_not_complete_within_the_wait_park_the_job_for_a_settle_interval) {
  for (const auto seen : {SettleResult::missing, SettleResult::not_settled}) {
    const ResultsWait w = decide_results_wait(seen, 10s, 1h, 2s);
    BOOST_TEST((w.verdict == ResultsVerdict::park));
    BOOST_TEST(w.delay.count() == Duration(2s).count());
  }
}

BOOST_AUTO_TEST_CASE(complete_results_are_taken_whenever_they_are_seen) {
  BOOST_TEST((decide_results_wait(SettleResult::settled, 0s, 1h, 2s).verdict == ResultsVerdict::take));
  BOOST_TEST((decide_results_wait(SettleResult::settled, 2h, 1h, 2s).verdict == ResultsVerdict::take));
}

BOOST_AUTO_TEST_CASE(at_the_deadline_missing_fails_for_good_and_still_changing_is_transient) {
  BOOST_TEST((decide_results_wait(SettleResult::missing, 1h, 1h, 2s).verdict == ResultsVerdict::missing));
  BOOST_TEST((decide_results_wait(SettleResult::not_settled, 61min, 1h, 2s).verdict == ResultsVerdict::still_changing));
}

BOOST_AUTO_TEST_CASE(a_park_never_overshoots_the_deadline_nor_spins) {
  BOOST_TEST(decide_results_wait(SettleResult::missing, 999ms, 1s, 2s).delay.count() == 1);
  BOOST_TEST(decide_results_wait(SettleResult::missing, 0s, 1h, 0s).delay.count() == min_park_delay.count());
  BOOST_TEST((decide_results_wait(SettleResult::missing, 0s, 0s, 2s).verdict == ResultsVerdict::missing));
}

BOOST_AUTO_TEST_SUITE_END()
