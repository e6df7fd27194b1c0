#pragma once
// The one retry delay rule of the program: exponential from `initial`, capped at `max`,
// with jitter so that reactors which lost the database together do not return together.
#include <cstdint>
#include <random>

#include "biomero_reactor/units.hpp"

namespace biomero_reactor {

// The old name of Duration, still used by reactor.cpp, pipeline.cpp and listener_fsm_test.cpp.
using Millis = Duration;

// Delay before retry number `attempt` (0-based): uniform in [d/2, d] where
// d = min(max, initial * 2^attempt). `unit` is a random number in [0, 1).
[[nodiscard]] Duration backoff_delay(Duration initial, Duration max, unsigned attempt, double unit);

class Backoff {
 public:
  Backoff(Duration initial, Duration max, std::uint64_t seed) : initial_(initial), max_(max), rng_(seed) {}
  [[nodiscard]] Duration next() {
    return backoff_delay(initial_, max_, attempt_++, std::uniform_real_distribution<double>(0.0, 1.0)(rng_));
  }
  void reset() { attempt_ = 0; }
  [[nodiscard]] unsigned attempts() const { return attempt_; }

 private:
  Duration initial_;
  Duration max_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace biomero_reactor
