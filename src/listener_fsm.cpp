#include "biomero_reactor/listener_fsm.hpp"

namespace biomero_reactor {

using Action = ListenerFsm::Action;

Action ListenerFsm::start(TimePoint) {
  state_ = State::connecting;
  return Action::connect;
}

Action ListenerFsm::connected(TimePoint) {
  if (state_ != State::connecting) return Action::wait;
  state_ = State::subscribing;
  return Action::listen;
}

Action ListenerFsm::subscribed(TimePoint) {
  if (state_ != State::subscribing) return Action::wait;
  state_ = State::catching_up;
  return Action::catch_up;
}

Action ListenerFsm::caught_up(TimePoint now) {
  if (state_ != State::catching_up) return Action::wait;
  if (was_connected_) ++reconnects_;
  was_connected_ = true;
  backoff_.reset();
  state_ = State::listening;
  deadline_ = now + settings_.heartbeat_interval;
  return Action::wait;
}

Action ListenerFsm::heartbeat_ok(TimePoint now) {
  if (state_ != State::listening) return Action::wait;
  deadline_ = now + settings_.heartbeat_interval;
  return Action::wait;
}

Action ListenerFsm::failed(TimePoint now, std::string reason) {
  ++failures_;
  last_error_ = std::move(reason);
  state_ = State::backing_off;
  deadline_ = now + backoff_.next();
  return Action::close_and_wait;
}

Action ListenerFsm::timer(TimePoint now) {
  if (now < deadline_) return Action::wait;
  switch (state_) {
    case State::listening:
      return Action::heartbeat;
    case State::backing_off:
      state_ = State::connecting;
      return Action::connect;
    default:
      return Action::wait;
  }
}

}  // namespace biomero_reactor
