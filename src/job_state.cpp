#include "biomero_reactor/job_state.hpp"

namespace biomero_reactor {

std::string_view to_string(JobState s) {
  switch (s) {
    case JobState::pending:
      return "pending";
    case JobState::started:
      return "started";
    case JobState::archiving:
      return "archiving";
    case JobState::archived:
      return "archived";
    case JobState::submitted:
      return "submitted";
    case JobState::imported:
      return "imported";
    case JobState::failed:
      return "failed";
    case JobState::skipped:
      return "skipped";
  }
  return "unknown";
}

std::optional<JobState> job_state_from(std::string_view text) {
  for (const JobState s : all_job_states) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& os, JobState s) {
  return os << to_string(s);
}

}  // namespace biomero_reactor
