#include "biomero_reactor/reload_signal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace {

int pipe_write_end = -1;  // read by the signal handler only after it is set

std::mutex& hook_mutex() {
  static std::mutex m;
  return m;
}

std::function<void()>& hook() {
  static std::function<void()> h;
  return h;
}

extern "C" void on_sighup(int) {
  const int saved = errno;
  const char byte = 1;
  // A full pipe already holds a pending reload: dropping this one loses nothing.
  [[maybe_unused]] const ssize_t ignored = ::write(pipe_write_end, &byte, 1);
  errno = saved;
}

void serve(int read_end) {
  for (;;) {
    char bytes[64];
    const ssize_t got = ::read(read_end, bytes, sizeof bytes);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;
    log::info("SIGHUP: reloading group mappings");
    std::function<void()> reload;
    {
      const std::lock_guard lock(hook_mutex());
      reload = hook();
    }
    if (!reload) continue;
    try {
      reload();
    } catch (const std::exception& e) {
      log::error("SIGHUP: reloading failed", {{"error", e.what()}});
    }
  }
}

}  // namespace

void install_reload_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "SIGHUP pipe");
    ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    pipe_write_end = fds[1];
    std::thread(serve, fds[0]).detach();
    struct sigaction action {};
    action.sa_handler = on_sighup;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (::sigaction(SIGHUP, &action, nullptr) != 0) {
      throw std::system_error(errno, std::generic_category(), "SIGHUP handler");
    }
  });
}

void set_reload_hook(std::function<void()> h) {
  const std::lock_guard lock(hook_mutex());
  hook() = std::move(h);
}

}  // namespace biomero_reactor
