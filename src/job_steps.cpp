#include "biomero_reactor/job_steps.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "biomero_reactor/destination.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/job_dir.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/metadata.hpp"
#include "biomero_reactor/omero_step.hpp"
#include "biomero_reactor/on_workers.hpp"
#include "biomero_reactor/orders.hpp"
#include "biomero_reactor/output_settings.hpp"
#include "biomero_reactor/results_wait.hpp"
#include "biomero_reactor/settle.hpp"
#include "biomero_reactor/storage_refresh.hpp"
#include "biomero_reactor/test_hooks.hpp"
#include "biomero_reactor/wakeup.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace fs = std::filesystem;

std::string images_json(const ImageSet& s) {
  boost::json::object o;
  boost::json::array images, labels;
  for (const auto& p : s.images) images.emplace_back(p.string());
  for (const auto& p : s.label_images) labels.emplace_back(p.string());
  o["images"] = std::move(images);
  o["labels"] = std::move(labels);
  return boost::json::serialize(o);
}

ImageSet images_from(const std::optional<std::string>& json) {
  ImageSet s;
  if (!json) return s;
  const auto o = boost::json::parse(*json).as_object();
  for (const auto& v : o.at("images").as_array()) s.images.emplace_back(std::string(v.as_string()));
  for (const auto& v : o.at("labels").as_array()) s.label_images.emplace_back(std::string(v.as_string()));
  return s;
}

asio::awaitable<void> archive_step(PipelineContext& ctx, Job& job, const Workflow& wf) {
  refresh_storage(ctx.storage, ctx.cfg, false);  // the mappings current now
  const Names names = co_await job_names(ctx, wf);
  const fs::path base = group_base_path(ctx.storage, names.group);
  check_destination(ctx, wf, job, names.group);  // fail before archiving if none
  const fs::path dir = job_dir_path(base, wf.id, job.slurm_job_id);
  // A parked job (waiting for its results) comes back already archiving, its wait begun.
  const bool parked = job.state == JobState::archiving && job.results_waited.has_value();
  if (!parked) {
    co_await commit_transition(ctx, job, JobState::archiving, dir.string(),
                               [&](pg::Connection& c) -> asio::awaitable<void> {
                                 co_await ctx.jobs.record_archiving(c, job, names.group, names.user, dir.string());
                               });
  }

  JobSources src;
  const auto expand = [&](const std::string& t) { return fs::path(expand_template(t, job.slurm_job_id, wf.id.str())); };
  const fs::path awaited = ctx.cfg.results.dir.empty() ? expand(ctx.cfg.results.zip) : expand(ctx.cfg.results.dir);
  if (!ctx.cfg.results.dir.empty())
    src.dir = awaited;
  else
    src.zip = awaited;
  const std::string slurm_job = job.slurm_job_id;
  // A coroutine, so the task handed to run_on_workers lives in its frame until done.
  const auto on_workers = [&](auto look) -> asio::awaitable<decltype(look())> {
    const auto task = [look, slurm_job] {
      if (test_hooks::file_step_started) test_hooks::file_step_started(slurm_job);
      return look();
    };
    co_return co_await run_on_workers(ctx, job.id, task);
  };
  const SettleResult seen = co_await look_at_results(awaited, ctx.cfg.results.settle, on_workers);
  const ResultsWait w =
      decide_results_wait(seen, job.results_waited.value_or(Duration(0)), ctx.cfg.results.wait, ctx.cfg.results.settle);
  if (w.verdict == ResultsVerdict::park) {
    co_await ctx.jobs.park(job, w.delay);
    if (!parked) {
      log::info("results not complete yet; the job waits for them without holding a slot",
                {{"workflow_id", wf.id.str()},
                 {"job_id", job.slurm_job_id},
                 {"path", awaited.string()},
                 {"wait", format_duration(ctx.cfg.results.wait)}});
    }
    co_return;
  }
  if (w.verdict == ResultsVerdict::missing) {
    throw PermanentError("the results of job " + job.slurm_job_id + " did not appear at " + awaited.string() +
                         " within " + format_duration(ctx.cfg.results.wait) + " (results.zip / results.dir)");
  }
  if (w.verdict == ResultsVerdict::still_changing) {  // still being written: looked at again later
    throw std::runtime_error("the results of job " + job.slurm_job_id + " at " + awaited.string() +
                             " were still changing (or not a complete zip) after " +
                             format_duration(ctx.cfg.results.wait));
  }
  const fs::path log_path = expand(ctx.cfg.results.log);
  // symlink_status: a dangling or hostile link is still "there" and is refused by the copy.
  if (std::error_code ec; fs::exists(fs::symlink_status(log_path, ec))) {
    src.log = log_path;
  } else {
    log::warn("SLURM log not found; archiving without it",
              {{"workflow_id", wf.id.str()}, {"job_id", job.slurm_job_id}, {"path", log_path.string()}});
  }
  const ExtractLimits limits = extract_limits(ctx);
  const JobDirOptions options =
      job_dir_options(ctx, job, wf, metadata_csv(wf, job.slurm_job_id, names.user, names.group));
  const Uuid workflow_id = wf.id;
  const std::string slurm_job_id = job.slurm_job_id;
  // Named, capturing by value: a timed-out step leaves it running (on_workers.hpp).
  const auto build = [base, workflow_id, slurm_job_id, src, limits, options] {
    if (test_hooks::file_step_started) test_hooks::file_step_started(slurm_job_id);
    return build_job_dir(base, workflow_id, slurm_job_id, src, limits, options);
  };
  JobDir built = co_await run_on_workers(ctx, job.id, build);
  ctx.counters.bytes_extracted += built.bytes_extracted;
  ctx.counters.bytes_copied += built.bytes_copied;
  const std::string images = images_json(built.images);
  std::string detail = archived_detail(built, wf, job);
  if (built.reused) detail += " (directory already published)";
  co_await commit_transition(ctx, job, JobState::archived, detail, [&](pg::Connection& c) -> asio::awaitable<void> {
    co_await ctx.jobs.record_images(c, job, images);
  });
}

ExtractLimits extract_limits(const PipelineContext& ctx) {
  const auto& l = ctx.cfg.limits;
  return {l.max_total_bytes, l.max_entries, l.max_ratio, static_cast<std::size_t>(l.extract_threads)};
}

JobDirOptions job_dir_options(const PipelineContext& ctx, const Job& job, const Workflow& wf,
                              std::string metadata_csv) {
  JobDirOptions o;
  o.metadata_csv = std::move(metadata_csv);
  // With OMERO annotations the importer need not attach metadata.csv to the images.
  o.csv_next_to_images = !(ctx.omero && ctx.omero->annotations);
  o.max_log_bytes = ctx.cfg.limits.max_log_bytes;
  o.rename_pattern = output_settings_of(wf, job.analysis_task_id).rename_pattern;
  o.name_label_zarrs = ctx.cfg.import.labels != LabelsMode::images_only;
  return o;
}

std::string archived_detail(const JobDir& built, const Workflow& wf, const Job& job) {
  std::string detail = std::to_string(built.images.images.size()) + " images, " +
                       std::to_string(built.images.label_images.size()) + " label images";
  if (built.renamed > 0) detail += ", " + std::to_string(built.renamed) + " renamed by the user's pattern";
  if (built.labels_renamed > 0) detail += ", " + std::to_string(built.labels_renamed) + " label groups named *.zarr";
  for (const auto& w : built.rename_warnings) {
    log::warn("rename pattern not applied to a file",
              {{"workflow_id", wf.id.str()}, {"job_id", job.slurm_job_id}, {"reason", w}});
  }
  if (!built.rename_warnings.empty()) {
    detail += ", " + std::to_string(built.rename_warnings.size()) + " kept their names: " + built.rename_warnings[0];
  }
  return detail;
}

asio::awaitable<void> submit_step(PipelineContext& ctx, Job& job, const Workflow& wf) {
  const ImageSet images = images_from(job.images);
  const auto orders = plan_orders(wf.id, job.slurm_job_id, job.submission, images, ctx.cfg.import.labels);
  if (orders.empty()) throw PermanentError("no importable images to submit");
  const std::string group = job.group_name.value_or("");
  // Awaited on its own line: g++ 12 destroys a co_await result inside a braced initializer twice.
  const Destination destination = co_await job_destination(ctx, job, wf);
  const OrderTarget target{group, job.user_name.value_or(""), destination};
  std::string detail;
  for (const auto& o : orders) detail += (detail.empty() ? "" : ", ") + o.kind + " order " + o.uuid.str();
  if (ctx.importer_is_events_db) {
    co_await commit_transition(ctx, job, JobState::submitted, detail, [&](pg::Connection& c) -> asio::awaitable<void> {
      for (const auto& o : orders) co_await insert_order(c, o, target);
      co_await ctx.jobs.record_orders(c, job, orders);
    });
  } else {
    // Separate importer database: the order is looked up by uuid first, so a crash
    // between the two commits never duplicates it.
    co_await in_transaction(ctx.importer, [&](pg::Connection& c) -> asio::awaitable<void> {
      for (const auto& o : orders) co_await insert_order(c, o, target);
    });
    co_await commit_transition(ctx, job, JobState::submitted, detail,
                               [&](pg::Connection& c) { return ctx.jobs.record_orders(c, job, orders); });
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

}  // namespace biomero_reactor
