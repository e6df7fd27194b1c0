#pragma once
// The life of a LISTEN session as a state machine with no I/O (the Listener performs what
// it asks for): connect -> LISTEN -> catch up -> wait with heartbeats; any failure ->
// close, back off with jitter and a cap, and start again. Catch-up always follows LISTEN,
// so an event committed while the session was down is read before waiting resumes.
#include <chrono>
#include <cstdint>
#include <string>

#include "biomero_reactor/backoff.hpp"

namespace biomero_reactor {

class ListenerFsm {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  enum class State { idle, connecting, subscribing, catching_up, listening, backing_off };
  // What the driver must do next. `wait` means: wait for a notification or until deadline().
  enum class Action { connect, listen, catch_up, wait, heartbeat, close_and_wait };

  struct Settings {
    Duration heartbeat_interval{15000};
    Duration backoff_initial{500};
    Duration backoff_max{30000};
  };

  ListenerFsm(Settings s, std::uint64_t seed) : settings_(s), backoff_(s.backoff_initial, s.backoff_max, seed) {}

  Action start(TimePoint now);
  Action connected(TimePoint now);
  Action subscribed(TimePoint now);
  Action caught_up(TimePoint now);
  Action heartbeat_ok(TimePoint now);
  // Any failure in any state (connect, LISTEN, catch-up, heartbeat, lost socket).
  Action failed(TimePoint now, std::string reason);
  // The deadline passed: time for a heartbeat, or for the next connection attempt.
  Action timer(TimePoint now);

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] TimePoint deadline() const { return deadline_; }
  [[nodiscard]] bool healthy() const { return state_ == State::listening; }
  [[nodiscard]] std::uint64_t reconnects() const { return reconnects_; }
  [[nodiscard]] std::uint64_t failures() const { return failures_; }
  [[nodiscard]] const std::string& last_error() const { return last_error_; }

 private:
  Settings settings_;
  Backoff backoff_;
  State state_ = State::idle;
  TimePoint deadline_{};
  bool was_connected_ = false;
  std::uint64_t reconnects_ = 0;
  std::uint64_t failures_ = 0;
  std::string last_error_;
};

}  // namespace biomero_reactor
