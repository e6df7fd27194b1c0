#pragma once
// The per-job pipeline over the job store. Every step's outcome is committed before the
// next starts, and only by the reactor holding the job's lease:
//   pending   --report IMPORTING-->  started
//   started   --resolve names, paths-->  archiving  --build .analyzed tree-->  archived
//   archived  --insert upload orders-->  submitted
//   submitted --importer's stage (import_waiter)-->  imported | failed | archived again
// Permanent failures end the job at once as IMPORT_FAILED; transient ones retry with
// backoff up to jobs.max_attempts, storage ones up to jobs.transient_retry_total
// (failure_policy.hpp).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/failure_policy.hpp"
#include "biomero_reactor/group_storage.hpp"
#include "biomero_reactor/import_task.hpp"
#include "biomero_reactor/job_store.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/worker_watch.hpp"

namespace biomero_reactor {

struct OmeroLink;  // omero_step.hpp

// Touched only on the event loop's thread.
struct Counters {
  std::uint64_t jobs_imported = 0, jobs_failed = 0, step_retries = 0, orders_submitted = 0, orders_resubmitted = 0,
                bytes_extracted = 0, bytes_copied = 0;
  std::uint64_t annotations_done = 0, annotation_failures = 0, annotations_given_up = 0;
};

struct PipelineContext {
  const Config& cfg;
  StorageSettings storage;
  JobStore& jobs;
  pg::Pool& importer;  // the events pool itself when the importer's table is in the same database
  bool importer_is_events_db;
  boost::asio::thread_pool& workers;
  std::function<void()> wake_scheduler;  // a job became runnable (resubmission)
  Counters counters;
  Projections projections;  // BIOMERO's projection tables seen so far
  std::shared_ptr<OmeroLink> omero;  // null without omero.web.url
  StorageGate storage_gate;  // closed while a group folder refuses writes (failure_policy.hpp)
  std::shared_ptr<WorkerWatch> watch = std::make_shared<WorkerWatch>();  // the worker pool's tasks
  [[nodiscard]] pg::Pool& events() const { return jobs.pool(); }
};

// host:pid, the lease owner's name unless --instance gives another.
[[nodiscard]] std::string default_instance();

// Runs a claimed job until it is submitted, finished, or scheduled for a retry.
boost::asio::awaitable<void> run_job(PipelineContext& ctx, JobRef job);

// In the caller's transaction on the events database: `also`, then the job's transition;
// then the test hook (test builds can stop the process right after a step commits).
boost::asio::awaitable<void> commit_transition(PipelineContext& ctx, Job& job, JobState to, std::string detail,
                                               std::function<boost::asio::awaitable<void>(pg::Connection&)> also = {});

}  // namespace biomero_reactor
