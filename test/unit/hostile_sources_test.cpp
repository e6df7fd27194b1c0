// Result sources as a careless or hostile results directory holds them: a log that is a
// symlink to a secret, a FIFO where the archive should be, a device, /proc, a 1 GiB
// sparse log. Each is refused with a clear permanent error, or copied within bounds,
// without ever blocking a worker. Checks that could hang on today's code run in a forked
// child with an alarm, so they fail instead of hanging.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <string>

#include "biomero_reactor/fs_util.hpp"
#include "biomero_reactor/job_dir.hpp"
#include "child_probe.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace biomero_reactor;
using test::probe_in_child;
using test::TempTree;

namespace {

const Uuid workflow_id = *Uuid::parse("da9e05d2-1741-4302-a188-311267647bcc");

// What refusing `path` as a log says, in a child that may take at most 5 s.
std::string log_refusal(const fs::path& path, const fs::path& to) {
  const auto probe = probe_in_child([&] {
    ::alarm(5);
    try {
      static_cast<void>(copy_log_durable(path, to));
      return std::string("copied");
    } catch (const SourceRefused& e) {
      return std::string("refused: ") + e.what();
    } catch (const std::exception& e) {
      return std::string("other error: ") + e.what();
    }
  });
  if (probe.signal) return "killed by signal " + std::to_string(*probe.signal);
  return probe.result;
}

std::uint64_t allocated_bytes(const fs::path& path) {
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// A sparse file of `size` bytes: `head` at the start, `tail` at the end, holes between.
void write_sparse(const fs::path& path, std::uint64_t size, const std::string& head, const std::string& tail) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::pwrite(fd, head.data(), head.size(), 0) == static_cast<ssize_t>(head.size()));
  BOOST_REQUIRE(::pwrite(fd, tail.data(), tail.size(), static_cast<off_t>(size - tail.size())) ==
                static_cast<ssize_t>(tail.size()));
  ::close(fd);
}

std::string read_range(const fs::path& path, std::uint64_t offset, std::size_t length) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(length, '\0');
  in.read(out.data(), static_cast<std::streamsize>(length));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_sources_test)

BOOST_AUTO_TEST_CASE(a_log_that_is_a_symlink_to_a_secret_is_refused) {
  TempTree t;
  t.write("secret", "DATABASE_PASSWORD=hunter2\n");
  fs::create_symlink(t.path() / "secret", t.path() / "omero-1.log");
  const std::string message = log_refusal(t.path() / "omero-1.log", t.path() / "copy.log");
  BOOST_TEST(contains(message, "refused: SLURM log"), message);
  BOOST_TEST(contains(message, "is a symbolic link"), message);
  BOOST_TEST(!fs::exists(t.path() / "copy.log"));
}

BOOST_AUTO_TEST_CASE(proc_sys_and_dev_are_never_read_not_even_through_a_directory_link) {
  TempTree t;
  fs::create_directory_symlink("/proc/self", t.path() / "self");
  for (const fs::path& path : {fs::path("/proc/self/environ"), t.path() / "self" / "environ",
                               fs::path("/sys/kernel/hostname"), fs::path("/dev/zero")}) {
    const std::string message = log_refusal(path, t.path() / "copy.log");
    BOOST_TEST(contains(message, "refused:"), path << ": " << message);
    BOOST_TEST(contains(message, "/proc, /sys or /dev"), path << ": " << message);
  }
}

BOOST_AUTO_TEST_CASE(fifos_sockets_and_devices_are_refused_without_blocking) {
  TempTree t;
  BOOST_REQUIRE(::mkfifo((t.path() / "fifo").c_str(), 0644) == 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string socket_path = (t.path() / "sock").string();
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
  BOOST_REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  fs::create_directory(t.path() / "dir");
  for (const auto& [name, kind] :
       {std::pair{"fifo", "a FIFO"}, std::pair{"sock", "a socket"}, std::pair{"dir", "a directory"}}) {
    const std::string message = log_refusal(t.path() / name, t.path() / "copy.log");
    BOOST_TEST(contains(message, std::string("is ") + kind), name << ": " << message);
  }
  ::close(sock);
}

BOOST_AUTO_TEST_CASE(a_fifo_as_the_result_archive_fails_the_job_permanently_at_once) {
  TempTree t;
  BOOST_REQUIRE(::mkfifo((t.path() / "1_out.zip").c_str(), 0644) == 0);
  const auto probe = probe_in_child([&] {
    ::alarm(5);
    JobSources sources;
    sources.zip = t.path() / "1_out.zip";
    try {
      static_cast<void>(build_job_dir(t.path() / "group", workflow_id, "1", sources, ExtractLimits{},
                                      JobDirOptions{.metadata_csv = "csv"}));
    } catch (const PermanentError& e) {
      return std::string("permanent: ") + e.what();
    } catch (const std::exception& e) {
      return std::string("other: ") + e.what();
    }
    return std::string("built");
  });
  BOOST_TEST(!probe.signal.has_value(), "the worker blocked on the FIFO");
  BOOST_TEST(contains(probe.result, "permanent: result archive"), probe.result);
  BOOST_TEST(contains(probe.result, "is a FIFO"), probe.result);
}

BOOST_AUTO_TEST_CASE(a_symlinked_log_fails_the_job_permanently_and_nothing_is_published) {
  TempTree t;
  test::write_job_results(t.path() / "results", "1");
  fs::remove(t.path() / "results" / "omero-1.log");
  fs::create_symlink("/etc/passwd", t.path() / "results" / "omero-1.log");
  JobSources sources;
  sources.zip = t.path() / "results" / "1_out.zip";
  sources.log = t.path() / "results" / "omero-1.log";
  try {
    static_cast<void>(build_job_dir(t.path() / "group", workflow_id, "1", sources, ExtractLimits{},
                                    JobDirOptions{.metadata_csv = "csv"}));
    BOOST_FAIL("built");
  } catch (const PermanentError& e) {
    BOOST_TEST(contains(e.what(), "is a symbolic link"), e.what());
  }
  BOOST_TEST(!fs::exists(job_dir_path(t.path() / "group", workflow_id, "1")));
}

BOOST_AUTO_TEST_CASE(a_one_gib_sparse_log_stays_sparse) {
  TempTree t;
  const std::uint64_t size = std::uint64_t{1} << 30;
  write_sparse(t.path() / "sparse.log", size, "first line\n", "last line\n");
  const LogCopy copy = copy_log_durable(t.path() / "sparse.log", t.path() / "copy.log", size);
  BOOST_TEST(!copy.truncated);
  BOOST_TEST(copy.copied_bytes == size);
  BOOST_TEST(fs::file_size(t.path() / "copy.log") == size);
  BOOST_TEST(allocated_bytes(t.path() / "copy.log") < (std::uint64_t{1} << 20));
  BOOST_TEST(read_range(t.path() / "copy.log", 0, 11) == "first line\n");
  BOOST_TEST(read_range(t.path() / "copy.log", size - 10, 10) == "last line\n");
  BOOST_TEST(read_range(t.path() / "copy.log", size / 2, 4) == std::string(4, '\0'));
}

BOOST_AUTO_TEST_CASE(a_log_over_the_limit_keeps_head_and_tail_with_a_marker_and_stays_sparse) {
  TempTree t;
  const std::uint64_t size = std::uint64_t{1} << 30;
  write_sparse(t.path() / "sparse.log", size, "first line\n", "last line\n");
  const LogCopy copy = copy_log_durable(t.path() / "sparse.log", t.path() / "copy.log");  // the 64 MiB default
  BOOST_TEST(copy.truncated);
  BOOST_TEST(copy.copied_bytes == default_max_log_bytes);
  const std::uint64_t copied = fs::file_size(t.path() / "copy.log");
  BOOST_TEST(copied > default_max_log_bytes);
  BOOST_TEST(copied < default_max_log_bytes + 200);
  BOOST_TEST(allocated_bytes(t.path() / "copy.log") < (std::uint64_t{1} << 20));
  BOOST_TEST(read_range(t.path() / "copy.log", 0, 11) == "first line\n");
  BOOST_TEST(read_range(t.path() / "copy.log", copied - 10, 10) == "last line\n");
  const std::string marker = read_range(t.path() / "copy.log", default_max_log_bytes / 2, 200);
  BOOST_TEST(
      contains(marker, "[biomero-reactor: log truncated: " + std::to_string(size - default_max_log_bytes) + " of " +
                           std::to_string(size) + " bytes left out here (limits.max_log_bytes = 67108864)]"),
      marker);
}

BOOST_AUTO_TEST_CASE(zeros_written_as_data_are_not_copied_as_data) {
  TempTree t;
  t.write("zeros.log", "start\n" + std::string(8 << 20, '\0') + "end\n");
  const LogCopy copy = copy_log_durable(t.path() / "zeros.log", t.path() / "copy.log");
  BOOST_TEST(copy.copied_bytes == (8u << 20) + 10);
  BOOST_TEST(test::read_file(t.path() / "copy.log") == test::read_file(t.path() / "zeros.log"));
  BOOST_TEST(allocated_bytes(t.path() / "copy.log") < (std::uint64_t{4} << 20));
}

BOOST_AUTO_TEST_CASE(the_job_directory_takes_the_log_limit_as_a_parameter) {
  TempTree t;
  test::write_job_results(t.path() / "results", "1");
  t.write("results/omero-1.log", std::string(4096, 'l') + "\n");
  JobSources sources;
  sources.zip = t.path() / "results" / "1_out.zip";
  sources.log = t.path() / "results" / "omero-1.log";
  const JobDir built = build_job_dir(t.path() / "group", workflow_id, "1", sources, ExtractLimits{},
                                     JobDirOptions{.metadata_csv = "csv", .max_log_bytes = 1024});
  BOOST_TEST(built.log_truncated);
  const std::string log = test::read_file(built.path / "omero-1.log");
  BOOST_TEST(contains(log, "log truncated: 3073 of 4097 bytes"), log.substr(500, 200));
}

BOOST_AUTO_TEST_SUITE_END()
