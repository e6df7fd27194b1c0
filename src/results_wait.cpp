#include "biomero_reactor/results_wait.hpp"

#include <algorithm>

namespace biomero_reactor {

ResultsWait decide_results_wait(SettleResult seen, Duration waited, Duration wait, Duration settle) {
  if (seen == SettleResult::settled) return {ResultsVerdict::take, Duration(0)};
  if (waited < wait) {
    const Duration left = wait - waited;
    return {ResultsVerdict::park, std::min(std::max(settle, min_park_delay), left)};
  }
  if (seen == SettleResult::missing) return {ResultsVerdict::missing, Duration(0)};
  return {ResultsVerdict::still_changing, Duration(0)};
}

}  // namespace biomero_reactor
