#pragma once
// The steps of a handoff's job that differ from a completed workflow's (handoff_intake
// made the job): the names and group come from the manifest kept with the job, the
// results from spool/ready/<handoff id>/. The rest of the pipeline (IMPORTING, submit,
// the importer's verdict) is the same for both.
//   with_handoff_inputs: the workflow seen by the steps gains a task holding the
//     manifest's inputs (Dataset_ID, Screen_ID, ...), which the destination prefers;
//   handoff_archive_step: started/archiving --link the zip from the spool into the
//     .analyzed tree (copy across file systems), copy the log, extract--> archived; the
//     spool's zip and log are unlinked only after the job directory is published.
#include <boost/asio/awaitable.hpp>

#include "biomero_reactor/pipeline.hpp"
#include "biomero_reactor/workflow.hpp"

namespace biomero_reactor {

// Throws PermanentError when the stored manifest does not parse any more.
[[nodiscard]] Workflow with_handoff_inputs(Workflow wf, Job& job);

// The workflow a handoff job runs with: decoded from BIOMERO's event store, or, for a
// standalone handoff whose workflow the store does not hold (job.in_event_store false),
// built from the manifest alone (workflow_from_manifest); with the manifest's inputs.
boost::asio::awaitable<Workflow> load_handoff_workflow(PipelineContext& ctx, Job& job);

boost::asio::awaitable<void> handoff_archive_step(PipelineContext& ctx, Job& job, const Workflow& wf);

}  // namespace biomero_reactor
