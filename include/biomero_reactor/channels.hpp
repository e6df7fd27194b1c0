#pragma once
// The NOTIFY channels the reactor listens on. The trigger functions in sql/ name the
// first two as well; nothing else does.
#include <string_view>

namespace biomero_reactor::channels {

// BIOMERO appended a WorkflowCompleted event (payload: the row id).
inline constexpr std::string_view workflow = "biomero_reactor_workflow";
// The importer wrote a stage of one of the reactor's orders (payload: {"uuid", "stage"}).
inline constexpr std::string_view import = "biomero_reactor_import";
// BIOMERO's handoff import script published results to the spool: its task's
// HANDED_OFF status or marked TaskCompleted (payload: the task id = the handoff id).
inline constexpr std::string_view handoff = "biomero_reactor_handoff";
// A reactor created or resubmitted jobs: every reactor looks for work to claim.
inline constexpr std::string_view jobs = "biomero_reactor_jobs";

}  // namespace biomero_reactor::channels
