#include "biomero_reactor/handoff_steps.hpp"

#include "biomero_reactor/destination.hpp"
#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/event_store.hpp"
#include "biomero_reactor/handoff_manifest.hpp"
#include "biomero_reactor/job_dir.hpp"
#include "biomero_reactor/job_steps.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/metadata.hpp"
#include "biomero_reactor/omero_step.hpp"
#include "biomero_reactor/on_workers.hpp"
#include "biomero_reactor/storage_refresh.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

HandoffManifest manifest_of(const Job& job) {
  try {
    return parse_manifest(job.handoff_manifest.value_or(""), job.handoff_id->str());
  } catch (const ManifestError& e) {
    throw PermanentError(std::string("the handoff's manifest: ") + e.what());
  }
}

}  // namespace

Workflow with_handoff_inputs(Workflow wf, Job& job) {
  const HandoffManifest m = manifest_of(job);
  Task inputs;
  inputs.id = m.handoff_id;
  inputs.name = "handoff manifest inputs";
  inputs.params = m.inputs;
  wf.tasks.insert(wf.tasks.begin(), std::move(inputs));
  job.analysis_task_id = m.handoff_id;  // the destination prefers this task's Dataset_ID / Screen_ID
  return wf;
}

asio::awaitable<Workflow> load_handoff_workflow(PipelineContext& ctx, Job& job) {
  if (!job.in_event_store) co_return with_handoff_inputs(workflow_from_manifest(manifest_of(job)), job);
  std::vector<StoredEvent> events;
  {
    auto c = co_await ctx.events().acquire();
    events = co_await load_workflow_events(*c, job.workflow_id);
  }
  co_return with_handoff_inputs(decode_workflow(job.workflow_id, events), job);
}

asio::awaitable<void> handoff_archive_step(PipelineContext& ctx, Job& job, const Workflow& wf) {
  refresh_storage(ctx.storage, ctx.cfg, false);  // the mappings current now
  const HandoffManifest m = manifest_of(job);
  const std::string group = job.group_name.value_or(m.group_name);
  const std::string user = job.user_name.value_or(m.user_name);
  const fs::path base = group_base_path(ctx.storage, group);
  check_destination(ctx, wf, job, group);  // fail before archiving if none
  const fs::path dir = job_dir_path(base, wf.id, job.slurm_job_id);
  co_await commit_transition(ctx, job, JobState::archiving, dir.string(),
                             [&](pg::Connection& c) -> asio::awaitable<void> {
                               co_await ctx.jobs.record_archiving(c, job, group, user, dir.string());
                             });
  const fs::path spool_dir = job.handoff_dir.value_or("");
  JobSources src;
  src.zip = spool_dir / m.zip.name;
  src.link_zip = true;
  std::error_code ec;
  if (m.log && fs::exists(fs::symlink_status(spool_dir / m.log->name, ec))) src.log = spool_dir / m.log->name;
  if (!fs::is_directory(dir, ec) && !fs::exists(fs::symlink_status(src.zip, ec))) {
    throw PermanentError("the handoff's results zip is no longer in the spool: " + src.zip.string());
  }
  const ExtractLimits limits = extract_limits(ctx);
  const JobDirOptions options = job_dir_options(ctx, job, wf, metadata_csv(wf, job.slurm_job_id, user, group));
  const Uuid workflow_id = wf.id;
  const std::string slurm_job_id = job.slurm_job_id;
  // Named, capturing by value: a timed-out step leaves it running (on_workers.hpp).
  const auto build = [base, workflow_id, slurm_job_id, src, limits, options] {
    JobDir built = build_job_dir(base, workflow_id, slurm_job_id, src, limits, options);
    // Published: the spool's copies are no longer needed (the zip is the job directory's
    // own link now). A crash before this leaves them; the next attempt finds the
    // directory published and removes them then.
    std::error_code rm;
    fs::remove(src.zip, rm);
    if (src.log) fs::remove(*src.log, rm);
    return built;
  };
  JobDir built = co_await run_on_workers(ctx, job.id, build);
  ctx.counters.bytes_extracted += built.bytes_extracted;
  ctx.counters.bytes_copied += built.bytes_copied;
  const std::string images = images_json(built.images);
  std::string detail = archived_detail(built, wf, job) + ", zip " +
                       (built.reused                                           ? "already published"
                        : built.bytes_copied >= m.zip.bytes && m.zip.bytes > 0 ? "copied (spool on another file system)"
                                                                               : "moved from the spool");
  co_await commit_transition(ctx, job, JobState::archived, detail, [&](pg::Connection& c) -> asio::awaitable<void> {
    co_await ctx.jobs.record_images(c, job, images);
  });
}

}  // namespace biomero_reactor
