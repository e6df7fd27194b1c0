#pragma once
// The worker pool's tasks as the rest of the reactor sees them (on_workers.hpp). A task
// that outlives jobs.file_step_timeout is given up by its step (retried later), but its
// thread cannot be killed: blocked in a read on a hung mount, it is counted as stuck
// until the read returns. /readyz and /metrics report the stuck ones; a stop does not
// wait for running ones beyond jobs.shutdown_grace. Atomics: worker threads update them.
#include <atomic>
#include <cstdint>

namespace biomero_reactor {

struct WorkerWatch {
  std::atomic<int> running{0};              // tasks on a worker thread now
  std::atomic<int> stuck{0};                // of those, given up by their step
  std::atomic<std::uint64_t> timed_out{0};  // steps given up since the start
};

// A task's life, shared by its coroutine (event loop) and its worker thread.
enum class TaskPhase : int { queued, running, finished, given_up_queued, given_up_running };

// The worker's side. start(): false when the step gave the task up before it ran (skip
// it). finish(): un-counts a stuck task.
[[nodiscard]] inline bool start_task(std::atomic<TaskPhase>& phase, WorkerWatch& w) {
  auto expected = TaskPhase::queued;
  if (!phase.compare_exchange_strong(expected, TaskPhase::running)) return false;
  ++w.running;
  return true;
}
inline void finish_task(std::atomic<TaskPhase>& phase, WorkerWatch& w) {
  --w.running;
  auto expected = TaskPhase::running;
  if (!phase.compare_exchange_strong(expected, TaskPhase::finished)) --w.stuck;  // given up while running
}
// The step's side at its deadline: true when the task is given up (counted as stuck if it
// is running), false when it has just finished (its result is on its way).
[[nodiscard]] inline bool give_up_task(std::atomic<TaskPhase>& phase, WorkerWatch& w) {
  auto expected = TaskPhase::queued;
  if (phase.compare_exchange_strong(expected, TaskPhase::given_up_queued)) {
    ++w.timed_out;
    return true;
  }
  expected = TaskPhase::running;
  ++w.stuck;  // before the exchange, so finish_task never takes it below zero
  if (phase.compare_exchange_strong(expected, TaskPhase::given_up_running)) {
    ++w.timed_out;
    return true;
  }
  --w.stuck;
  return false;
}

}  // namespace biomero_reactor
