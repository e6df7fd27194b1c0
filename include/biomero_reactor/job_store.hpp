#pragma once
// Every statement on the reactor's job tables (biomero_reactor.jobs, orders, job_history)
// is here, behind one handle: the pool of the events database, this reactor's instance
// name (the lease owner) and the lease length. A job changes state only through
// transition(), only under this reactor's lease, with its history row and one log line,
// in the caller's transaction. The intake's job rows, the scheduler's claims, the
// importer waiter's reads, and the counts behind `--once`, `status` and `/metrics` all
// go through the same store.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "biomero_reactor/job_state.hpp"
#include "biomero_reactor/orders.hpp"
#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/units.hpp"
#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor {

struct Job {
  std::int64_t id = 0;
  Uuid workflow_id;
  std::string slurm_job_id;
  std::optional<Uuid> analysis_task_id;
  JobState state = JobState::pending;
  int attempt = 1;     // import attempt: a replay starts the next one
  int submission = 1;  // order generation: a resubmission starts the next one
  int step_failures = 0;
  std::optional<std::string> group_name, user_name, images;
  // A handoff's job (handoff_intake): its id and the manifest it came with.
  std::optional<Uuid> handoff_id;
  std::optional<std::string> handoff_manifest, handoff_dir;
  // Since the job entered `archiving` and began waiting for its results (results_wait.hpp).
  std::optional<Duration> results_waited;
  // False for a standalone handoff, whose workflow BIOMERO's event store does not hold:
  // the reactor then writes no task or workflow event for it.
  bool in_event_store = true;
};

struct JobRef {
  std::int64_t id = 0;
  JobState state = JobState::pending;
};

struct WaitingOrder {
  std::string uuid;
  std::int64_t age_ms = 0;  // since it was submitted
  bool alerted = false;     // "still pending" already logged
};

// A submitted job and its current orders.
struct WaitingJob {
  Job job;
  std::vector<WaitingOrder> orders;
  std::int64_t waited_ms = 0;  // since the job was submitted
};

// The job table's gauges for /metrics, read in one go (two cheap statements).
struct JobGauges {
  std::vector<std::pair<std::string, std::int64_t>> jobs_by_state;  // every state, 0 when none
  std::int64_t orders_waiting = 0;                                  // current orders of submitted jobs
  double oldest_waiting_order_age_seconds = 0;  // the oldest of those, since it was submitted; 0 when none
  double oldest_pending_job_age_seconds = 0;    // the oldest pending job, since it became pending; 0 when none
};

struct StatusReport {
  std::int64_t intake_cursor = 0;
  std::int64_t event_store_head = 0;  // the newest event in workflowtracker_events (0: none)
  std::int64_t handoffs_open = 0;     // handoff jobs whose result.json is not written yet
  std::vector<std::pair<std::string, std::int64_t>> jobs_by_state;
  struct Recent {
    std::string workflow_id, job_id, state, error, updated_at, history;
    std::int64_t attempt = 0, submission = 0;
  };
  std::vector<Recent> recent;  // newest first
};

class JobStore {
 public:
  // Called with the state a step ended in and how long it took (metrics).
  using StepObserver = std::function<void(JobState to, double seconds)>;

  JobStore(pg::Pool& pool, std::string instance, Duration lease, StepObserver on_step = {});

  [[nodiscard]] pg::Pool& pool() const { return pool_; }
  [[nodiscard]] const std::string& instance() const { return instance_; }
  [[nodiscard]] Duration lease() const { return lease_; }

  // --- leases ---
  // At start: frees the leases held under this instance's own name (an earlier run of
  // it), so those jobs resume now instead of after the lease. Returns how many.
  boost::asio::awaitable<int> release_own_leases();
  // Leases up to `limit` runnable, due jobs (FOR UPDATE SKIP LOCKED).
  boost::asio::awaitable<std::vector<JobRef>> claim(int limit);
  // LeaseLost when the job is no longer ours.
  boost::asio::awaitable<void> renew(std::int64_t id);
  // When the next runnable job becomes due (backoff, expired lease), if any.
  boost::asio::awaitable<std::optional<Duration>> next_due();
  // The job, if this reactor holds its lease; LeaseLost otherwise.
  boost::asio::awaitable<Job> load(std::int64_t id);

  // --- in the caller's transaction ---
  boost::asio::awaitable<void> transition(pg::Connection& c, Job& job, JobState to, std::string detail);
  // The same as statements, for a pipeline; after_transition() takes its result.
  [[nodiscard]] pg::Statement transition_statement(const Job& job, JobState to, const std::string& detail) const;
  void after_transition(Job& job, JobState to, const pg::Result& r, const std::string& detail) const;

  boost::asio::awaitable<void> record_import_task(pg::Connection& c, const Job& job, const Uuid& task_id);
  boost::asio::awaitable<void> record_archiving(pg::Connection& c, Job& job, std::string group, std::string user,
                                                std::string dir);
  boost::asio::awaitable<void> record_images(pg::Connection& c, Job& job, std::string images_json);
  boost::asio::awaitable<void> record_orders(pg::Connection& c, const Job& job, std::vector<Order> orders);

  // A transient failure: the job is released and due again after `delay`.
  boost::asio::awaitable<void> retry_later(const Job& job, std::string error, Duration delay);
  // Not a failure: the job waits for its results without its lease (results_wait.hpp) and
  // is due again after `delay`; its failures, error and wait's start stay as they are.
  boost::asio::awaitable<void> park(const Job& job, Duration delay);

  // --- waiting for the importer ---
  // Submitted jobs with their current orders; only those with one of `orders` if given.
  boost::asio::awaitable<std::vector<WaitingJob>> waiting(std::optional<std::vector<std::string>> orders);
  boost::asio::awaitable<void> mark_alerted(std::string order_uuid);
  // Statements that take a submitted job for settling (fails the pipeline's check when
  // another reactor holds it) and record its orders' stages.
  [[nodiscard]] pg::Statement take_for_settling_statement(const Job& job) const;
  [[nodiscard]] pg::Statement record_stages_statement(
      const std::vector<std::string>& uuids, const std::vector<std::string>& stages,
      const std::vector<std::optional<std::string>>& descriptions) const;
  // Resubmission: the job goes back to `archived` with the next submission number.
  [[nodiscard]] pg::Statement next_submission_statement(const Job& job) const;
  [[nodiscard]] pg::Statement release_statement(const Job& job) const;

  // --- intake (static: no lease involved) ---
  // Inserts a job row (and its first history row); nullopt when it already existed.
  static boost::asio::awaitable<std::optional<std::int64_t>> insert_job(pg::Connection& c, const Uuid& workflow_id,
                                                                        std::string slurm_job_id,
                                                                        std::optional<Uuid> analysis_task_id,
                                                                        JobState state, std::string detail);

  // A handoff's job (pending, names from its manifest), keyed by its handoff id. nullopt
  // when the handoff already has its job; `conflict` set when another job already imports
  // that workflow's SLURM job.
  struct HandoffRow {
    Uuid handoff_id, workflow_id;
    std::string slurm_job_id, group_name, user_name, dir, manifest_json, detail;
  };
  static boost::asio::awaitable<std::optional<std::int64_t>> insert_handoff_job(pg::Connection& c,
                                                                                const HandoffRow& row,
                                                                                std::string* conflict);

  // --- operators ---
  // replay <workflow>: every job of the workflow starts again as the next attempt.
  static boost::asio::awaitable<int> replay(pg::Pool& pool, std::string workflow_id);
  // Jobs not yet in a terminal state (`run --once` stops at 0).
  static boost::asio::awaitable<std::int64_t> unfinished(pg::Pool& pool);
  // Jobs by state, the orders waiting for the importer and the oldest waiting order and
  // pending job (/metrics; Health reads them at most once a second).
  static boost::asio::awaitable<JobGauges> gauges(pg::Connection& c);
  static boost::asio::awaitable<StatusReport> status(pg::Connection& c, int recent);
  // verify: the published job directories (archived or later), of one workflow or of all,
  // updated since `since` (a timestamp PostgreSQL reads) when given; oldest first.
  struct ArchivedJob {
    std::string workflow_id, job_id, dir;
  };
  static boost::asio::awaitable<std::vector<ArchivedJob>> archived_jobs(pg::Connection& c,
                                                                        std::optional<std::string> workflow_id,
                                                                        std::optional<std::string> since);

 private:
  pg::Pool& pool_;
  std::string instance_;
  Duration lease_;
  StepObserver on_step_;
};

}  // namespace biomero_reactor
