#pragma once
// A job's state, as a type. The text forms are the values of biomero_reactor.jobs.state,
// whose CHECK constraint is the only other list of them (a test compares the two).
//   pending -> started -> archiving -> archived -> submitted -> imported | failed
//   (skipped: decided at intake, never run)
// Runnable states are claimed by the scheduler; a job keeps its lease between the steps
// of one run (started, archiving, archived) and gives it up when it waits or ends.
#include <array>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace biomero_reactor {

enum class JobState { pending, started, archiving, archived, submitted, imported, failed, skipped };

inline constexpr std::array all_job_states{JobState::pending,   JobState::started,  JobState::archiving,
                                           JobState::archived,  JobState::submitted, JobState::imported,
                                           JobState::failed,    JobState::skipped};

[[nodiscard]] std::string_view to_string(JobState s);
[[nodiscard]] std::optional<JobState> job_state_from(std::string_view text);
std::ostream& operator<<(std::ostream& os, JobState s);

// Claimed and advanced by the scheduler.
[[nodiscard]] constexpr bool is_runnable(JobState s) {
  return s == JobState::pending || s == JobState::started || s == JobState::archiving || s == JobState::archived;
}
// Nothing more happens to the job (a replay starts a new attempt).
[[nodiscard]] constexpr bool is_terminal(JobState s) {
  return s == JobState::imported || s == JobState::failed || s == JobState::skipped;
}
// A transition into these keeps the lease: the same run goes on with the next step.
[[nodiscard]] constexpr bool keeps_lease(JobState s) {
  return s == JobState::started || s == JobState::archiving || s == JobState::archived;
}

// The names of the states matching `pred`: the one way queries name a set of states
// (bound as a text[] parameter, never spliced into SQL).
template <class Pred>
[[nodiscard]] std::vector<std::string> job_state_names(Pred pred) {
  std::vector<std::string> out;
  for (const JobState s : all_job_states) {
    if (pred(s)) out.emplace_back(to_string(s));
  }
  return out;
}

}  // namespace biomero_reactor
