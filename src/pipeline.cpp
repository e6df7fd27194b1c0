#include "biomero_reactor/pipeline.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <random>

#include "biomero_reactor/backoff.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/import_task.hpp"
#include "biomero_reactor/job_dir.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/metadata.hpp"
#include "biomero_reactor/orders.hpp"
#include "biomero_reactor/wakeup.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

struct LeaseLost : std::runtime_error {
  LeaseLost() : std::runtime_error("the job's lease was taken over by another reactor") {}
};

struct Job {
  std::int64_t id = 0;
  Uuid workflow_id;
  std::string slurm_job_id;
  std::optional<Uuid> analysis_task_id;
  std::string state;
  int attempt = 1;
  int submission = 1;
  int step_failures = 0;
  std::optional<std::string> group_name, user_name, images;
};

constexpr std::string_view job_columns =
    "id, workflow_id, slurm_job_id, analysis_task_id, state, attempt, submission, step_failures, group_name, "
    "user_name, images::text";

Job job_from(const pg::Result& r, int i) {
  Job j;
  j.id = r.int64(i, 0);
  j.workflow_id = *Uuid::parse(r.text(i, 1));
  j.slurm_job_id = std::string(r.text(i, 2));
  if (!r.is_null(i, 3)) j.analysis_task_id = Uuid::parse(r.text(i, 3));
  j.state = std::string(r.text(i, 4));
  j.attempt = static_cast<int>(r.int64(i, 5));
  j.submission = static_cast<int>(r.int64(i, 6));
  j.step_failures = static_cast<int>(r.int64(i, 7));
  j.group_name = r.opt_text(i, 8);
  j.user_name = r.opt_text(i, 9);
  j.images = r.opt_text(i, 10);
  return j;
}

std::int64_t ms(Duration d) {
  return d.count();
}

asio::awaitable<Job> load_job(PipelineContext& ctx, std::int64_t id) {
  auto c = co_await ctx.events.acquire();
  auto r = co_await c->query(
      "SELECT " + std::string(job_columns) + " FROM biomero_reactor.jobs WHERE id = $1 AND lease_owner = $2",
      pg::params(id, ctx.instance));
  if (r.rows() == 0) throw LeaseLost();
  co_return job_from(r, 0);
}

asio::awaitable<Workflow> load_workflow(PipelineContext& ctx, const Uuid& id) {
  auto c = co_await ctx.events.acquire();
  co_return decode_workflow(id, co_await load_workflow_events(*c, id));
}

// The one way a job changes state: only under this reactor's lease, with its history row
// and one log line, in the caller's transaction.
asio::awaitable<void> transition(pg::Connection& c, PipelineContext& ctx, Job& job, std::string to,
                                 std::string detail) {
  const bool keep_lease = to == "started" || to == "archiving" || to == "archived";
  auto r = co_await c.query(
      "WITH old AS (SELECT state, updated_at FROM biomero_reactor.jobs WHERE id = $1) "
      "UPDATE biomero_reactor.jobs j SET state = $3, updated_at = clock_timestamp(), "
      " step_failures = CASE WHEN old.state = $3 THEN j.step_failures ELSE 0 END, "  // a retried step keeps its count
      " error = CASE WHEN $3 = 'failed' THEN $6 END, "
      " lease_owner = CASE WHEN $4 THEN j.lease_owner END, "
      " lease_expires_at = CASE WHEN $4 THEN now() + $5 * interval '1 millisecond' END, "
      " finished_at = CASE WHEN $3 IN ('imported', 'failed') THEN now() END "
      "FROM old WHERE j.id = $1 AND j.lease_owner = $2 "
      "RETURNING old.state, extract(epoch FROM clock_timestamp() - old.updated_at)",
      pg::params(job.id, ctx.instance, to, keep_lease, ms(ctx.cfg.jobs.lease), detail));
  if (r.rows() == 0) throw LeaseLost();
  co_await c.query(
      "INSERT INTO biomero_reactor.job_history (job_id, from_state, to_state, attempt, detail, instance) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      pg::params(job.id, std::string(r.text(0, 0)), to, job.attempt, detail, ctx.instance));
  log::info("job " + to, {{"workflow_id", job.workflow_id.str()},
                          {"job_id", job.slurm_job_id},
                          {"state", to},
                          {"from", std::string(r.text(0, 0))},
                          {"attempt", job.attempt},
                          {"duration_s", r.float64(0, 1)},
                          {"detail", detail}});
  if (ctx.step_finished) ctx.step_finished(to, r.float64(0, 1));
  job.state = to;
}

// Tests kill the reactor right after a step commits, as a SIGKILL would.
void maybe_stop_here(const PipelineContext& ctx, const std::string& state) {
  if (!ctx.stop_at_step.empty() && ctx.stop_at_step == state) {
    log::warn("stopping at step (test setting)", {{"state", state}});
    ::_exit(137);
  }
}

asio::awaitable<void> commit_transition(PipelineContext& ctx, Job& job, std::string to, std::string detail,
                                        std::function<asio::awaitable<void>(pg::Connection&)> also = {}) {
  co_await in_transaction(ctx.events, [&](pg::Connection& c) -> asio::awaitable<void> {
    if (also) co_await also(c);
    co_await transition(c, ctx, job, to, detail);
  });
  maybe_stop_here(ctx, to);
}

asio::awaitable<void> renew_lease(PipelineContext& ctx, std::int64_t id) {
  auto c = co_await ctx.events.acquire();
  auto r = co_await c->query(
      "UPDATE biomero_reactor.jobs SET lease_expires_at = now() + $3 * interval '1 millisecond' "
      "WHERE id = $1 AND lease_owner = $2",
      pg::params(id, ctx.instance, ms(ctx.cfg.jobs.lease)));
  if (r.affected() == 0) throw LeaseLost();
}

// Blocking work on the worker pool while the event loop keeps serving and renews the lease.
template <class F>
asio::awaitable<std::invoke_result_t<F>> on_workers(PipelineContext& ctx, std::int64_t job_id, const F& f) {
  using R = std::invoke_result_t<F>;
  auto ex = co_await asio::this_coro::executor;
  auto done = std::make_shared<bool>(false);
  Wakeup wake(ex);
  std::optional<R> result;
  std::exception_ptr error;
  asio::post(ctx.workers, [&, ex, done] {
    try {
      result.emplace(f());
    } catch (...) {
      error = std::current_exception();
    }
    asio::post(ex, [&, done] {
      *done = true;
      wake.notify();
    });
  });
  while (!*done) {
    const bool woken = co_await wake.wait_for(ctx.cfg.jobs.lease / 3);
    if (!woken && !*done) {
      try {
        co_await renew_lease(ctx, job_id);
      } catch (const pg::Error& e) {
        log::warn("cannot renew a job's lease", {{"error", e.what()}});
      }
    }
  }
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

const Task* find_task(const Workflow& wf, const std::optional<Uuid>& id) {
  for (const auto& t : wf.tasks) {
    if (id && t.id == *id) return &t;
  }
  return nullptr;
}

std::optional<std::string> id_param(const boost::json::object& params, std::string_view key) {
  const auto* v = params.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64() && v->get_int64() > 0) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (v->is_string()) {
    std::string s(v->get_string());
    if (!s.empty() && s.size() < 20 && s.find_first_not_of("0123456789") == std::string::npos) return s;
  }
  if (v->is_array() && v->get_array().size() == 1) {
    boost::json::object one{{key, v->get_array()[0]}};
    return id_param(one, key);
  }
  return std::nullopt;
}

Destination resolve_destination(const PipelineContext& ctx, const Workflow& wf, const Job& job,
                                const std::string& group) {
  std::vector<const Task*> tasks;
  if (const Task* t = find_task(wf, job.analysis_task_id)) tasks.push_back(t);
  for (const auto& t : wf.tasks) tasks.push_back(&t);
  for (const Task* t : tasks) {
    if (auto id = id_param(t->params, "Dataset_ID")) return {"Dataset", *id};
    if (auto id = id_param(t->params, "Screen_ID")) return {"Screen", *id};
  }
  if (auto it = ctx.cfg.destination.groups.find(group);
      it != ctx.cfg.destination.groups.end() && !it->second.id.empty()) {
    return it->second;
  }
  if (!ctx.cfg.destination.id.empty()) return {ctx.cfg.destination.type, ctx.cfg.destination.id};
  throw PermanentError(
      "no import destination: the workflow has no Dataset_ID or Screen_ID parameter and the config "
      "sets neither destination.groups." +
      group + ".id nor destination.id");
}

struct Names {
  std::string group, user;
};

Names resolve_names(const PipelineContext& ctx, const Workflow& wf) {
  auto group = group_name_for(ctx.storage, ctx.cfg, wf.group_id);
  if (!group) {
    throw PermanentError("unknown OMERO group id " + std::to_string(wf.group_id) +
                         ": add it to names.groups in the reactor's config or to the group mappings "
                         "(biomero-config.json group_mappings)");
  }
  auto user = user_name_for(ctx.cfg, wf.user_id);
  if (!user) {
    throw PermanentError("unknown OMERO user id " + std::to_string(wf.user_id) +
                         ": add it to names.users in the reactor's config");
  }
  return {*group, *user};
}

asio::awaitable<bool> wait_until_exists(const fs::path& p, Duration limit) {
  auto ex = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::error_code ec;
    if (fs::exists(p, ec)) co_return true;
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    asio::steady_timer t(ex, std::chrono::milliseconds(250));
    co_await t.async_wait(asio::use_awaitable);
  }
}

std::string images_json(const ImageSet& s) {
  boost::json::object o;
  boost::json::array images, labels;
  for (const auto& p : s.images) images.emplace_back(p.string());
  for (const auto& p : s.label_images) labels.emplace_back(p.string());
  o["images"] = std::move(images);
  o["labels"] = std::move(labels);
  return boost::json::serialize(o);
}

ImageSet images_from(const std::string& json) {
  ImageSet s;
  const auto o = boost::json::parse(json).as_object();
  for (const auto& v : o.at("images").as_array()) s.images.emplace_back(std::string(v.as_string()));
  for (const auto& v : o.at("labels").as_array()) s.label_images.emplace_back(std::string(v.as_string()));
  return s;
}

asio::awaitable<void> archive_step(PipelineContext& ctx, Job& job, const Workflow& wf) {
  const Names names = resolve_names(ctx, wf);
  const fs::path base = group_base_path(ctx.storage, names.group);
  resolve_destination(ctx, wf, job, names.group);  // fail before archiving if there is none
  const fs::path dir = job_dir_path(base, wf.id, job.slurm_job_id);
  co_await commit_transition(ctx, job, "archiving", dir.string(), [&](pg::Connection& c) -> asio::awaitable<void> {
    co_await c.query("UPDATE biomero_reactor.jobs SET group_name = $2, user_name = $3, job_dir = $4 WHERE id = $1",
                     pg::params(job.id, names.group, names.user, dir.string()));
  });
  job.group_name = names.group;
  job.user_name = names.user;

  JobSources src;
  const auto expand = [&](const std::string& t) { return fs::path(expand_template(t, job.slurm_job_id, wf.id.str())); };
  const fs::path awaited = ctx.cfg.results.dir.empty() ? expand(ctx.cfg.results.zip) : expand(ctx.cfg.results.dir);
  if (!ctx.cfg.results.dir.empty())
    src.dir = awaited;
  else
    src.zip = awaited;
  const bool appeared = co_await wait_until_exists(awaited, ctx.cfg.results.wait);
  if (!appeared) {
    throw PermanentError("the results of job " + job.slurm_job_id + " did not appear at " + awaited.string() +
                         " within " + format_duration(ctx.cfg.results.wait) + " (results.zip / results.dir)");
  }
  const fs::path log_path = expand(ctx.cfg.results.log);
  if (std::error_code ec; fs::exists(log_path, ec)) {
    src.log = log_path;
  } else {
    log::warn("SLURM log not found; archiving without it",
              {{"workflow_id", wf.id.str()}, {"job_id", job.slurm_job_id}, {"path", log_path.string()}});
  }
  const std::string csv = metadata_csv(wf, job.slurm_job_id, names.user, names.group);
  const ExtractLimits limits{ctx.cfg.limits.max_total_bytes, ctx.cfg.limits.max_entries, ctx.cfg.limits.max_ratio,
                             static_cast<std::size_t>(ctx.cfg.limits.extract_threads)};
  // Named, capturing by reference only: g++ 12 mis-destroys temporaries with owning
  // captures inside a co_await expression.
  const auto build = [&] { return build_job_dir(base, wf.id, job.slurm_job_id, src, limits, csv, true); };
  JobDir built = co_await on_workers(ctx, job.id, build);
  ctx.counters.bytes_extracted += built.bytes_extracted;
  ctx.counters.bytes_copied += built.bytes_copied;
  const std::string images = images_json(built.images);
  std::string detail = std::to_string(built.images.images.size()) + " images, " +
                       std::to_string(built.images.label_images.size()) + " label images";
  if (built.reused) detail += " (directory already published)";
  co_await commit_transition(ctx, job, "archived", detail, [&](pg::Connection& c) -> asio::awaitable<void> {
    co_await c.query("UPDATE biomero_reactor.jobs SET images = $2::jsonb WHERE id = $1", pg::params(job.id, images));
  });
  job.images = images;
}

asio::awaitable<void> record_orders(pg::Connection& c, const Job& job, const std::vector<Order>& orders) {
  for (const auto& o : orders) {
    co_await c.query(
        "INSERT INTO biomero_reactor.orders (order_uuid, job_id, attempt, submission, kind, files) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (order_uuid) DO NOTHING",
        pg::params(o.uuid.str(), job.id, job.attempt, job.submission, o.kind, python_json_list(o.files)));
  }
  co_await c.query("UPDATE biomero_reactor.jobs SET submitted_at = now() WHERE id = $1", pg::params(job.id));
}

asio::awaitable<void> submit_step(PipelineContext& ctx, Job& job, const Workflow& wf) {
  const ImageSet images = images_from(job.images.value_or("{\"images\":[],\"labels\":[]}"));
  const auto orders = plan_orders(wf.id, job.slurm_job_id, job.submission, images, ctx.cfg.import.labels);
  if (orders.empty()) throw PermanentError("no importable images to submit");
  const OrderTarget target{job.group_name.value_or(""), job.user_name.value_or(""),
                           resolve_destination(ctx, wf, job, job.group_name.value_or(""))};
  std::string detail;
  for (const auto& o : orders) detail += (detail.empty() ? "" : ", ") + o.kind + " order " + o.uuid.str();
  if (ctx.importer_is_events_db) {
    co_await commit_transition(ctx, job, "submitted", detail, [&](pg::Connection& c) -> asio::awaitable<void> {
      for (const auto& o : orders) co_await insert_order(c, o, target);
      co_await record_orders(c, job, orders);
    });
  } else {
    // Separate importer database: the order is looked up by uuid first, so a crash
    // between the two commits never duplicates it.
    co_await in_transaction(ctx.importer, [&](pg::Connection& c) -> asio::awaitable<void> {
      for (const auto& o : orders) co_await insert_order(c, o, target);
    });
    co_await commit_transition(ctx, job, "submitted", detail,
                               [&](pg::Connection& c) { return record_orders(c, job, orders); });
  }
  ctx.counters.orders_submitted += orders.size();
  for (const auto& o : orders) {
    log::info("upload order submitted", {{"workflow_id", wf.id.str()},
                                         {"job_id", job.slurm_job_id},
                                         {"order_uuid", o.uuid.str()},
                                         {"stage", std::string(stage_pending)},
                                         {"files", static_cast<std::int64_t>(o.files.size())}});
  }
}

asio::awaitable<void> advance(PipelineContext& ctx, Job& job, const Workflow& wf) {
  const ImportTask task = import_task_for(wf.id, job.slurm_job_id, job.attempt);
  if (job.state == "pending") {
    const std::string detail = "IMPORTING reported as task " + task.id.str();
    co_await commit_transition(ctx, job, "started", detail, [&](pg::Connection& c) -> asio::awaitable<void> {
      co_await report_importing(c, task, wf);
      co_await c.query("UPDATE biomero_reactor.jobs SET import_task_id = $2 WHERE id = $1",
                       pg::params(job.id, task.id.str()));
    });
  }
  if (job.state == "started" || job.state == "archiving") co_await archive_step(ctx, job, wf);
  if (job.state == "archived") co_await submit_step(ctx, job, wf);
}

// IMPORT_FAILED for the user, `failed` for the job; the import task is reported first if
// the job failed before it could be (a workflow that cannot be decoded, say).
asio::awaitable<void> fail_job(PipelineContext& ctx, Job& job, const std::optional<Workflow>& wf, std::string reason) {
  const ImportTask task = import_task_for(job.workflow_id, job.slurm_job_id, job.attempt);
  co_await commit_transition(ctx, job, "failed", reason, [&](pg::Connection& c) -> asio::awaitable<void> {
    if (job.state == "pending") {
      Workflow minimal;
      minimal.id = job.workflow_id;
      const Workflow& known = wf ? *wf : minimal;
      co_await report_importing(c, task, known);
    }
    co_await report_import_failed(c, task, reason);
  });
  ++ctx.counters.jobs_failed;
}

asio::awaitable<void> retry_later(PipelineContext& ctx, Job& job, std::string error) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto delay = backoff_delay(Millis(1000), Millis(60000), static_cast<unsigned>(job.step_failures),
                                   std::uniform_real_distribution<double>(0, 1)(rng));
  auto c = co_await ctx.events.acquire();
  co_await c->query(
      "UPDATE biomero_reactor.jobs SET step_failures = step_failures + 1, error = $3, updated_at = now(), "
      " next_run_at = now() + $4 * interval '1 millisecond', lease_owner = NULL, lease_expires_at = NULL "
      "WHERE id = $1 AND lease_owner = $2",
      pg::params(job.id, ctx.instance, error, delay.count()));
  ++ctx.counters.jobs_retried;
  log::warn("job step failed; will retry", {{"workflow_id", job.workflow_id.str()},
                                            {"job_id", job.slurm_job_id},
                                            {"state", job.state},
                                            {"error", error},
                                            {"retry_in_ms", delay.count()},
                                            {"failures", job.step_failures + 1}});
}

}  // namespace

std::string default_instance() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

asio::awaitable<int> release_own_leases(PipelineContext& ctx) {
  auto c = co_await ctx.events.acquire();
  const auto freed = co_await c->query(
      "UPDATE biomero_reactor.jobs SET lease_owner = NULL, lease_expires_at = NULL "
      "WHERE lease_owner = $1 AND lease_expires_at > now() RETURNING id",
      pg::params(ctx.instance));
  if (freed.rows() > 0) {
    log::info("resuming the jobs this instance held when it last stopped",
              {{"instance", ctx.instance}, {"jobs", freed.rows()}});
  }
  co_return freed.rows();
}

asio::awaitable<std::vector<JobRef>> claim_jobs(PipelineContext& ctx, int limit) {
  auto c = co_await ctx.events.acquire();
  auto r = co_await c->query(
      "WITH c AS (SELECT id FROM biomero_reactor.jobs "
      " WHERE state IN ('pending', 'started', 'archiving', 'archived') AND next_run_at <= now() "
      "   AND (lease_expires_at IS NULL OR lease_expires_at < now()) "
      " ORDER BY next_run_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
      "UPDATE biomero_reactor.jobs j SET lease_owner = $1, lease_expires_at = now() + $3 * interval '1 millisecond' "
      "FROM c WHERE j.id = c.id RETURNING j.id, j.state",
      pg::params(ctx.instance, limit, ms(ctx.cfg.jobs.lease)));
  std::vector<JobRef> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.int64(i, 0), std::string(r.text(i, 1))});
  co_return out;
}

asio::awaitable<std::optional<std::chrono::milliseconds>> next_job_due(PipelineContext& ctx) {
  auto c = co_await ctx.events.acquire();
  auto r = co_await c->query(
      "SELECT ceil(extract(epoch FROM min(greatest(next_run_at, coalesce(lease_expires_at, next_run_at))) - now()) "
      "* 1000)::bigint FROM biomero_reactor.jobs WHERE state IN ('pending', 'started', 'archiving', 'archived')");
  if (r.is_null(0, 0)) co_return std::nullopt;
  co_return std::chrono::milliseconds(std::max<std::int64_t>(0, r.int64(0, 0)));
}

asio::awaitable<void> run_job(PipelineContext& ctx, JobRef ref) {
  std::optional<Job> job;
  std::optional<Workflow> wf;
  std::string error;
  bool permanent = false;
  try {
    job = co_await load_job(ctx, ref.id);
    try {
      wf = co_await load_workflow(ctx, job->workflow_id);
    } catch (const CodecError& e) {
      throw PermanentError(std::string("cannot decode the workflow's events: ") + e.what());
    }
    co_await advance(ctx, *job, *wf);
    co_return;
  } catch (const LeaseLost& e) {
    log::warn(e.what(), {{"job", ref.id}});
    co_return;
  } catch (const PermanentError& e) {
    error = e.what();
    permanent = true;
  } catch (const ConfigError& e) {
    error = e.what();
    permanent = true;
  } catch (const GroupStorageError& e) {
    error = e.what();
    permanent = true;
  } catch (const std::exception& e) {
    error = e.what();  // database, storage: worth another try
  }
  if (!job) co_return;  // could not even load it: the lease expires and it is claimed again
  try {
    if (permanent || job->step_failures + 1 >= ctx.cfg.jobs.max_attempts) {
      co_await fail_job(ctx, *job, wf, error);
    } else {
      co_await retry_later(ctx, *job, error);
    }
  } catch (const std::exception& e) {
    log::error("cannot record a job's failure; it will be taken up again when its lease expires",
               {{"job_id", job->slurm_job_id}, {"error", e.what()}, {"failure", error}});
  }
}

asio::awaitable<int> check_orders(PipelineContext& ctx, const std::optional<std::set<std::string>>& uuids) {
  struct Waiting {
    Job job;
    std::vector<std::string> orders;
    std::int64_t waited_ms = 0;
    std::vector<std::int64_t> order_age_ms;
    std::vector<bool> alerted;
  };
  std::map<std::int64_t, Waiting> waiting;
  {
    std::optional<std::string> filter;
    if (uuids) {
      filter = "{";
      for (const auto& u : *uuids) *filter += (filter->size() > 1 ? "," : "") + u;
      *filter += "}";
    }
    auto c = co_await ctx.events.acquire();
    auto r = co_await c->query(
        "SELECT j.id, j.workflow_id, j.slurm_job_id, j.analysis_task_id, j.state, j.attempt, j.submission, "
        " j.step_failures, j.group_name, j.user_name, j.images::text, o.order_uuid, "
        " (extract(epoch FROM now() - j.submitted_at) * 1000)::bigint, "
        " (extract(epoch FROM now() - o.submitted_at) * 1000)::bigint, o.alerted_at IS NOT NULL "
        "FROM biomero_reactor.jobs j JOIN biomero_reactor.orders o "
        "  ON o.job_id = j.id AND o.attempt = j.attempt AND o.submission = j.submission "
        "WHERE j.state = 'submitted' AND ($1::uuid[] IS NULL OR j.id IN "
        "  (SELECT job_id FROM biomero_reactor.orders WHERE order_uuid = ANY($1::uuid[]))) "
        "ORDER BY j.id, o.kind",
        pg::params(pg::Param(filter)));
    for (int i = 0; i < r.rows(); ++i) {
      auto& w = waiting[r.int64(i, 0)];
      if (w.orders.empty()) w.job = job_from(r, i);
      w.orders.emplace_back(r.text(i, 11));
      w.waited_ms = r.int64(i, 12);
      w.order_age_ms.push_back(r.int64(i, 13));
      w.alerted.push_back(r.boolean(i, 14));
    }
  }
  if (waiting.empty()) co_return 0;
  std::vector<std::string> all;
  for (const auto& [id, w] : waiting) all.insert(all.end(), w.orders.begin(), w.orders.end());
  std::map<std::string, Stage> stages;
  {
    auto c = co_await ctx.importer.acquire();
    stages = co_await latest_stages(*c, all);
  }

  int still_waiting = 0;
  for (auto& [id, w] : waiting) {
    std::size_t completed = 0;
    std::string failure, restart, current;
    bool stuck = false;
    for (std::size_t i = 0; i < w.orders.size(); ++i) {
      auto it = stages.find(w.orders[i]);
      const std::string stage = it == stages.end() ? std::string(stage_pending) : it->second.stage;
      current = stage;
      if (stage == stage_completed) {
        ++completed;
      } else if (stage == stage_failed) {
        if (it->second.description) {
          failure += (failure.empty() ? "" : "; ") + *it->second.description;
        } else {
          restart = "the importer stopped during the import (Import Failed without a description)";
        }
      } else if (stage == stage_pending && w.order_age_ms[i] > ms(ctx.cfg.import.pending_alert)) {
        stuck = true;
        if (!w.alerted[i]) {
          log::warn("upload order still pending: is BIOMERO.importer running and picking up orders?",
                    {{"workflow_id", w.job.workflow_id.str()},
                     {"job_id", w.job.slurm_job_id},
                     {"order_uuid", w.orders[i]},
                     {"stage", stage},
                     {"duration_s", w.order_age_ms[i] / 1000.0}});
          auto c = co_await ctx.events.acquire();
          co_await c->query("UPDATE biomero_reactor.orders SET alerted_at = now() WHERE order_uuid = $1",
                            pg::params(w.orders[i]));
        }
      }
    }
    enum class Outcome { wait, imported, failed, resubmit } outcome = Outcome::wait;
    std::string reason;
    if (!failure.empty()) {
      outcome = Outcome::failed;
      reason = failure;
    } else if (!restart.empty() || stuck) {
      reason = !restart.empty()
                   ? restart
                   : "the order stayed in Import Pending for over " + format_duration(ctx.cfg.import.pending_alert);
      outcome = w.job.submission < ctx.cfg.import.max_attempts ? Outcome::resubmit : Outcome::failed;
      if (outcome == Outcome::failed) reason += " (after " + std::to_string(w.job.submission) + " submissions)";
    } else if (completed == w.orders.size()) {
      outcome = Outcome::imported;
    } else if (w.waited_ms > ms(ctx.cfg.import.timeout)) {
      outcome = Outcome::failed;
      reason = "no result from BIOMERO.importer within " + format_duration(ctx.cfg.import.timeout) +
               " (last stage: " + current + ")";
    }
    if (outcome == Outcome::wait) {
      ++still_waiting;
      continue;
    }
    Job& job = w.job;
    const ImportTask task = import_task_for(job.workflow_id, job.slurm_job_id, job.attempt);
    try {
      co_await in_transaction(ctx.events, [&](pg::Connection& c) -> asio::awaitable<void> {
        // Take the job: another reactor may be finishing it right now.
        auto got = co_await c.query(
            "UPDATE biomero_reactor.jobs SET lease_owner = $2, lease_expires_at = now() + $4 * interval '1 "
            "millisecond' "
            "WHERE id = $1 AND state = 'submitted' AND submission = $3 "
            "  AND (lease_expires_at IS NULL OR lease_expires_at < now() OR lease_owner = $2) RETURNING id",
            pg::params(job.id, ctx.instance, job.submission, ms(ctx.cfg.jobs.lease)));
        if (got.rows() == 0) throw LeaseLost();
        for (const auto& u : w.orders) {
          auto it = stages.find(u);
          if (it == stages.end()) continue;
          co_await c.query("UPDATE biomero_reactor.orders SET stage = $2, description = $3 WHERE order_uuid = $1",
                           pg::params(u, it->second.stage, pg::Param(it->second.description)));
        }
        if (outcome == Outcome::imported) {
          const ImageSet images = images_from(job.images.value_or("{\"images\":[],\"labels\":[]}"));
          const auto n = images.images.size() + images.label_images.size();
          const std::string result = "Imported " + std::to_string(n) + (n == 1 ? " image" : " images");
          co_await report_imported(c, task, result);
          co_await transition(c, ctx, job, "imported", "all upload orders completed");
        } else if (outcome == Outcome::failed) {
          co_await report_import_failed(c, task, reason);
          co_await transition(c, ctx, job, "failed", reason);
          co_await c.query("UPDATE biomero_reactor.jobs SET error = $2 WHERE id = $1", pg::params(job.id, reason));
        } else {
          co_await c.query(
              "UPDATE biomero_reactor.jobs SET submission = submission + 1, next_run_at = now() WHERE id = $1",
              pg::params(job.id));
          job.submission += 1;
          co_await transition(c, ctx, job, "archived", "resubmitting: " + reason);
          co_await c.query("UPDATE biomero_reactor.jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
                           pg::params(job.id));
          co_await c.query("NOTIFY biomero_reactor_jobs");
        }
      });
    } catch (const LeaseLost&) {
      continue;  // finished by another reactor
    }
    if (outcome == Outcome::imported) ++ctx.counters.jobs_imported;
    if (outcome == Outcome::failed) ++ctx.counters.jobs_failed;
    if (outcome == Outcome::resubmit) {
      ++ctx.counters.orders_resubmitted;
      if (ctx.wake_scheduler) ctx.wake_scheduler();
    }
    maybe_stop_here(ctx, job.state);
  }
  co_return still_waiting;
}

asio::awaitable<int> replay_workflow(pg::Pool& events, std::string workflow_id) {
  int n = 0;
  co_await in_transaction(events, [&](pg::Connection& c) -> asio::awaitable<void> {
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

}  // namespace biomero_reactor
