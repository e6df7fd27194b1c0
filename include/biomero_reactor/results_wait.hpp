#pragma once
// Waiting for a job's results without holding a job slot (issue #13, head-of-line
// blocking). Each run of the archive step looks at the results once (settle.hpp:
// look_at_results); while they are not complete and results.wait, counted from the job's
// entry into `archiving`, has not passed, the job is parked: released and due again
// after a short delay, not counted as a failed step. At the deadline the verdict is
// today's: missing fails the job for good, still changing is a transient failure.
#include "biomero_reactor/settle.hpp"
#include "biomero_reactor/units.hpp"

namespace biomero_reactor {

enum class ResultsVerdict {
  take,            // complete: build the job directory now
  park,            // not yet: release the job, look again after `delay`
  missing,         // never appeared within results.wait: PermanentError
  still_changing,  // appeared but not complete at the deadline: transient failure
};

struct ResultsWait {
  ResultsVerdict verdict = ResultsVerdict::take;
  Duration delay{0};  // for park
};

// The shortest delay between two looks (a settle interval of 0 must not spin).
inline constexpr Duration min_park_delay = std::chrono::milliseconds(200);

// seen: this look's result; waited: since the job entered `archiving`. A park's delay is
// the settle interval (at least min_park_delay), cut to what is left of the wait.
[[nodiscard]] ResultsWait decide_results_wait(SettleResult seen, Duration waited, Duration wait, Duration settle);

}  // namespace biomero_reactor
