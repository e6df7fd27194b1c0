#include "biomero_reactor/instance_lock.hpp"

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

InstanceTaken::InstanceTaken(const std::string& instance)
    : std::runtime_error("another biomero-reactor process is running as instance \"" + instance +
                         "\" (it holds the instance's lock in the events database); give this one another "
                         "--instance name or stop the other one") {}

std::string instance_lock_key(const std::string& instance) {
  return "biomero-reactor instance " + instance;
}

InstanceLock::InstanceLock(asio::any_io_executor ex, std::string conninfo, std::string instance, Duration io_timeout)
    : ex_(std::move(ex)), conninfo_(std::move(conninfo)), instance_(std::move(instance)), io_timeout_(io_timeout) {}

InstanceLock::~InstanceLock() {
  if (conn_) conn_->close();  // ends the session: the lock goes with it
}

asio::awaitable<void> InstanceLock::acquire() {
  if (conn_) conn_->close();
  conn_ = std::make_unique<pg::Connection>(ex_, io_timeout_);
  co_await conn_->connect(conninfo_);
  const std::string key = instance_lock_key(instance_);
  const auto r = co_await conn_->query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", pg::params(key));
  if (!r.boolean(0, 0)) {
    conn_->close();
    conn_.reset();
    throw InstanceTaken(instance_);
  }
}

asio::awaitable<void> InstanceLock::keep() {
  bool alive = false;
  if (conn_ && conn_->is_open()) {
    try {
      co_await conn_->query("SELECT 1");
      alive = true;
    } catch (const pg::Error&) {
    }
  }
  if (alive) co_return;
  log::warn("the instance lock's database session was lost; taking the lock again", {{"instance", instance_}});
  co_await acquire();
  log::info("instance lock taken again", {{"instance", instance_}});
}

}  // namespace biomero_reactor
