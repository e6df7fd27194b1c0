#include "biomero_reactor/import_outcome.hpp"

namespace biomero_reactor {

ImportDecision decide(const ImportProgress& progress, const ImportPolicy& policy) {
  ImportDecision d;
  std::size_t completed = 0;
  std::string failures, restart, last_stage;
  bool stuck = false;
  for (const auto& o : progress.orders) {
    const std::string stage = o.stage ? o.stage->stage : std::string(stage_pending);
    last_stage = stage;
    if (stage == stage_completed) {
      ++completed;
    } else if (stage == stage_failed) {
      if (o.stage->description) {
        failures += (failures.empty() ? "" : "; ") + *o.stage->description;
      } else {
        restart = "the importer stopped during the import (Import Failed without a description)";
      }
    } else if (stage == stage_pending && o.age_ms > policy.pending_alert.count()) {
      stuck = true;
      if (!o.alerted) d.newly_stuck.push_back(o.uuid);
    }
  }
  if (!failures.empty()) {
    d.verdict = ImportVerdict::failed;
    d.reason = failures;
  } else if (!restart.empty() || stuck) {
    d.reason = !restart.empty() ? restart
                                : "the order stayed in Import Pending for over " + format_duration(policy.pending_alert);
    if (progress.submission < policy.max_submissions) {
      d.verdict = ImportVerdict::resubmit;
    } else {
      d.verdict = ImportVerdict::failed;
      d.reason += " (after " + std::to_string(progress.submission) + " submissions)";
    }
  } else if (!progress.orders.empty() && completed == progress.orders.size()) {
    d.verdict = ImportVerdict::imported;
  } else if (progress.waited_ms > policy.timeout.count()) {
    d.verdict = ImportVerdict::failed;
    d.reason = "no result from BIOMERO.importer within " + format_duration(policy.timeout) +
               " (last stage: " + last_stage + ")";
  }
  return d;
}

std::ostream& operator<<(std::ostream& os, ImportVerdict v) {
  switch (v) {
    case ImportVerdict::wait:
      return os << "wait";
    case ImportVerdict::imported:
      return os << "imported";
    case ImportVerdict::failed:
      return os << "failed";
    case ImportVerdict::resubmit:
      return os << "resubmit";
  }
  return os << "unknown";
}

std::ostream& operator<<(std::ostream& os, const ImportDecision& d) {
  os << d.verdict;
  if (!d.reason.empty()) os << " (" << d.reason << ")";
  if (!d.newly_stuck.empty()) os << ", " << d.newly_stuck.size() << " newly stuck";
  return os;
}

}  // namespace biomero_reactor
