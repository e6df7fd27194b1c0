#include "biomero_reactor/verify_command.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "biomero_reactor/checksums.hpp"
#include "biomero_reactor/conninfo.hpp"
#include "biomero_reactor/job_store.hpp"
#include "biomero_reactor/migrations.hpp"

namespace biomero_reactor {

namespace asio = boost::asio;

namespace {

std::vector<JobStore::ArchivedJob> archived_jobs(const Config& cfg, const VerifyRequest& request) {
  asio::io_context io;
  pg::Connection c(io.get_executor(), std::chrono::seconds(30));
  std::vector<JobStore::ArchivedJob> jobs;
  std::exception_ptr error;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await c.connect(libpq_conninfo(cfg.database.events_url, "database.events_url"));
        co_await require_schema(c);
        jobs = co_await JobStore::archived_jobs(c, request.workflow_id, request.since);
      },
      [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
  return jobs;
}

// "1.2 GiB" style, for the progress line.
std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  for (; bytes >= 1024 && u < 4; ++u) bytes /= 1024;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace

int cmd_verify(const Config& cfg, const VerifyRequest& request) {
  const auto jobs = archived_jobs(cfg, request);
  if (jobs.empty()) {
    std::cerr << "verify: no archived job directories"
              << (request.workflow_id ? " for workflow " + *request.workflow_id : std::string()) << "\n";
    return request.workflow_id ? 1 : 0;
  }
  const bool progress = !request.json && isatty(STDERR_FILENO) == 1;
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t files = 0, bytes = 0, problems = 0;
  boost::json::array report;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& job = jobs[i];
    const auto show = [&](std::uint64_t f, std::uint64_t b) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() + 1e-9;
      const double rate = static_cast<double>(bytes + b) / seconds;
      const double eta = seconds / static_cast<double>(i + 1) * static_cast<double>(jobs.size() - i - 1);
      std::fprintf(stderr, "\r  job %zu/%zu  %llu files  %s  %s/s  ETA %.0f s   ", i + 1, jobs.size(),
                   static_cast<unsigned long long>(files + f), human_bytes(static_cast<double>(bytes + b)).c_str(),
                   human_bytes(rate).c_str(), eta);
    };
    const VerifyReport r = verify_job_dir(job.dir, request.threads, progress ? VerifyProgress(show) : VerifyProgress());
    files += r.files;
    bytes += r.bytes;
    problems += r.problems.size();
    boost::json::array listed;
    for (const auto& p : r.problems) {
      if (request.json) {
        listed.push_back({{"problem", to_string(p.kind)}, {"path", p.path}, {"detail", p.detail}});
        continue;
      }
      if (progress) std::fputs("\r\033[K", stderr);
      std::cout << to_string(p.kind) << "  " << job.dir << "/" << p.path
                << (p.detail.empty() ? "" : "  (" + p.detail + ")") << "  [workflow " << job.workflow_id << " job "
                << job.job_id << "]\n";
    }
    if (request.json)
      report.push_back({{"workflow_id", job.workflow_id},
                        {"job_id", job.job_id},
                        {"dir", job.dir},
                        {"files", r.files},
                        {"bytes", r.bytes},
                        {"problems", std::move(listed)}});
  }
  if (progress) std::fputs("\r\033[K", stderr);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (request.json) {
    std::cout << boost::json::serialize(boost::json::object{{"jobs", std::move(report)},
                                                            {"files", files},
                                                            {"bytes", bytes},
                                                            {"problems", problems},
                                                            {"seconds", seconds}})
              << "\n";
  } else {
    std::cout << "verified " << jobs.size() << " job director" << (jobs.size() == 1 ? "y" : "ies") << ", " << files
              << " files, " << human_bytes(static_cast<double>(bytes)) << " in " << seconds
              << " s: " << (problems == 0 ? "all match" : std::to_string(problems) + " problem(s)") << "\n";
  }
  return problems == 0 ? 0 : 1;
}

}  // namespace biomero_reactor
