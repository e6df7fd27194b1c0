// biomero-reactor with its test hooks armed from the environment, for the fault tests:
//   BIOMERO_REACTOR_TEST_STOP_AT_STEP=<state>  exit(137) right after a job's transition to
//   <state> commits, or when a step reaches the named point (test_hooks::point_reached), as
//   a SIGKILL at that moment would.
//   BIOMERO_REACTOR_TEST_CRASH_AT_EVENT=<event id>  exit(137) once intake has marked that
//   WorkflowCompleted event and before it decodes it (a poison event).
//   BIOMERO_REACTOR_TEST_BLOCK_FILE_STEP=<SLURM job id>  the archive step's worker task for
//   that job blocks for good, as a read on a hung NFS mount does.
// The shipped binary (src/main.cpp) has no such switch.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/commands.hpp"
#include "biomero_reactor/log.hpp"
#include "biomero_reactor/test_hooks.hpp"

int main(int argc, char** argv) {
  using namespace biomero_reactor;
  if (const char* step = std::getenv("BIOMERO_REACTOR_TEST_STOP_AT_STEP")) {
    test_hooks::step_committed = [at = std::string(step)](JobState state) {
      if (to_string(state) != at) return;
      log::warn("stopping at step (test hook)", {{"state", at}});
      ::_exit(137);
    };
    test_hooks::point_reached = [at = std::string(step)](std::string_view point) {
      if (point != at) return;
      log::warn("stopping at point (test hook)", {{"point", at}});
      ::_exit(137);
    };
  }
  if (const char* event = std::getenv("BIOMERO_REACTOR_TEST_CRASH_AT_EVENT")) {
    test_hooks::event_marked = [at = std::stoll(event)](std::int64_t id) {
      if (id != at) return;
      log::warn("crashing at an event (test hook)", {{"event_id", id}});
      ::_exit(137);
    };
  }
  if (const char* job = std::getenv("BIOMERO_REACTOR_TEST_BLOCK_FILE_STEP")) {
    test_hooks::file_step_started = [at = std::string(job)](std::string_view job_id) {
      if (job_id != at) return;
      log::warn("blocking a worker thread for good (test hook)", {{"job_id", at}});
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    };
  }
  read_local_timezone_once();
  return main_with_args(argc, argv);
}
