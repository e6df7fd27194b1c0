#include "biomero_reactor/listener_fsm.hpp"

#include <boost/test/unit_test.hpp>

using namespace biomero_reactor;
using namespace std::chrono_literals;
using A = ListenerFsm::Action;
using S = ListenerFsm::State;

namespace {
struct FakeClock {
  ListenerFsm::TimePoint now{};
  void advance(Millis d) { now += d; }
};
ListenerFsm::Settings settings() {
  return {.heartbeat_interval = 15s, .backoff_initial = 500ms, .backoff_max = 30s};
}
}  // namespace

BOOST_AUTO_TEST_SUITE(listener_fsm_test)

BOOST_AUTO_TEST_CASE(a_new_session_connects_listens_then_catches_up_before_waiting) {
  FakeClock c;
  ListenerFsm fsm(settings(), 1);
  BOOST_TEST((fsm.start(c.now) == A::connect));
  BOOST_TEST((fsm.connected(c.now) == A::listen));
  BOOST_TEST((fsm.subscribed(c.now) == A::catch_up));
  BOOST_TEST(!fsm.healthy());
  BOOST_TEST((fsm.caught_up(c.now) == A::wait));
  BOOST_TEST(fsm.healthy());
  BOOST_TEST((fsm.deadline() == c.now + 15s));
  BOOST_TEST(fsm.reconnects() == 0U);
}

BOOST_AUTO_TEST_CASE(the_heartbeat_is_due_only_after_its_interval) {
  FakeClock c;
  ListenerFsm fsm(settings(), 1);
  fsm.start(c.now);
  fsm.connected(c.now);
  fsm.subscribed(c.now);
  fsm.caught_up(c.now);
  c.advance(14s);
  BOOST_TEST((fsm.timer(c.now) == A::wait));
  c.advance(1s);
  BOOST_TEST((fsm.timer(c.now) == A::heartbeat));
  BOOST_TEST((fsm.heartbeat_ok(c.now) == A::wait));
  BOOST_TEST((fsm.deadline() == c.now + 15s));
}

BOOST_AUTO_TEST_CASE(a_failed_heartbeat_backs_off_then_reconnects_and_catches_up_again) {
  FakeClock c;
  ListenerFsm fsm(settings(), 7);
  fsm.start(c.now);
  fsm.connected(c.now);
  fsm.subscribed(c.now);
  fsm.caught_up(c.now);
  c.advance(15s);
  BOOST_TEST((fsm.timer(c.now) == A::heartbeat));
  BOOST_TEST((fsm.failed(c.now, "timeout") == A::close_and_wait));
  BOOST_TEST((fsm.state() == S::backing_off));
  BOOST_TEST(!fsm.healthy());
  const auto wait = fsm.deadline() - c.now;
  BOOST_TEST((wait >= 250ms && wait <= 500ms));
  BOOST_TEST((fsm.timer(c.now) == A::wait));  // not yet
  c.now = fsm.deadline();
  BOOST_TEST((fsm.timer(c.now) == A::connect));
  fsm.connected(c.now);
  BOOST_TEST((fsm.subscribed(c.now) == A::catch_up));
  fsm.caught_up(c.now);
  BOOST_TEST(fsm.reconnects() == 1U);
  BOOST_TEST(fsm.last_error() == "timeout");
}

BOOST_AUTO_TEST_CASE(repeated_failures_back_off_exponentially_up_to_the_cap) {
  FakeClock c;
  ListenerFsm fsm(settings(), 3);
  fsm.start(c.now);
  Millis previous_cap = 0ms;
  for (int i = 0; i < 12; ++i) {
    fsm.failed(c.now, "refused");
    const auto wait = std::chrono::duration_cast<Millis>(fsm.deadline() - c.now);
    const Millis cap = std::min<Millis>(30s, 500ms * (1LL << i));
    BOOST_TEST(wait.count() >= cap.count() / 2);
    BOOST_TEST(wait.count() <= cap.count());
    BOOST_TEST(cap >= previous_cap);
    previous_cap = cap;
    c.now = fsm.deadline();
    BOOST_TEST((fsm.timer(c.now) == A::connect));
  }
  BOOST_TEST(fsm.failures() == 12U);
}

BOOST_AUTO_TEST_CASE(a_successful_session_resets_the_backoff) {
  FakeClock c;
  ListenerFsm fsm(settings(), 5);
  fsm.start(c.now);
  for (int i = 0; i < 6; ++i) {
    fsm.failed(c.now, "x");
    c.now = fsm.deadline();
    fsm.timer(c.now);
  }
  fsm.connected(c.now);
  fsm.subscribed(c.now);
  fsm.caught_up(c.now);
  fsm.failed(c.now, "y");
  BOOST_TEST(((fsm.deadline() - c.now) <= 500ms));
}

BOOST_AUTO_TEST_CASE(the_jitter_stays_within_half_and_full_delay) {
  BOOST_TEST(backoff_delay(500ms, 30s, 0, 0.0).count() == 250);
  BOOST_TEST(backoff_delay(500ms, 30s, 0, 0.999).count() <= 500);
  BOOST_TEST(backoff_delay(500ms, 30s, 20, 0.0).count() == 15000);
  BOOST_TEST(backoff_delay(500ms, 30s, 40, 0.5).count() == 22500);
}

BOOST_AUTO_TEST_SUITE_END()
