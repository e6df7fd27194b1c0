#pragma once
// Runs a piece of work in a forked child and measures it from outside: how long it took,
// how much its resident set grew at its peak (VmHWM after the work minus VmHWM at the
// start: the kernel starts a forked child's high-water mark at its current size), and
// whether it crashed (a stack overflow is a signal, not an exception). The work's
// return value comes back as text. For the hostile-input tests: an input that blows the
// stack or the memory must fail the test, not the test runner.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

namespace biomero_reactor::test {

struct ChildProbe {
  std::optional<int> signal;  // the child died of this signal
  int exit_code = 0;
  long peak_growth_kb = 0;
  double seconds = 0;
  std::string result;
};

inline long high_water_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

inline ChildProbe probe_in_child(const std::function<std::string()>& work) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::close(fds[0]);
    const long before = high_water_kb();
    const auto start = std::chrono::steady_clock::now();
    std::string result;
    try {
      result = work();
    } catch (const std::exception& e) {
      result = std::string("exception: ") + e.what();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string report = std::to_string(high_water_kb() - before) + " " + std::to_string(seconds) + " " + result;
    std::size_t done = 0;
    while (done < report.size()) {
      const ssize_t n = ::write(fds[1], report.data() + done, report.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) report.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ChildProbe probe;
  if (WIFSIGNALED(status)) probe.signal = WTERMSIG(status);
  if (WIFEXITED(status)) probe.exit_code = WEXITSTATUS(status);
  const auto first = report.find(' ');
  const auto second = first == std::string::npos ? std::string::npos : report.find(' ', first + 1);
  if (second != std::string::npos) {
    probe.peak_growth_kb = std::stol(report.substr(0, first));
    probe.seconds = std::stod(report.substr(first + 1, second - first - 1));
    probe.result = report.substr(second + 1);
  }
  return probe;
}

}  // namespace biomero_reactor::test
