#pragma once
// The pipeline's use of OMERO.web (docs/OMERO.md), when omero.web.url is set:
//   names:        user id -> omeName, group id -> group name through the JSON API, cached
//                 for omero.names_ttl; names.users / names.groups and the group mappings
//                 stay as overrides;
//   destination:  an explicit Dataset_ID / Screen_ID wins; otherwise the user's container
//                 named in the workflow's output settings is found in the group, or
//                 created as the user, and recorded on the job before any order is written.
// OMERO.web not answering is ServiceUnavailable (the job waits, it never fails for it);
// OMERO refusing (no such user, bad credentials, not an administrator) is a PermanentError.
// Without omero.web.url both fall back to the configuration alone, as before.
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/destination.hpp"
#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/omero_job.hpp"
#include "biomero_reactor/output_settings.hpp"
#include "biomero_reactor/pipeline.hpp"

namespace biomero_reactor {

struct OmeroLink {
  OmeroWebSettings settings;
  OmeroNameCache names;
  bool annotations = true;
  bool attach_log = false;
};

// The connection's settings (the password read once, here); null without omero.web.url.
// ConfigError when the password cannot be read.
[[nodiscard]] std::shared_ptr<OmeroLink> make_omero_link(const Config& cfg, const Getenv& getenv);
[[nodiscard]] OmeroWebSettings omero_web_settings(const Config& cfg, const Getenv& getenv);

// Runs an OMERO.web call, turning its OmeroWebError into the pipeline's vocabulary.
template <class T>
boost::asio::awaitable<T> classified(boost::asio::awaitable<T> call) {
  try {
    co_return co_await std::move(call);
  } catch (const OmeroWebError& e) {
    if (e.transient()) throw ServiceUnavailable(std::string("OMERO.web unavailable: ") + e.what());
    throw PermanentError(std::string("OMERO.web: ") + e.what());
  }
}

boost::asio::awaitable<Names> job_names(PipelineContext& ctx, const Workflow& wf);

// Checked before archiving: throws when no destination can be found later.
void check_destination(const PipelineContext& ctx, const Workflow& wf, const Job& job, const std::string& group);

// The destination of the job's orders: the one recorded on the job, else resolved and
// recorded (with the annotation step made pending when annotations are on).
boost::asio::awaitable<Destination> job_destination(PipelineContext& ctx, const Job& job, const Workflow& wf);

}  // namespace biomero_reactor
