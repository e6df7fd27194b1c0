#include "biomero_reactor/worker_watch.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;

BOOST_AUTO_TEST_SUITE(worker_watch_test)

// Issue #13 item 3: a task given up while it runs is a stuck worker until it returns.
BOOST_AUTO_TEST_CASE(a_task_given_up_while_running_counts_as_stuck_until_it_returns) {
  WorkerWatch w;
  std::atomic<TaskPhase> phase{TaskPhase::queued};
  BOOST_TEST(start_task(phase, w));
  BOOST_TEST(w.running.load() == 1);
  BOOST_TEST(give_up_task(phase, w));
  BOOST_TEST(w.stuck.load() == 1);
  BOOST_TEST(w.timed_out.load() == 1u);
  finish_task(phase, w);
  BOOST_TEST(w.running.load() == 0);
  BOOST_TEST(w.stuck.load() == 0);
}

BOOST_AUTO_TEST_CASE(a_task_given_up_before_it_ran_is_skipped_and_never_stuck) {
  WorkerWatch w;
  std::atomic<TaskPhase> phase{TaskPhase::queued};
  BOOST_TEST(give_up_task(phase, w));
  BOOST_TEST(w.stuck.load() == 0);
  BOOST_TEST(!start_task(phase, w));
  BOOST_TEST(w.running.load() == 0);
}

BOOST_AUTO_TEST_CASE(a_task_that_finished_at_the_deadline_is_not_given_up) {
  WorkerWatch w;
  std::atomic<TaskPhase> phase{TaskPhase::queued};
  BOOST_TEST(start_task(phase, w));
  finish_task(phase, w);
  BOOST_TEST(!give_up_task(phase, w));
  BOOST_TEST(w.stuck.load() == 0);
  BOOST_TEST(w.timed_out.load() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
