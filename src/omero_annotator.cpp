#include "biomero_reactor/omero_annotator.hpp"

#include <boost/json/parse.hpp>
#include <fstream>
#include <random>
#include <sstream>

#include "biomero_reactor/backoff.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/import_task.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/omero_annotations.hpp"
#include "biomero_reactor/omero_step.hpp"
#include "biomero_reactor/test_hooks.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

constexpr int claim_limit = 4;

struct DueJob {
  std::int64_t id = 0;
  Uuid workflow_id;
  std::string slurm_job_id;
  int attempt = 1;
  std::string user_name;
  OmeroDestination destination;
  int tries = 0;  // annotation attempts before this one
  Duration since_import{0};
  std::optional<std::string> job_dir;
  std::optional<Uuid> handoff_id;
};

asio::awaitable<std::vector<DueJob>> claim(PipelineContext& ctx) {
  auto c = co_await ctx.events().acquire();
  // Pushing annotation_next_at a lease ahead is the claim: a reactor that dies mid-way
  // leaves the job due again after it.
  auto r = co_await c->query(
      "WITH c AS (SELECT id FROM biomero_reactor.jobs WHERE state = 'imported' AND annotation_state = 'pending' "
      "  AND annotation_next_at <= now() ORDER BY annotation_next_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
      "UPDATE biomero_reactor.jobs j SET annotation_next_at = now() + $2 * interval '1 millisecond' FROM c "
      "WHERE j.id = c.id RETURNING j.id, j.workflow_id, j.slurm_job_id, j.attempt, j.user_name, j.destination_type, "
      " j.destination_id, j.annotation_attempts, "
      " (extract(epoch FROM now() - coalesce(j.finished_at, now())) * 1000)::bigint, j.job_dir, "
      " j.handoff_id::text",
      pg::params(claim_limit, ctx.jobs.lease().count()));
  std::vector<DueJob> out;
  for (int i = 0; i < r.rows(); ++i) {
    DueJob d;
    d.id = r.int64(i, 0);
    d.workflow_id = *Uuid::parse(r.text(i, 1));
    d.slurm_job_id = std::string(r.text(i, 2));
    d.attempt = static_cast<int>(r.int64(i, 3));
    d.user_name = r.opt_text(i, 4).value_or("");
    d.destination.kind = r.text(i, 5) == "Screen" ? ContainerKind::screen : ContainerKind::dataset;
    d.destination.id = r.int64(i, 6);
    d.tries = static_cast<int>(r.int64(i, 7));
    d.since_import = Duration(r.int64(i, 8));
    d.job_dir = r.opt_text(i, 9);
    if (const auto h = r.opt_text(i, 10)) d.handoff_id = Uuid::parse(*h);
    out.push_back(std::move(d));
  }
  co_return out;
}

// What BIOMERO posts while its import task is still running: that task's status is IMPORTING.
std::vector<MapAnnotation> annotations_for(const Workflow& wf, const DueJob& d) {
  const ImportTask it = import_task_for(d.workflow_id, d.slurm_job_id, d.attempt, d.handoff_id);
  Task task;
  task.id = it.id;
  task.name = std::string(import_task_name);
  for (const auto& t : wf.tasks) {
    if (t.id == it.id) task = t;
  }
  task.status = "IMPORTING";
  return workflow_annotations(wf, task, d.handoff_id);
}

std::string read_whole(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> strings_of(std::string_view json_list) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(json_list, ec);
  if (ec || !v.is_array()) return out;
  for (const boost::json::value& item : v.as_array()) {
    if (item.is_string()) out.emplace_back(item.get_string());
  }
  return out;
}

struct Outcomes {
  AnnotateJobOutcome annotations;
  RenameLabelsOutcome labels;
};

asio::awaitable<Outcomes> annotate(PipelineContext& ctx, const DueJob& d) {
  Workflow wf;
  std::vector<std::string> uuids;
  std::vector<LabelOrder> label_orders;
  {
    auto c = co_await ctx.events().acquire();
    wf = decode_workflow(d.workflow_id, co_await load_workflow_events(*c, d.workflow_id));
    auto r = co_await c->query(
        "SELECT order_uuid::text, kind, files::text FROM biomero_reactor.orders WHERE job_id = $1 AND attempt = $2 "
        "ORDER BY order_uuid",
        pg::params(d.id, d.attempt));
    for (int i = 0; i < r.rows(); ++i) {
      uuids.emplace_back(r.text(i, 0));
      if (r.text(i, 1) == "labels") label_orders.push_back({uuids.back(), strings_of(r.text(i, 2))});
    }
  }
  const OmeroLink& link = *ctx.omero;
  Outcomes outcome;
  outcome.annotations =
      co_await annotate_job(link.settings, d.user_name, d.destination, uuids, annotations_for(wf, d));
  // BIOMERO's import script renames the label images after annotating them. A failure
  // here is an annotation failure: retried with the annotations (already written ones
  // are found), never a failed import.
  if (!label_orders.empty()) {
    outcome.labels = co_await rename_label_images(link.settings, d.user_name, d.destination, std::move(label_orders));
  }
  if (link.attach_log && d.job_dir) {
    // After the annotations, once: a failure here is reported but not retried, so a
    // retry of the annotations never uploads the log twice.
    const fs::path log_file = fs::path(*d.job_dir) / ("omero-" + d.slurm_job_id + ".log");
    try {
      if (std::error_code ec; fs::is_regular_file(log_file, ec)) {
        co_await attach_file(link.settings, d.user_name, d.destination, log_file.filename().string(),
                             read_whole(log_file));
      }
    } catch (const std::exception& e) {
      log::warn("cannot attach the SLURM log in OMERO", {{"job_id", d.slurm_job_id}, {"error", e.what()}});
    }
  }
  co_return outcome;
}

asio::awaitable<void> record(PipelineContext& ctx, const DueJob& d, const std::string& state, Duration next,
                             const std::string& error, const std::string& detail) {
  std::vector<pg::Statement> statements;
  statements.push_back(
      {"UPDATE biomero_reactor.jobs SET annotation_state = $2, annotation_attempts = annotation_attempts + 1, "
       " annotation_next_at = CASE WHEN $2 = 'pending' THEN now() + $3 * interval '1 millisecond' END, "
       " annotation_error = $4, updated_at = now() WHERE id = $1",
       pg::params(d.id, state, next.count(), pg::null_if_empty(error))});
  statements.push_back(
      {"INSERT INTO biomero_reactor.job_history (job_id, from_state, to_state, attempt, detail, instance) "
       "VALUES ($1, 'imported', 'imported', $2, $3, $4)",
       pg::params(d.id, d.attempt, detail, ctx.jobs.instance())});
  co_await in_transaction(ctx.events(), [&](pg::Connection& c) -> asio::awaitable<void> {
    co_await c.pipeline(statements);
  });
}

asio::awaitable<void> annotate_one(PipelineContext& ctx, const DueJob& d) {
  std::string error;
  bool permanent = false;
  try {
    const Outcomes both = co_await annotate(ctx, d);
    const AnnotateJobOutcome& o = both.annotations;
    std::string detail = "annotations: " + std::to_string(o.objects) + " objects, " +
                         std::to_string(o.annotations_written) + " written, " +
                         std::to_string(o.annotations_present) + " already present";
    if (o.all_of_the_container) detail += " (no image carried an order uuid: all of the container's)";
    if (both.labels.images > 0) {
      detail += "; label images: " + std::to_string(both.labels.images) + ", " +
                std::to_string(both.labels.renamed) + " renamed";
    }
    co_await record(ctx, d, "done", Duration(0), "", detail);
    ++ctx.counters.annotations_done;
    co_return;
  } catch (const OmeroWebError& e) {
    error = e.what();
    permanent = !e.transient();
  } catch (const LeaseLost&) {
    throw;
  } catch (const std::exception& e) {
    error = e.what();
  }
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const Duration delay = backoff_delay(ctx.cfg.jobs.retry_initial, ctx.cfg.jobs.retry_max, static_cast<unsigned>(d.tries),
                                       std::uniform_real_distribution<double>(0, 1)(rng));
  const bool give_up = permanent || d.since_import + delay > ctx.cfg.omero.annotation_retry;
  const std::string state = give_up ? "given_up" : "pending";
  const std::string detail = (give_up ? "annotations given up: " : "annotations failed, retrying: ") + error;
  ++ctx.counters.annotation_failures;
  if (give_up) ++ctx.counters.annotations_given_up;
  log::warn(give_up ? "OMERO annotations given up; the job stays IMPORTED"
                    : "OMERO annotations failed; the job stays IMPORTED, retrying",
            {{"workflow_id", d.workflow_id.str()},
             {"job_id", d.slurm_job_id},
             {"error", error},
             {"attempts", d.tries + 1},
             {"retry_in_ms", give_up ? std::int64_t{-1} : delay.count()}});
  co_await record(ctx, d, state, delay, error, detail);
}

}  // namespace

asio::awaitable<int> annotate_due_jobs(PipelineContext& ctx) {
  if (!ctx.omero || !ctx.omero->annotations) co_return 0;
  const std::vector<DueJob> due = co_await claim(ctx);
  for (const DueJob& d : due) co_await annotate_one(ctx, d);
  co_return static_cast<int>(due.size());
}

asio::awaitable<std::int64_t> annotations_untried(pg::Pool& pool) {
  auto c = co_await pool.acquire();
  auto r = co_await c->query(
      "SELECT count(*) FROM biomero_reactor.jobs WHERE state = 'imported' AND annotation_state = 'pending' "
      "AND annotation_attempts = 0");
  co_return r.int64(0, 0);
}

}  // namespace biomero_reactor
