#include "biomero_reactor/job_store.hpp"

#include <algorithm>

#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

// The one column list of a job, in the order job_from() reads it.
constexpr std::string_view job_columns =
    "j.id, j.workflow_id, j.slurm_job_id, j.analysis_task_id, j.state, j.attempt, j.submission, j.step_failures, "
    "j.group_name, j.user_name, j.images::text, j.handoff_id, j.handoff_manifest::text, j.handoff_dir, "
    "(extract(epoch FROM now() - j.results_wait_since) * 1000)::bigint, "
    "(j.handoff_id IS NULL OR EXISTS (SELECT 1 FROM public.workflowtracker_events e "
    " WHERE e.originator_id = j.workflow_id))";
constexpr int job_column_count = 16;

Job job_from(const pg::Result& r, int i) {
  Job j;
  j.id = r.int64(i, 0);
  j.workflow_id = *Uuid::parse(r.text(i, 1));
  j.slurm_job_id = std::string(r.text(i, 2));
  if (!r.is_null(i, 3)) j.analysis_task_id = Uuid::parse(r.text(i, 3));
  j.state = job_state_from(r.text(i, 4)).value_or(JobState::failed);
  j.attempt = static_cast<int>(r.int64(i, 5));
  j.submission = static_cast<int>(r.int64(i, 6));
  j.step_failures = static_cast<int>(r.int64(i, 7));
  j.group_name = r.opt_text(i, 8);
  j.user_name = r.opt_text(i, 9);
  j.images = r.opt_text(i, 10);
  if (!r.is_null(i, 11)) j.handoff_id = Uuid::parse(r.text(i, 11));
  j.handoff_manifest = r.opt_text(i, 12);
  j.handoff_dir = r.opt_text(i, 13);
  if (!r.is_null(i, 14)) j.results_waited = Duration(r.int64(i, 14));
  j.in_event_store = r.boolean(i, 15);
  return j;
}

std::string runnable_states() {
  return pg::array_literal(job_state_names(is_runnable));
}

std::string terminal_states() {
  return pg::array_literal(job_state_names(is_terminal));
}

}  // namespace

JobStore::JobStore(pg::Pool& pool, std::string instance, Duration lease, StepObserver on_step)
    : pool_(pool), instance_(std::move(instance)), lease_(lease), on_step_(std::move(on_step)) {}

asio::awaitable<int> JobStore::release_own_leases() {
  auto c = co_await pool_.acquire();
  const auto freed = co_await c->query(
      "UPDATE biomero_reactor.jobs SET lease_owner = NULL, lease_expires_at = NULL "
      "WHERE lease_owner = $1 AND lease_expires_at > now() RETURNING id",
      pg::params(instance_));
  if (freed.rows() > 0) {
    log::info("resuming the jobs this instance held when it last stopped",
              {{"instance", instance_}, {"jobs", freed.rows()}});
  }
  co_return freed.rows();
}

asio::awaitable<std::vector<JobRef>> JobStore::claim(int limit) {
  auto c = co_await pool_.acquire();
  auto r = co_await c->query(
      "WITH c AS (SELECT id FROM biomero_reactor.jobs "
      " WHERE state = ANY($4::text[]) AND next_run_at <= now() "
      "   AND (lease_expires_at IS NULL OR lease_expires_at < now()) "
      " ORDER BY next_run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
      "UPDATE biomero_reactor.jobs j SET lease_owner = $1, lease_expires_at = now() + $3 * interval '1 millisecond' "
      "FROM c WHERE j.id = c.id RETURNING j.id, j.state",
      pg::params(instance_, limit, lease_.count(), runnable_states()));
  std::vector<JobRef> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.int64(i, 0), job_state_from(r.text(i, 1)).value_or(JobState::pending)});
  }
  co_return out;
}

asio::awaitable<void> JobStore::renew(std::int64_t id) {
  auto c = co_await pool_.acquire();
  auto r = co_await c->query(
      "UPDATE biomero_reactor.jobs SET lease_expires_at = now() + $3 * interval '1 millisecond' "
      "WHERE id = $1 AND lease_owner = $2",
      pg::params(id, instance_, lease_.count()));
  if (r.affected() == 0) throw LeaseLost();
}

asio::awaitable<std::optional<Duration>> JobStore::next_due() {
  auto c = co_await pool_.acquire();
  auto r = co_await c->query(
      "SELECT ceil(extract(epoch FROM min(greatest(next_run_at, coalesce(lease_expires_at, next_run_at))) - now()) "
      "* 1000)::bigint FROM biomero_reactor.jobs WHERE state = ANY($1::text[])",
      pg::params(runnable_states()));
  if (r.is_null(0, 0)) co_return std::nullopt;
  co_return Duration(std::max<std::int64_t>(0, r.int64(0, 0)));
}

asio::awaitable<Job> JobStore::load(std::int64_t id) {
  auto c = co_await pool_.acquire();
  auto r = co_await c->query(
      "SELECT " + std::string(job_columns) + " FROM biomero_reactor.jobs j WHERE j.id = $1 AND j.lease_owner = $2",
      pg::params(id, instance_));
  if (r.rows() == 0) throw LeaseLost();
  co_return job_from(r, 0);
}

pg::Statement JobStore::transition_statement(const Job& job, JobState to, const std::string& detail) const {
  // One statement: the state change (only under our lease) and its history row.
  return {
      "WITH old AS (SELECT state, updated_at FROM biomero_reactor.jobs WHERE id = $1), "
      "upd AS (UPDATE biomero_reactor.jobs j SET state = $3, updated_at = clock_timestamp(), "
      "   step_failures = CASE WHEN old.state = $3 THEN j.step_failures ELSE 0 END, "  // a retried step keeps its count
      "   error = CASE WHEN $3 = 'failed' THEN $6 END, "
      "   lease_owner = CASE WHEN $4 THEN j.lease_owner END, "
      "   lease_expires_at = CASE WHEN $4 THEN now() + $5 * interval '1 millisecond' END, "
      "   finished_at = CASE WHEN $8 THEN now() END "
      " FROM old WHERE j.id = $1 AND j.lease_owner = $2 "
      " RETURNING old.state AS from_state, extract(epoch FROM clock_timestamp() - old.updated_at) AS seconds), "
      "hist AS (INSERT INTO biomero_reactor.job_history (job_id, from_state, to_state, attempt, detail, instance) "
      " SELECT $1, from_state, $3, $7, $6, $2 FROM upd) "
      "SELECT from_state, seconds FROM upd",
      pg::params(job.id, instance_, std::string(to_string(to)), keeps_lease(to), lease_.count(), detail, job.attempt,
                 is_terminal(to))};
}

void JobStore::after_transition(Job& job, JobState to, const pg::Result& r, const std::string& detail) const {
  if (r.rows() == 0) throw LeaseLost();
  const std::string from(r.text(0, 0));
  const double seconds = r.float64(0, 1);
  // A failed job is what an operator alerts on: error. Every other step is info.
  const log::Level level = to == JobState::failed ? log::Level::error : log::Level::info;
  log::write(level, "job " + std::string(to_string(to)),
             {{"workflow_id", job.workflow_id.str()},
              {"job_id", job.slurm_job_id},
              {"state", std::string(to_string(to))},
              {"from", from},
              {"attempt", job.attempt},
              {"duration_s", seconds},
              {"detail", detail}});
  if (on_step_) on_step_(to, seconds);
  job.state = to;
}

asio::awaitable<void> JobStore::transition(pg::Connection& c, Job& job, JobState to, std::string detail) {
  const pg::Statement st = transition_statement(job, to, detail);
  const pg::Result r = co_await c.query(st.sql, st.params);
  after_transition(job, to, r, detail);
}

asio::awaitable<void> JobStore::record_import_task(pg::Connection& c, const Job& job, const Uuid& task_id) {
  co_await c.query("UPDATE biomero_reactor.jobs SET import_task_id = $2 WHERE id = $1",
                   pg::params(job.id, task_id.str()));
}

asio::awaitable<void> JobStore::record_archiving(pg::Connection& c, Job& job, std::string group, std::string user,
                                                 std::string dir) {
  co_await c.query(
      "UPDATE biomero_reactor.jobs SET group_name = $2, user_name = $3, job_dir = $4, results_wait_since = now() "
      "WHERE id = $1",
      pg::params(job.id, group, user, dir));
  job.results_waited = Duration(0);
  job.group_name = group;
  job.user_name = user;
}

asio::awaitable<void> JobStore::record_images(pg::Connection& c, Job& job, std::string images_json) {
  co_await c.query("UPDATE biomero_reactor.jobs SET images = $2::jsonb WHERE id = $1", pg::params(job.id, images_json));
  job.images = images_json;
}

asio::awaitable<void> JobStore::record_orders(pg::Connection& c, const Job& job, std::vector<Order> orders) {
  for (const auto& o : orders) {
    co_await c.query(
        "INSERT INTO biomero_reactor.orders (order_uuid, job_id, attempt, submission, kind, files) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (order_uuid) DO NOTHING",
        pg::params(o.uuid.str(), job.id, job.attempt, job.submission, o.kind, python_json_list(o.files)));
  }
  co_await c.query("UPDATE biomero_reactor.jobs SET submitted_at = now() WHERE id = $1", pg::params(job.id));
}

asio::awaitable<void> JobStore::retry_later(const Job& job, std::string error, Duration delay) {
  auto c = co_await pool_.acquire();
  co_await c->query(
      "UPDATE biomero_reactor.jobs SET step_failures = step_failures + 1, error = $3, updated_at = now(), "
      " next_run_at = now() + $4 * interval '1 millisecond', lease_owner = NULL, lease_expires_at = NULL, "
      " results_wait_since = NULL "  // the retry waits for the results afresh
      "WHERE id = $1 AND lease_owner = $2",
      pg::params(job.id, instance_, error, delay.count()));
}

asio::awaitable<void> JobStore::park(const Job& job, Duration delay) {
  auto c = co_await pool_.acquire();
  co_await c->query(
      "UPDATE biomero_reactor.jobs SET next_run_at = now() + $3 * interval '1 millisecond', "
      " lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2",
      pg::params(job.id, instance_, delay.count()));
}

asio::awaitable<std::vector<WaitingJob>> JobStore::waiting(std::optional<std::vector<std::string>> orders) {
  std::optional<std::string> filter;
  if (orders) filter = pg::array_literal(*orders);
  auto c = co_await pool_.acquire();
  auto r =
      co_await c->query("SELECT " + std::string(job_columns) +
                            ", o.order_uuid, (extract(epoch FROM now() - j.submitted_at) * 1000)::bigint, "
                            " (extract(epoch FROM now() - o.submitted_at) * 1000)::bigint, o.alerted_at IS NOT NULL "
                            "FROM biomero_reactor.jobs j JOIN biomero_reactor.orders o "
                            "  ON o.job_id = j.id AND o.attempt = j.attempt AND o.submission = j.submission "
                            "WHERE j.state = 'submitted' AND ($1::uuid[] IS NULL OR j.id IN "
                            "  (SELECT job_id FROM biomero_reactor.orders WHERE order_uuid = ANY($1::uuid[]))) "
                            "ORDER BY j.id, o.kind",
                        pg::params(pg::Param(filter)));
  std::vector<WaitingJob> out;
  constexpr int k = job_column_count;
  for (int i = 0; i < r.rows(); ++i) {
    if (out.empty() || out.back().job.id != r.int64(i, 0)) {
      out.push_back({job_from(r, i), {}, r.int64(i, k + 1)});
    }
    out.back().orders.push_back({std::string(r.text(i, k)), r.int64(i, k + 2), r.boolean(i, k + 3)});
  }
  co_return out;
}

asio::awaitable<void> JobStore::mark_alerted(std::string order_uuid) {
  auto c = co_await pool_.acquire();
  co_await c->query("UPDATE biomero_reactor.orders SET alerted_at = now() WHERE order_uuid = $1",
                    pg::params(order_uuid));
}

pg::Statement JobStore::take_for_settling_statement(const Job& job) const {
  return {
      "UPDATE biomero_reactor.jobs SET lease_owner = $2, lease_expires_at = now() + $4 * interval '1 millisecond' "
      "WHERE id = $1 AND state = 'submitted' AND submission = $3 "
      "  AND (lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = $2) RETURNING id",
      pg::params(job.id, instance_, job.submission, lease_.count())};
}

pg::Statement JobStore::record_stages_statement(const std::vector<std::string>& uuids,
                                                const std::vector<std::string>& stages,
                                                const std::vector<std::optional<std::string>>& descriptions) const {
  std::vector<std::optional<std::string>> quoted(stages.begin(), stages.end());
  return {
      "UPDATE biomero_reactor.orders o SET stage = s.stage, description = s.description "
      "FROM unnest($1::uuid[], $2::text[], $3::text[]) AS s(order_uuid, stage, description) "
      "WHERE o.order_uuid = s.order_uuid",
      pg::params(pg::array_literal(uuids), pg::array_literal(quoted), pg::array_literal(descriptions))};
}

pg::Statement JobStore::next_submission_statement(const Job& job) const {
  return {"UPDATE biomero_reactor.jobs SET submission = submission + 1, next_run_at = now() WHERE id = $1",
          pg::params(job.id)};
}

pg::Statement JobStore::release_statement(const Job& job) const {
  return {"UPDATE biomero_reactor.jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
          pg::params(job.id)};
}

asio::awaitable<std::optional<std::int64_t>> JobStore::insert_job(pg::Connection& c, const Uuid& workflow_id,
                                                                  std::string slurm_job_id,
                                                                  std::optional<Uuid> analysis_task_id, JobState state,
                                                                  std::string detail) {
  const bool skipped = state == JobState::skipped;
  const std::string task_id = analysis_task_id ? analysis_task_id->str() : std::string();
  const std::string error = skipped ? detail : std::string();
  const pg::Params row = pg::params(workflow_id.str(), slurm_job_id, pg::null_if_empty(task_id),
                                    std::string(to_string(state)), pg::null_if_empty(error));
  auto job = co_await c.query(
      "INSERT INTO biomero_reactor.jobs (workflow_id, slurm_job_id, analysis_task_id, state, error, finished_at) "
      "VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'skipped' THEN now() END) "
      "ON CONFLICT (workflow_id, slurm_job_id) DO NOTHING RETURNING id",
      row);
  if (job.rows() == 0) co_return std::nullopt;
  const std::int64_t id = job.int64(0, 0);
  co_await c.query("INSERT INTO biomero_reactor.job_history (job_id, to_state, attempt, detail) VALUES ($1, $2, 1, $3)",
                   pg::params(id, std::string(to_string(state)), detail));
  co_return id;
}

asio::awaitable<std::optional<std::int64_t>> JobStore::insert_handoff_job(pg::Connection& c, const HandoffRow& row,
                                                                          std::string* conflict) {
  auto job = co_await c.query(
      "INSERT INTO biomero_reactor.jobs (workflow_id, slurm_job_id, state, group_name, user_name, handoff_id, "
      " handoff_dir, handoff_manifest) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7::jsonb) "
      "ON CONFLICT DO NOTHING RETURNING id",
      pg::params(row.workflow_id.str(), row.slurm_job_id, row.group_name, row.user_name, row.handoff_id.str(), row.dir,
                 row.manifest_json));
  if (job.rows() == 0) {
    auto other = co_await c.query(
        "SELECT id, coalesce(handoff_id::text, '') FROM biomero_reactor.jobs "
        "WHERE handoff_id = $1 OR (workflow_id = $2 AND slurm_job_id = $3) ORDER BY (handoff_id = $1) DESC LIMIT 1",
        pg::params(row.handoff_id.str(), row.workflow_id.str(), row.slurm_job_id));
    if (conflict != nullptr && other.rows() > 0 && other.text(0, 1) != row.handoff_id.str()) {
      *conflict = "SLURM job " + row.slurm_job_id + " of workflow " + row.workflow_id.str() +
                  " already has a job (id " + std::to_string(other.int64(0, 0)) + ")";
    }
    co_return std::nullopt;
  }
  const std::int64_t id = job.int64(0, 0);
  co_await c.query(
      "INSERT INTO biomero_reactor.job_history (job_id, to_state, attempt, detail) VALUES ($1, 'pending', 1, $2)",
      pg::params(id, row.detail));
  co_return id;
}

asio::awaitable<int> JobStore::replay(pg::Pool& pool, std::string workflow_id) {
  int n = 0;
  co_await in_transaction(pool, [&](pg::Connection& c) -> asio::awaitable<void> {
    auto r = co_await c.query(
        "UPDATE biomero_reactor.jobs SET state = 'pending', attempt = attempt + 1, submission = submission + 1, "
        " step_failures = 0, next_run_at = now(), lease_owner = NULL, lease_expires_at = NULL, error = NULL, "
        " images = NULL, submitted_at = NULL, finished_at = NULL, updated_at = now() "
        "WHERE workflow_id = $1 RETURNING id, attempt, slurm_job_id",
        pg::params(workflow_id));
    n = r.rows();
    for (int i = 0; i < r.rows(); ++i) {
      co_await c.query(
          "INSERT INTO biomero_reactor.job_history (job_id, to_state, attempt, detail) VALUES ($1, 'pending', $2, "
          "'replay')",
          pg::params(r.int64(i, 0), r.int64(i, 1)));
      log::info("job replayed", {{"workflow_id", workflow_id},
                                 {"job_id", std::string(r.text(i, 2))},
                                 {"attempt", r.int64(i, 1)},
                                 {"state", "pending"}});
    }
  });
  co_return n;
}

asio::awaitable<std::int64_t> JobStore::unfinished(pg::Pool& pool) {
  auto c = co_await pool.acquire();
  auto r = co_await c->query("SELECT count(*) FROM biomero_reactor.jobs WHERE NOT state = ANY($1::text[])",
                             pg::params(terminal_states()));
  co_return r.int64(0, 0);
}

asio::awaitable<JobGauges> JobStore::gauges(pg::Connection& c) {
  JobGauges out;
  auto by_state = co_await c.query("SELECT state, count(*) FROM biomero_reactor.jobs GROUP BY state");
  for (const JobState s : all_job_states) {
    std::int64_t n = 0;
    for (int i = 0; i < by_state.rows(); ++i) {
      if (by_state.text(i, 0) == to_string(s)) n = by_state.int64(i, 1);
    }
    out.jobs_by_state.emplace_back(std::string(to_string(s)), n);
  }
  // Waiting orders: the current submission's orders of submitted jobs (the partial index
  // jobs_submitted_idx). A pending job's age: its last history row, the one that made it
  // pending (a retry's backoff does not reset it; updated_at would).
  auto r = co_await c.query(
      "WITH waiting AS (SELECT o.submitted_at FROM biomero_reactor.orders o JOIN biomero_reactor.jobs j "
      "  ON j.id = o.job_id AND o.attempt = j.attempt AND o.submission = j.submission WHERE j.state = 'submitted') "
      "SELECT (SELECT count(*) FROM waiting), "
      " (SELECT coalesce(extract(epoch FROM now() - min(submitted_at)), 0)::float8 FROM waiting), "
      " (SELECT coalesce(extract(epoch FROM now() - min(h.at)), 0)::float8 FROM biomero_reactor.jobs j "
      "  CROSS JOIN LATERAL (SELECT at FROM biomero_reactor.job_history h WHERE h.job_id = j.id "
      "   ORDER BY h.id DESC LIMIT 1) h WHERE j.state = 'pending')");
  out.orders_waiting = r.int64(0, 0);
  out.oldest_waiting_order_age_seconds = std::max(0.0, r.float64(0, 1));
  out.oldest_pending_job_age_seconds = std::max(0.0, r.float64(0, 2));
  co_return out;
}

asio::awaitable<std::vector<JobStore::ArchivedJob>> JobStore::archived_jobs(pg::Connection& c,
                                                                            std::optional<std::string> workflow_id,
                                                                            std::optional<std::string> since) {
  const auto published = job_state_names(
      [](JobState s) { return s == JobState::archived || s == JobState::submitted || s == JobState::imported; });
  const pg::Params params =
      pg::params(pg::array_literal(published), workflow_id ? pg::Param(*workflow_id) : pg::Param{},
                 since ? pg::Param(*since) : pg::Param{});
  auto r = co_await c.query(
      "SELECT workflow_id, slurm_job_id, job_dir FROM biomero_reactor.jobs "
      "WHERE job_dir IS NOT NULL AND state = ANY($1::text[]) AND ($2::uuid IS NULL OR workflow_id = $2::uuid) "
      "AND ($3::timestamptz IS NULL OR updated_at >= $3::timestamptz) ORDER BY id",
      params);
  std::vector<ArchivedJob> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({std::string(r.text(i, 0)), std::string(r.text(i, 1)), std::string(r.text(i, 2))});
  co_return out;
}

asio::awaitable<StatusReport> JobStore::status(pg::Connection& c, int recent) {
  StatusReport out;
  auto cur = co_await c.query("SELECT last_event_id FROM biomero_reactor.intake_cursor");
  out.intake_cursor = cur.int64(0, 0);
  auto head = co_await c.query(
      "SELECT coalesce(max(id), 0) FROM public.workflowtracker_events");
  out.event_store_head = head.int64(0, 0);
  auto open = co_await c.query(
      "SELECT count(*) FROM biomero_reactor.jobs WHERE handoff_id IS NOT NULL AND handoff_cleaned_at IS NULL "
      " AND NOT coalesce(handoff_result_at >= finished_at, false)");
  out.handoffs_open = open.int64(0, 0);
  auto r = co_await c.query("SELECT state, count(*) FROM biomero_reactor.jobs GROUP BY state ORDER BY state");
  for (int i = 0; i < r.rows(); ++i) out.jobs_by_state.emplace_back(r.text(i, 0), r.int64(i, 1));
  auto j = co_await c.query(
      "SELECT j.workflow_id, j.slurm_job_id, j.state, j.attempt, j.submission, coalesce(j.error, ''), "
      " to_char(j.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      " (SELECT string_agg(h.to_state, ' > ' ORDER BY h.id) FROM biomero_reactor.job_history h "
      "  WHERE h.job_id = j.id) "
      "FROM biomero_reactor.jobs j ORDER BY j.updated_at DESC LIMIT $1",
      pg::params(recent));
  for (int i = 0; i < j.rows(); ++i) {
    out.recent.push_back({std::string(j.text(i, 0)), std::string(j.text(i, 1)), std::string(j.text(i, 2)),
                          std::string(j.text(i, 5)), std::string(j.text(i, 6)), std::string(j.text(i, 7)),
                          j.int64(i, 3), j.int64(i, 4)});
  }
  co_return out;
}

}  // namespace biomero_reactor
