#pragma once
// What a failed job step leads to. Four kinds of failure:
//   permanent  retrying cannot fix it (errors.hpp): the job fails now;
//   storage    the file system refused for now: full (ENOSPC, EDQUOT), read-only (EROFS),
//              permission denied (EACCES, EPERM), out of descriptors (EMFILE, ENFILE).
//              An operator fixes these in minutes, not seconds: retried with the backoff
//              up to jobs.transient_retry_total, and the scheduler claims no new job until
//              the storage is writable again (StorageGate);
//   unavailable a service the step needs is down (OMERO.web, ServiceUnavailable): retried
//              with the backoff until it is back; never fails the job;
//   transient  anything else (database, a result still changing): retried with the
//              backoff up to jobs.max_attempts.
#include <chrono>
#include <exception>
#include <filesystem>
#include <map>
#include <string>

#include "biomero_reactor/units.hpp"

namespace biomero_reactor {

enum class FailureKind { permanent, storage, unavailable, transient };

[[nodiscard]] bool is_storage_errno(int error);
[[nodiscard]] FailureKind classify_failure(const std::exception_ptr& e);

// How many retries of a storage failure fit before jobs.transient_retry_total: retries
// are added until the sum of their shortest delays (half of each backoff step, the jitter's
// floor) reaches `total`, so the real span is between `total` and twice it.
[[nodiscard]] int storage_retry_limit(Duration initial, Duration max, Duration total);

// True when the step that failed for the (failures + 1)-th time ends the job.
[[nodiscard]] bool ends_the_job(FailureKind kind, int failures_before, int max_attempts, int storage_limit);

// The storage the scheduler waits for. A job that failed with a storage error reports
// its group folder; until every reported folder passes the write probe again, no new job
// is claimed (jobs already claimed go on). Probed at most once per `interval`; used from
// the event loop only.
class StorageGate {
 public:
  explicit StorageGate(Duration interval = std::chrono::seconds(1)) : interval_(interval) {}
  void report(const std::filesystem::path& group_base, const std::string& error);
  // True when nothing is reported or every reported folder is writable again (logged).
  [[nodiscard]] bool open();
  // Each folder still not writable, with the last reason.
  [[nodiscard]] const std::map<std::filesystem::path, std::string>& blocked() const { return blocked_; }

 private:
  Duration interval_;
  std::map<std::filesystem::path, std::string> blocked_;
  std::chrono::steady_clock::time_point next_probe_{};
};

}  // namespace biomero_reactor
