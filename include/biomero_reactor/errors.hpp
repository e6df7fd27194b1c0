#pragma once
// The pipeline's error vocabulary. A step either succeeds, fails in a way retrying
// cannot fix (PermanentError and the other permanent kinds: the job fails now, the user
// sees IMPORT_FAILED), loses its job to another reactor (LeaseLost: stop quietly), or
// fails transiently (anything else: database, storage; retried with backoff).
#include <exception>
#include <stdexcept>

namespace biomero_reactor {

// A failure that retrying cannot fix (bad archive, no images, unsafe id).
struct PermanentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A service the job needs (OMERO.web) does not answer: retried with backoff for as long
// as it takes, never counted toward jobs.max_attempts, so an outage never fails a job.
struct ServiceUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The job's lease is no longer this reactor's: another one took the job over.
struct LeaseLost : std::runtime_error {
  LeaseLost() : std::runtime_error("the job's lease was taken over by another reactor") {}
};

// PermanentError, ConfigError, GroupStorageError and CodecError are permanent.
[[nodiscard]] bool is_permanent(const std::exception_ptr& e);
[[nodiscard]] bool is_unavailable(const std::exception_ptr& e);

}  // namespace biomero_reactor
