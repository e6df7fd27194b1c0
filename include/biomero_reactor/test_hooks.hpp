#pragma once
// Points where a test build can interfere with the daemon (the fault tests kill it right
// after a given step commits, as a SIGKILL would). The shipped binary never sets them:
// only test/support/reactor_with_hooks.cpp does, from its own environment.
#include <cstdint>
#include <functional>
#include <string_view>

#include "biomero_reactor/job_state.hpp"

namespace biomero_reactor::test_hooks {

// Called after a job's transition to `state` committed.
inline std::function<void(JobState state)> step_committed;
// Called after intake committed its mark for a WorkflowCompleted event, before decoding it.
inline std::function<void(std::int64_t event_id)> event_marked;

// Called at a named point inside a step, e.g. "omero_container_resolved" (an OMERO
// container found or created, not yet recorded on the job).
inline std::function<void(std::string_view point)> point_reached;

// Called on a worker thread when a job's archive step starts its file work, with the
// job's SLURM id (a test build blocks there, as a read on a hung mount would).
inline std::function<void(std::string_view slurm_job_id)> file_step_started;

}  // namespace biomero_reactor::test_hooks
