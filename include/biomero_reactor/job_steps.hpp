#pragma once
// The two steps of a job that do the work, each ending in one committed transition:
//   archive: started/archiving --resolve names, base path, destination; build the
//            .analyzed tree on the worker pool--> archived (images recorded)
//   submit:  archived --insert the upload orders--> submitted
// Both are idempotent: a retry after a crash rebuilds the tree (or finds it published)
// and finds its orders by their deterministic uuids instead of writing second ones.
#include <boost/asio/awaitable.hpp>
#include <string>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/images.hpp"
#include "biomero_reactor/job_dir.hpp"
#include "biomero_reactor/pipeline.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

boost::asio::awaitable<void> archive_step(PipelineContext& ctx, Job& job, const Workflow& wf);
boost::asio::awaitable<void> submit_step(PipelineContext& ctx, Job& job, const Workflow& wf);

// What both archive steps (this one and the handoff's) build a job directory with:
// the configured limits, and the job's metadata.csv and output options.
[[nodiscard]] ExtractLimits extract_limits(const PipelineContext& ctx);
[[nodiscard]] JobDirOptions job_dir_options(const PipelineContext& ctx, const Job& job, const Workflow& wf,
                                            std::string metadata_csv);
// The archived transition's detail ("N images, M label images, K renamed"); logs every
// file the rename pattern left under its old name.
[[nodiscard]] std::string archived_detail(const JobDir& built, const Workflow& wf, const Job& job);

// The images a job found, as stored in biomero_reactor.jobs.images.
[[nodiscard]] std::string images_json(const ImageSet& s);
[[nodiscard]] ImageSet images_from(const std::optional<std::string>& json);

}  // namespace biomero_reactor
