#pragma once
// One live `run` per instance name. The instance name is the lease owner: two processes
// under the same name would free each other's leases and delete each other's half-built
// trees. At start the daemon takes a session-level advisory lock on a hash of the name,
// on a connection of its own that it keeps for its whole life; a second process with the
// same name finds the lock held and refuses to start. The lock goes with the session, so
// a crashed or killed process never leaves it behind.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <stdexcept>
#include <string>

#include "biomero_reactor/pg.hpp"
#include "biomero_reactor/units.hpp"

namespace biomero_reactor {

// Another live process holds the instance name.
struct InstanceTaken : std::runtime_error {
  explicit InstanceTaken(const std::string& instance);
};

// The text whose hash is the advisory lock's key (namespaced, so no other user of
// advisory locks collides with it by accident).
[[nodiscard]] std::string instance_lock_key(const std::string& instance);

class InstanceLock {
 public:
  InstanceLock(boost::asio::any_io_executor ex, std::string conninfo, std::string instance, Duration io_timeout);
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // Connects and takes the lock; InstanceTaken when another session holds it.
  boost::asio::awaitable<void> acquire();
  // Checks the session; if it was lost (a database restart), reconnects and takes the
  // lock again. InstanceTaken when another process took the name meanwhile; a database
  // that cannot be reached is not an error here (pg::Error is thrown, the caller retries).
  boost::asio::awaitable<void> keep();
  [[nodiscard]] const std::string& instance() const { return instance_; }

 private:
  boost::asio::any_io_executor ex_;
  std::string conninfo_, instance_;
  Duration io_timeout_;
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace biomero_reactor
