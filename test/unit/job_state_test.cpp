// Job states as a type: text round trip and the runnable / terminal / keep-lease sets.
#include "biomero_reactor/job_state.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

BOOST_AUTO_TEST_SUITE(job_state_test)

BOOST_AUTO_TEST_CASE(every_state_round_trips_through_its_text) {
  for (const JobState s : all_job_states) {
    BOOST_TEST((job_state_from(to_string(s)) == s), to_string(s));
  }
  BOOST_TEST(!job_state_from("Pending").has_value());
  BOOST_TEST(!job_state_from("").has_value());
}

BOOST_AUTO_TEST_CASE(the_sets_are_the_documented_ones) {
  BOOST_TEST((job_state_names(is_runnable) == std::vector<std::string>{"pending", "started", "archiving", "archived"}));
  BOOST_TEST((job_state_names(is_terminal) == std::vector<std::string>{"imported", "failed", "skipped"}));
  BOOST_TEST((job_state_names(keeps_lease) == std::vector<std::string>{"started", "archiving", "archived"}));
}

BOOST_AUTO_TEST_CASE(submitted_is_neither_runnable_nor_terminal) {
  BOOST_TEST(!is_runnable(JobState::submitted));
  BOOST_TEST(!is_terminal(JobState::submitted));
}

BOOST_AUTO_TEST_SUITE_END()
