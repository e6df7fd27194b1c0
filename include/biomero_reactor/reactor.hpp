#pragma once
// The daemon: one io_context, one thread. Wires the LISTEN sessions, intake, the job
// pipeline and the wait for the importer together, and shuts down in order on SIGTERM.
//   NOTIFY biomero_reactor_workflow --> intake (job rows) --> pipeline (per job: report
//   IMPORTING, archive, submit orders) --> wait (NOTIFY biomero_reactor_import or poll)
//   --> IMPORTED / IMPORT_FAILED.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "biomero_reactor/config.hpp"

namespace biomero_reactor {

struct RunOptions {
  bool once = false;     // process the backlog, exit when nothing is in flight
  std::string instance;  // lease owner name; default host:pid
};

class Reactor {
 public:
  Reactor(boost::asio::io_context& io, Config cfg, RunOptions opts);
  ~Reactor();
  // Exit code: 0 after a clean stop.
  boost::asio::awaitable<int> run();
  // First call: stop taking work, let running steps finish within jobs.shutdown_grace.
  void request_stop();
  // Worker threads still inside a task (after a stop: the ones it cannot join, such as a
  // thread blocked in a read on a hung mount; the caller exits without destroying it).
  [[nodiscard]] int workers_busy() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace biomero_reactor
