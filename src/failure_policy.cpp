#include "biomero_reactor/failure_policy.hpp"

#include <cerrno>
#include <system_error>

#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/group_storage.hpp"
#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

bool is_storage_errno(int error) {
  switch (error) {
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EACCES:
    case EPERM:
    case EMFILE:
    case ENFILE:
      return true;
    default:
      return false;
  }
}

FailureKind classify_failure(const std::exception_ptr& e) {
  if (is_permanent(e)) return FailureKind::permanent;
  if (is_unavailable(e)) return FailureKind::unavailable;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& err) {  // std::filesystem::filesystem_error too
    const auto& cat = err.code().category();
    const bool errno_value = cat == std::generic_category() || cat == std::system_category();
    if (errno_value && is_storage_errno(err.code().value())) return FailureKind::storage;
  } catch (...) {
  }
  return FailureKind::transient;
}

int storage_retry_limit(Duration initial, Duration max, Duration total) {
  std::int64_t sum = 0;
  int n = 0;
  std::int64_t step = std::max<std::int64_t>(1, initial.count());
  while (sum < total.count() && n < 100000) {
    sum += std::min(step, max.count()) / 2 + 1;
    if (step < max.count()) step *= 2;
    ++n;
  }
  return n + 1;  // the first try, then n retries
}

bool ends_the_job(FailureKind kind, int failures_before, int max_attempts, int storage_limit) {
  switch (kind) {
    case FailureKind::permanent:
      return true;
    case FailureKind::storage:
      return failures_before + 1 >= std::max(storage_limit, max_attempts);
    case FailureKind::unavailable:
      return false;
    case FailureKind::transient:
      return failures_before + 1 >= max_attempts;
  }
  return true;
}

void StorageGate::report(const std::filesystem::path& group_base, const std::string& error) {
  if (!blocked_.contains(group_base)) {
    log::warn("storage not writable: claiming no new job until it is",
              {{"path", group_base.string()}, {"error", error}});
  }
  blocked_[group_base] = error;
  next_probe_ = std::chrono::steady_clock::now() + interval_;
}

bool StorageGate::open() {
  if (blocked_.empty()) return true;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_probe_) return false;
  next_probe_ = now + interval_;
  for (auto it = blocked_.begin(); it != blocked_.end();) {
    const ProbeResult probe = probe_analyzed_writable(it->first);
    if (!probe.ok) {
      it->second = probe.detail;
      ++it;
      continue;
    }
    log::info("storage writable again: claiming jobs", {{"path", it->first.string()}});
    it = blocked_.erase(it);
  }
  return blocked_.empty();
}

}  // namespace biomero_reactor
