#include "biomero_reactor/backoff.hpp"

#include <algorithm>

namespace biomero_reactor {

Duration backoff_delay(Duration initial, Duration max, unsigned attempt, double unit) {
  const auto shift = std::min(attempt, 30U);
  const auto full = std::min<std::int64_t>(max.count(), initial.count() * (std::int64_t{1} << shift));
  const auto half = full / 2;
  return Duration(half + static_cast<std::int64_t>(static_cast<double>(full - half) * std::clamp(unit, 0.0, 1.0)));
}

}  // namespace biomero_reactor
