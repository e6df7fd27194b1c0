#include "biomero_reactor/omero_step.hpp"

#include "biomero_reactor/log.hpp"
#include "biomero_reactor/test_hooks.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

ContainerKind kind_of(const std::string& type) {
  return type == "Screen" ? ContainerKind::screen : ContainerKind::dataset;
}

asio::awaitable<std::optional<Destination>> recorded_destination(PipelineContext& ctx, std::int64_t job_id) {
  auto c = co_await ctx.events().acquire();
  auto r = co_await c->query(
      "SELECT destination_type, destination_id::text FROM biomero_reactor.jobs "
      "WHERE id = $1 AND destination_id IS NOT NULL",
      pg::params(job_id));
  if (r.rows() == 0) co_return std::nullopt;
  co_return Destination{std::string(r.text(0, 0)), std::string(r.text(0, 1))};
}

// The destination, and a fresh annotation step for this submission when annotations are
// on (a replayed job annotates its new images again; what is already there is skipped).
asio::awaitable<void> record_destination(PipelineContext& ctx, const Job& job, const Destination& d) {
  const bool annotate = ctx.omero && ctx.omero->annotations;
  auto c = co_await ctx.events().acquire();
  auto r = co_await c->query(
      "UPDATE biomero_reactor.jobs SET destination_type = coalesce(destination_type, $2), "
      " destination_id = coalesce(destination_id, $3::bigint), "
      " annotation_state = CASE WHEN $4 THEN 'pending' END, annotation_attempts = 0, "
      " annotation_next_at = CASE WHEN $4 THEN now() END, annotation_error = NULL, updated_at = now() "
      "WHERE id = $1 AND lease_owner = $5",
      pg::params(job.id, d.type, d.id, annotate, ctx.jobs.instance()));
  if (r.affected() == 0) throw LeaseLost();
}

}  // namespace

OmeroWebSettings omero_web_settings(const Config& cfg, const Getenv& getenv) {
  OmeroWebSettings s;
  s.url = cfg.omero.web.url;
  s.server_id = cfg.omero.web.server_id;
  s.username = cfg.omero.web.username;
  s.password = omero_password(cfg, getenv);
  s.ca_file = cfg.omero.web.ca_file;
  s.tls_verify = cfg.omero.web.tls_verify;
  s.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.omero.web.timeout);
  return s;
}

std::shared_ptr<OmeroLink> make_omero_link(const Config& cfg, const Getenv& getenv) {
  if (cfg.omero.web.url.empty()) return nullptr;
  auto link = std::make_shared<OmeroLink>(OmeroLink{
      omero_web_settings(cfg, getenv),
      OmeroNameCache(std::chrono::duration_cast<std::chrono::seconds>(cfg.omero.names_ttl)),
      annotations_enabled(cfg), cfg.omero.attach_log});
  return link;
}

asio::awaitable<Names> job_names(PipelineContext& ctx, const Workflow& wf) {
  if (!ctx.omero) co_return resolve_names(ctx.storage, ctx.cfg, wf);
  auto group = group_name_for(ctx.storage, ctx.cfg, wf.group_id);
  auto user = user_name_for(ctx.cfg, wf.user_id);
  if (!group || !user) {
    const OmeroNames found =
        co_await classified(ctx.omero->names.names(ctx.omero->settings, wf.user_id, wf.group_id));
    if (!group) group = found.group;
    if (!user) user = found.user;
  }
  co_return Names{*group, *user};
}

void check_destination(const PipelineContext& ctx, const Workflow& wf, const Job& job, const std::string& group) {
  // With OMERO.web a destination is always found or made; without it, the config must name one.
  if (!ctx.omero) (void)resolve_destination(ctx.cfg, wf, job.analysis_task_id, group);
}

asio::awaitable<Destination> job_destination(PipelineContext& ctx, const Job& job, const Workflow& wf) {
  std::optional<Destination> d = co_await recorded_destination(ctx, job.id);
  if (!d) d = explicit_destination(wf, job.analysis_task_id);
  if (!d && !ctx.omero) d = resolve_destination(ctx.cfg, wf, job.analysis_task_id, job.group_name.value_or(""));
  if (!d) {
    const OutputSettings out = output_settings_of(wf, job.analysis_task_id);
    const std::int64_t id = co_await classified(resolve_destination_by_name(
        ctx.omero->settings, job.user_name.value_or(""), kind_of(out.type), wf.group_id, out.name,
        destination_description(job.slurm_job_id, wf.id.str()), out.allow_duplicate));
    d = Destination{out.type, std::to_string(id)};
    if (test_hooks::point_reached) test_hooks::point_reached("omero_container_resolved");
  }
  co_await record_destination(ctx, job, *d);
  co_return *d;
}

}  // namespace biomero_reactor
