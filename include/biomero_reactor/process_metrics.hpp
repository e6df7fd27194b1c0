#pragma once
// The standard process_* metrics every Prometheus client library exports (CPU, memory,
// file descriptors, start time), read from /proc/self as client_golang reads them.
#include <optional>
#include <string_view>

#include "biomero_reactor/metrics.hpp"

namespace biomero_reactor {

struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  double open_fds = 0;
  double max_fds = 0;  // the soft RLIMIT_NOFILE
};

// Pure: the fields of one /proc/<pid>/stat line (`comm` may hold spaces and parentheses),
// with the clock ticks per second, the page size and the boot time (`btime` of
// /proc/stat, seconds since the epoch). nullopt for a line that does not parse.
[[nodiscard]] std::optional<ProcessStats> parse_proc_stat(std::string_view line, long ticks_per_second, long page_size,
                                                          double boot_time);

// This process, now; nullopt where /proc is not mounted.
[[nodiscard]] std::optional<ProcessStats> read_process_stats();

void write_process_metrics(MetricsText& m, const ProcessStats& s);

}  // namespace biomero_reactor
