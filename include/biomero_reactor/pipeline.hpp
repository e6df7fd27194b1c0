#pragma once
// The per-job pipeline over the job table. Every step's outcome is
// committed before the next starts, and only by the reactor holding the job's lease:
//   pending   --report IMPORTING-->  started
//   started   --resolve names, paths-->  archiving  --build .analyzed tree-->  archived
//   archived  --insert upload orders-->  submitted
//   submitted --importer's stage-->  imported | failed   (or archived again: resubmission)
// Permanent failures end the job at once as IMPORT_FAILED; transient ones retry with
// backoff up to jobs.max_attempts.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/group_storage.hpp"
#include "biomero_reactor/pg.hpp"

namespace biomero_reactor {

// Touched only on the event loop's thread.
struct Counters {
  std::uint64_t jobs_imported = 0, jobs_failed = 0, jobs_retried = 0, orders_submitted = 0, orders_resubmitted = 0,
                bytes_extracted = 0, bytes_copied = 0;
};

struct PipelineContext {
  const Config& cfg;
  StorageSettings storage;
  pg::Pool& events;
  pg::Pool& importer;
  bool importer_is_events_db;
  boost::asio::thread_pool& workers;
  std::string instance;                  // lease owner
  std::string stop_at_step;              // tests: _exit(137) once this state is committed
  std::function<void()> wake_scheduler;  // a job became runnable (resubmission)
  Counters counters;
  std::function<void(const std::string& to_state, double seconds)> step_finished;  // metrics
};

struct JobRef {
  std::int64_t id = 0;
  std::string state;
};

// host:pid, the lease owner's name unless --instance gives another.
std::string default_instance();

// At start, before claiming: frees the leases held under this instance's own name, which
// can only be an earlier run of it (instance names are unique among running reactors),
// so those jobs resume now instead of after jobs.lease. A restarted container keeps
// its host name and pid 1, so host:pid repeats; the systemd unit names the instance
// after the host. Other names' leases are left to expire: whether their reactor still
// runs cannot be known from here. Returns how many jobs were freed.
boost::asio::awaitable<int> release_own_leases(PipelineContext& ctx);

// Leases up to `limit` runnable jobs (FOR UPDATE SKIP LOCKED).
boost::asio::awaitable<std::vector<JobRef>> claim_jobs(PipelineContext& ctx, int limit);

// Runs a claimed job until it is submitted, finished, or scheduled for a retry.
boost::asio::awaitable<void> run_job(PipelineContext& ctx, JobRef job);

// Reads the importer's stage for waiting orders (all of them, or only `uuids`) and
// finishes, resubmits or fails their jobs. Returns how many jobs still wait.
boost::asio::awaitable<int> check_orders(PipelineContext& ctx, const std::optional<std::set<std::string>>& uuids);

// When the next runnable job becomes due (backoff, expired lease), if any.
boost::asio::awaitable<std::optional<std::chrono::milliseconds>> next_job_due(PipelineContext& ctx);

// replay <workflow>: every job of the workflow starts again as the next attempt.
boost::asio::awaitable<int> replay_workflow(pg::Pool& events, std::string workflow_id);

}  // namespace biomero_reactor
