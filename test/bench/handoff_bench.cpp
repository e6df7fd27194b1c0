// Not a test: how long a handoff's results take from the spool to a published job
// directory, with the zip moved (linked) from the spool versus copied, in the same run on
// the same file system. Usage: bench_handoff_bench [MiB] [dir] (default 1024 MiB, /tmp).
// The zip holds 64 MiB .tif files of random data, stored by deflate (incompressible), so
// extraction is what both paths share.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/job_dir.hpp"
#include "test_support.hpp"

using namespace biomero_reactor;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

fs::path make_zip(const fs::path& root, std::uint64_t mib) {
  const fs::path src = root / "src";
  fs::create_directories(src / "data" / "out");
  std::mt19937_64 rng(42);
  std::vector<std::uint64_t> block((1 << 20) / 8);
  for (std::uint64_t done = 0, n = 0; done < mib; ++n) {
    std::ofstream f(src / "data" / "out" / ("image" + std::to_string(n) + ".tif"), std::ios::binary);
    for (int i = 0; i < 64 && done < mib; ++i, ++done) {
      for (auto& w : block) w = rng();
      f.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(block.size() * 8));
    }
  }
  const fs::path zip = root / "1234_out.zip";
  (void)zip_directory(src, zip);
  fs::remove_all(src);
  return zip;
}

double run(const fs::path& root, const fs::path& zip, bool link, std::uint64_t* copied) {
  const fs::path spool = root / (link ? "spool-link" : "spool-copy");
  fs::create_directories(spool);
  const fs::path staged = spool / zip.filename();
  fs::copy_file(zip, staged);
  JobSources src;
  src.zip = staged;
  src.link_zip = link;
  ExtractLimits limits;
  limits.max_total_bytes = std::uint64_t{64} << 30;
  limits.max_ratio = 1e9;
  const auto t = Clock::now();
  const JobDir d = build_job_dir(root / (link ? "base-link" : "base-copy"), random_uuid4(), "1234", src, limits,
                                 JobDirOptions{.metadata_csv = "a,b\n"});
  if (link) fs::remove(staged);
  const double s = seconds_since(t);
  *copied = d.bytes_copied;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t mib = argc > 1 ? std::stoull(argv[1]) : 1024;
  const fs::path root = fs::path(argc > 2 ? argv[2] : "/tmp") / ("handoff-bench-" + random_uuid4().hex().substr(0, 8));
  fs::create_directories(root);
  auto t = Clock::now();
  const fs::path zip = make_zip(root, mib);
  std::printf("zip: %llu MiB of data, %.1f MiB on disk, built in %.1f s\n", static_cast<unsigned long long>(mib),
              static_cast<double>(fs::file_size(zip)) / (1 << 20), seconds_since(t));
  std::uint64_t copied_link = 0, copied_copy = 0;
  const double s_link = run(root, zip, true, &copied_link);
  const double s_copy = run(root, zip, false, &copied_copy);
  std::printf("spool -> published job dir, zip linked (moved): %.2f s, %llu bytes copied\n", s_link,
              static_cast<unsigned long long>(copied_link));
  std::printf("spool -> published job dir, zip copied:         %.2f s, %llu bytes copied\n", s_copy,
              static_cast<unsigned long long>(copied_copy));
  fs::remove_all(root);
  return 0;
}
