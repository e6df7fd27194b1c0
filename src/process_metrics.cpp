#include "biomero_reactor/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace biomero_reactor {

namespace {

std::optional<double> number_field(std::string_view text) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && (in >> value)) return value;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n > 0 ? n - 1 : 0;  // less the descriptor of the listing itself
}

}  // namespace

std::optional<ProcessStats> parse_proc_stat(std::string_view line, long ticks_per_second, long page_size,
                                            double boot_time) {
  // pid (comm) state ppid ...: comm ends at the last ')'; field 3 (state) follows it.
  const auto close = line.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::size_t pos = close + 1;
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\n')) ++pos;
    const auto end = line.find_first_of(" \n", pos);
    const auto stop = end == std::string_view::npos ? line.size() : end;
    if (stop > pos) fields.push_back(line.substr(pos, stop - pos));
    pos = stop;
  }
  // man proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (1-based).
  const auto field = [&](std::size_t n) { return n - 3 < fields.size() ? number_field(fields[n - 3]) : std::nullopt; };
  const auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  ProcessStats s;
  const auto ticks = static_cast<double>(ticks_per_second);
  s.cpu_seconds = (*utime + *stime) / ticks;
  s.start_time_seconds = boot_time + *start / ticks;
  s.virtual_bytes = *vsize;
  s.resident_bytes = *rss * static_cast<double>(page_size);
  return s;
}

std::optional<ProcessStats> read_process_stats() {
  std::ifstream in("/proc/self/stat");
  std::stringstream text;
  text << in.rdbuf();
  const auto btime = boot_time();
  if (!in || !btime) return std::nullopt;
  auto s = parse_proc_stat(text.str(), ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE), *btime);
  if (!s) return std::nullopt;
  s->open_fds = open_fds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) s->max_fds = static_cast<double>(limit.rlim_cur);
  return s;
}

void write_process_metrics(MetricsText& m, const ProcessStats& s) {
  m.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", s.cpu_seconds);
  m.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", s.resident_bytes);
  m.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", s.virtual_bytes);
  m.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", s.start_time_seconds);
  m.gauge("process_open_fds", "Number of open file descriptors.", s.open_fds);
  m.gauge("process_max_fds", "Maximum number of open file descriptors.", s.max_fds);
}

}  // namespace biomero_reactor
