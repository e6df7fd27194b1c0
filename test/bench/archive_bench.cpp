// Extraction and copy throughput of the archive pipeline against the usual tools.
//
// Generates three zips under /tmp (many small deflated files, a few large deflated files,
// one large stored file), extracts each with extract_archive, `bsdtar -xf` and
// `unzip -q` (wall clock, fresh directory each run, best of 5), and copies a 1 GiB file
// with copy_file_durable and `cp`. extract_archive (with its default threads, and with
// one) and copy_file_durable make everything durable; bsdtar, unzip and cp do not, so
// each tool is also timed followed by syncfs(2) on the target, the fair comparison for
// durability.
//
// It also measures what SHA256SUMS costs (extraction with and without hashing, same run)
// and `verify` against `sha256sum -c` on the same extracted tree.
//
// Usage: bench_archive_bench [--scale F]   (F scales every size; default 1)
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/checksums.hpp"
#include "biomero_reactor/fs_util.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;

namespace {

constexpr int runs = 5;
const std::string ours = "extract_archive (durable)";
const std::string no_hash = "extract_archive, no SHA256";
const std::string verify_tool = "verify (2 threads)";

// Compressible but not trivial: 16 symbols drawn at random (deflate gets about 1.9x).
void fill_text(std::vector<char>& buffer, std::uint64_t& state) {
  for (char& c : buffer) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    c = static_cast<char>('A' + (state & 0x0F));
  }
}

struct ZipSpec {
  std::string label;
  std::size_t files;
  std::size_t file_size;
  bool deflate;
};

std::uint64_t write_zip(const fs::path& path, const ZipSpec& spec) {
  archive* zip = archive_write_new();
  archive_write_set_format_zip(zip);
  if (spec.deflate) {
    archive_write_zip_set_compression_deflate(zip);
  } else {
    archive_write_zip_set_compression_store(zip);
  }
  archive_write_set_bytes_in_last_block(zip, 1);
  if (archive_write_open_filename(zip, path.c_str()) != ARCHIVE_OK) {
    throw std::runtime_error(archive_error_string(zip));
  }
  std::uint64_t state = 88172645463325252ULL;
  std::vector<char> chunk(std::min<std::size_t>(spec.file_size, 1 << 20));
  for (std::size_t i = 0; i < spec.files; ++i) {
    archive_entry* entry = archive_entry_new();
    const std::string name = "data/out/" + std::to_string(i / 500) + "/file" + std::to_string(i) + ".tif";
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(spec.file_size));
    archive_write_header(zip, entry);
    for (std::size_t left = spec.file_size; left > 0;) {
      const std::size_t n = std::min(left, chunk.size());
      fill_text(chunk, state);
      archive_write_data(zip, chunk.data(), n);
      left -= n;
    }
    archive_entry_free(entry);
  }
  archive_write_close(zip);
  archive_write_free(zip);
  return static_cast<std::uint64_t>(spec.files) * spec.file_size;
}

void syncfs_at(const fs::path& dir) {
  const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::syncfs(fd.get()) != 0) {
    throw std::runtime_error("syncfs failed on " + dir.string());
  }
}

void run_command(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("command failed: " + command);
  }
}

std::string quoted(const fs::path& path) {
  return "'" + path.string() + "'";
}

// Deleting costs later runs: freed blocks are discarded in the background for a while,
// and ext4 skips inodes freed in the last minute when it allocates new ones (so creating
// thousands of files right after deleting thousands is several times slower). Trees of
// many files are therefore kept until the end; a few large files are deleted after each
// run, then the disk is left to settle.
void remove_and_settle(const fs::path& dir) {
  fs::remove_all(dir);
  ::sync();
  ::sleep(2);
}

struct Tool {
  std::string name;
  std::function<void(const fs::path&)> action;
};

// Best wall-clock seconds of `runs` runs of each tool, each into a fresh directory under
// `scratch`; the tools take turns so that a slow moment of the disk hits them alike.
// Outputs of many files are kept (see remove_and_settle).
std::vector<double> best_of(const fs::path& scratch, const std::vector<Tool>& tools, bool many_files) {
  std::vector<double> best(tools.size(), 1e300);
  for (int run = 0; run < runs; ++run) {
    for (std::size_t t = 0; t < tools.size(); ++t) {
      const fs::path dir = scratch / (std::to_string(t) + "-" + std::to_string(run));
      fs::create_directories(dir);
      ::sync();  // start each run without someone else's dirty pages
      const auto start = std::chrono::steady_clock::now();
      tools[t].action(dir);
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
      best[t] = std::min(best[t], elapsed.count());
      if (!many_files) {
        remove_and_settle(dir);
      }
    }
  }
  return best;
}

struct Row {
  std::string what;
  std::string tool;
  double seconds;
  std::uint64_t bytes;
};

void print_table(const std::vector<Row>& rows) {
  std::printf("\n%-26s %-28s %9s %9s\n", "data", "tool", "seconds", "MB/s");
  for (const Row& row : rows) {
    std::printf("%-26s %-28s %9.3f %9.1f\n", row.what.c_str(), row.tool.c_str(), row.seconds,
                static_cast<double>(row.bytes) / 1e6 / row.seconds);
  }
}

double seconds_of(const std::vector<Row>& rows, const std::string& what, const std::string& tool) {
  for (const Row& row : rows) {
    if (row.what == what && row.tool == tool) {
      return row.seconds;
    }
  }
  throw std::logic_error("no row " + what + "/" + tool);
}

}  // namespace

int main(int argc, char** argv) {
  read_local_timezone_once();  // as the daemon does
  double scale = 1.0;
  if (argc == 3 && std::strcmp(argv[1], "--scale") == 0) {
    scale = std::atof(argv[2]);
  }
  const auto scaled = [scale](std::size_t n) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(n) * scale));
  };

  std::string pattern = "/tmp/biomero-archive-bench-XXXXXX";
  const fs::path work = ::mkdtemp(pattern.data());
  std::vector<Row> rows;
  const std::vector<ZipSpec> specs{
      {"5000 x 4 KiB deflated", scaled(5000), 4096, true},
      {"3 x 100 MiB deflated", 3, scaled(100 << 20), true},
      {"1 x 300 MiB stored", 1, scaled(300 << 20), false},
  };
  try {
    for (const ZipSpec& spec : specs) {
      const fs::path zip = work / "in.zip";
      fs::remove(zip);
      const std::uint64_t bytes = write_zip(zip, spec);
      std::printf("%s: %llu bytes in a %llu-byte zip\n", spec.label.c_str(), static_cast<unsigned long long>(bytes),
                  static_cast<unsigned long long>(fs::file_size(zip)));
      std::fflush(stdout);
      const auto extract = [&](std::size_t threads, bool checksums = true) {
        return [&zip, threads, checksums](const fs::path& dir) {
          ExtractLimits limits;
          limits.threads = threads;
          limits.checksums = checksums;
          static_cast<void>(extract_archive(zip, dir, limits));
        };
      };
      const std::vector<Tool> tools{
          {ours, extract(ExtractLimits{}.threads)},
          {no_hash, extract(ExtractLimits{}.threads, false)},
          {"extract_archive, 1 thread", extract(1)},
          {"bsdtar -xf", [&](const fs::path& dir) { run_command("bsdtar -xf " + quoted(zip) + " -C " + quoted(dir)); }},
          {"bsdtar -xf + syncfs",
           [&](const fs::path& dir) {
             run_command("bsdtar -xf " + quoted(zip) + " -C " + quoted(dir));
             syncfs_at(dir);
           }},
          {"unzip -q", [&](const fs::path& dir) { run_command("unzip -q " + quoted(zip) + " -d " + quoted(dir)); }},
          {"unzip -q + syncfs",
           [&](const fs::path& dir) {
             run_command("unzip -q " + quoted(zip) + " -d " + quoted(dir));
             syncfs_at(dir);
           }},
      };
      const fs::path scratch = work / ("out-" + std::to_string(rows.size()));
      const std::vector<double> seconds = best_of(scratch, tools, spec.files >= 100);
      for (std::size_t t = 0; t < tools.size(); ++t) {
        rows.push_back({spec.label, tools[t].name, seconds[t], bytes});
      }
      // Reading an archived tree back: verify (two threads) against coreutils, both on a
      // warm page cache, best of `runs`.
      {
        const fs::path tree = work / "verify";
        fs::create_directories(tree);
        ExtractStats stats = extract_archive(zip, tree, ExtractLimits{});
        write_file_durable(tree / "SHA256SUMS", sha256sums_text(std::move(stats.digests)));
        double verify_s = 1e9, coreutils_s = 1e9;
        for (int r = 0; r < runs; ++r) {
          auto t0 = std::chrono::steady_clock::now();
          if (!verify_job_dir(tree, 2).problems.empty()) throw std::runtime_error("verify found problems");
          verify_s = std::min(verify_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          t0 = std::chrono::steady_clock::now();
          run_command("cd " + quoted(tree) + " && sha256sum --quiet --strict -c SHA256SUMS");
          coreutils_s =
              std::min(coreutils_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        rows.push_back({spec.label, verify_tool, verify_s, bytes});
        rows.push_back({spec.label, "sha256sum -c", coreutils_s, bytes});
        fs::remove_all(tree);
      }
      fs::remove(zip);
    }

    const fs::path big = work / "big.bin";
    const std::uint64_t big_size = scaled(1ULL << 30);
    {
      std::vector<char> chunk(1 << 20);
      std::uint64_t state = 2463534242ULL;
      const UniqueFd fd(::open(big.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      for (std::uint64_t left = big_size; left > 0;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
        fill_text(chunk, state);
        write_all(fd.get(), {chunk.data(), n}, big);
        left -= n;
      }
    }
    const std::string copy_label = "copy " + std::to_string(big_size >> 20) + " MiB file";
    const std::vector<Tool> tools{
        {"copy_file_durable (fsync)",
         [&](const fs::path& dir) { static_cast<void>(copy_file_durable(big, dir / "big.bin")); }},
        {"cp", [&](const fs::path& dir) { run_command("cp " + quoted(big) + " " + quoted(dir)); }},
        {"cp + syncfs",
         [&](const fs::path& dir) {
           run_command("cp " + quoted(big) + " " + quoted(dir));
           syncfs_at(dir);
         }},
    };
    const std::vector<double> seconds = best_of(work / "copy", tools, false);
    for (std::size_t t = 0; t < tools.size(); ++t) {
      rows.push_back({copy_label, tools[t].name, seconds[t], big_size});
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "benchmark failed: %s\n", error.what());
    fs::remove_all(work);
    return 1;
  }
  fs::remove_all(work);

  print_table(rows);
  std::printf("\n%-26s %14s %14s %14s %14s\n", "extract_archive speed-up", "vs bsdtar", "vs bsdtar+sync", "vs unzip",
              "vs unzip+sync");
  for (const ZipSpec& spec : specs) {
    const double mine = seconds_of(rows, spec.label, ours);
    std::printf(
        "%-26s %13.2fx %13.2fx %13.2fx %13.2fx\n", spec.label.c_str(),
        seconds_of(rows, spec.label, "bsdtar -xf") / mine, seconds_of(rows, spec.label, "bsdtar -xf + syncfs") / mine,
        seconds_of(rows, spec.label, "unzip -q") / mine, seconds_of(rows, spec.label, "unzip -q + syncfs") / mine);
  }
  std::printf("\n%-26s %18s %22s\n", "", "SHA256 cost", "verify vs sha256sum -c");
  for (const ZipSpec& spec : specs) {
    const double with = seconds_of(rows, spec.label, ours), without = seconds_of(rows, spec.label, no_hash);
    std::printf("%-26s %17.1f%% %21.2fx\n", spec.label.c_str(), (with / without - 1.0) * 100.0,
                seconds_of(rows, spec.label, "sha256sum -c") / seconds_of(rows, spec.label, verify_tool));
  }
  return 0;
}
