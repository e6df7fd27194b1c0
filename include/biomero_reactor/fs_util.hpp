// Durable file-system primitives shared by the archive pipeline: an owning file
// descriptor, fsync of files and directories, crash-safe copies and writes, and the
// one validator for ids (workflow uuid, SLURM job id) before they become path components.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace biomero_reactor {

// Owns a POSIX file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int release() noexcept;

 private:
  int fd_ = -1;
};

// Removes a file this process just created unless dismissed: a failed write leaves
// nothing behind. Holds a reference: `path` must outlive it.
class RemoveFileOnFailure {
 public:
  explicit RemoveFileOnFailure(const std::filesystem::path& path) noexcept : path_(path) {}
  RemoveFileOnFailure(const RemoveFileOnFailure&) = delete;
  RemoveFileOnFailure& operator=(const RemoveFileOnFailure&) = delete;
  ~RemoveFileOnFailure();
  void dismiss() noexcept { armed_ = false; }

 private:
  const std::filesystem::path& path_;
  bool armed_ = true;
};

// Throws std::system_error for `error` (an errno value) with a message naming the path.
[[noreturn]] void throw_system_error(int error, std::string_view action, const std::filesystem::path& path);

// Writes all of `data` to `fd` (retrying short writes and EINTR); `path` names it in errors.
void write_all(int fd, std::string_view data, const std::filesystem::path& path);

// fsync a file or a directory. Throws std::system_error naming the path.
void fsync_path(const std::filesystem::path& path);

// A source the reactor was asked to read but must not: not a regular file (symlink, FIFO,
// socket, device, directory) or on /proc, /sys or /dev. Permanent: retrying cannot fix it.
struct SourceRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Opens a file the reactor reads from the outside world (a result archive, a SLURM log)
// without ever blocking or following a link: O_NOFOLLOW | O_NONBLOCK, then fstat. Refuses
// (SourceRefused, naming the path and what it is) a symlink as the last component, any
// non-regular file (a FIFO would block a worker forever, a device could read endlessly),
// and anything on /proc, /sys or /dev (by path and by file system type: /proc/self/environ
// holds the database password). Other errors (ENOENT, EACCES) throw std::system_error.
// `what` names the source in messages ("SLURM log").
[[nodiscard]] UniqueFd open_source_file(const std::filesystem::path& path, std::string_view what);

// Copies `from` (opened with open_source_file) to the new file `to` (which must not
// exist: O_EXCL) and fsyncs it. Uses copy_file_range, falling back to read/write across file systems. The parent
// directory is not fsynced: the caller does that once for all its entries.
// On failure the partial target is removed. Returns the bytes copied.
[[nodiscard]] std::uint64_t copy_file_durable(const std::filesystem::path& from, const std::filesystem::path& to);

// The cap on a copied log, unless the caller says otherwise (limits.max_log_bytes).
inline constexpr std::uint64_t default_max_log_bytes = std::uint64_t{64} << 20;

struct LogCopy {
  std::uint64_t source_bytes = 0;  // the log's size
  std::uint64_t copied_bytes = 0;  // of it, copied (all, unless truncated)
  bool truncated = false;
};

// Copies a log (opened with open_source_file) to the new file `to`, fsynced, at most
// `max_bytes` of it: a larger log keeps its first and last max_bytes / 2 bytes with one
// marker line between them saying how much was left out and why. Holes stay holes: only
// the data extents (SEEK_DATA / SEEK_HOLE) are read, and blocks of zeros inside them are
// skipped in the copy too, so a 1 GiB sparse log costs its data, not 1 GiB.
[[nodiscard]] LogCopy copy_log_durable(const std::filesystem::path& from, const std::filesystem::path& to,
                                       std::uint64_t max_bytes = default_max_log_bytes);

// Writes `content` to `path` (created or replaced, never through a symlink) and fsyncs
// it. As with copy_file_durable, the parent directory is the caller's to fsync.
void write_file_durable(const std::filesystem::path& path, std::string_view content);

// What says a file (or a directory tree) is still being written: its identity, size and
// modification time. For a directory: the number of entries below it, their total size
// and the latest mtime among them.
struct FileStamp {
  std::uint64_t device = 0, inode = 0, size = 0, entries = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
// nullopt when the path does not exist (or cannot be read); never follows a final symlink.
[[nodiscard]] std::optional<FileStamp> file_stamp(const std::filesystem::path& path);

// True when the file ends with a zip end of central directory record that is consistent
// with the file: the record (and, for zip64, its locator and record) lies within the last
// 64 KiB + 22 bytes, its comment ends exactly at the end of the file, and the central
// directory it points to lies before it and starts with a central header signature (or
// the archive is empty). A zip still being written, or cut short, has none.
[[nodiscard]] bool zip_end_readable(const std::filesystem::path& path);

// "Appeared" means "complete": the same FileStamp at the start and at the end of
// `settle_interval` (this call sleeps that long: call it on a worker thread; the pipeline
// looks with settle.hpp's look_at_results instead), not empty, and for a name ending in
// .zip a readable end of central directory.
[[nodiscard]] bool file_settled(const std::filesystem::path& path, std::chrono::milliseconds settle_interval);
// The checks of file_settled on two stamps taken `settle_interval` apart.
[[nodiscard]] bool settled_between(const std::filesystem::path& path, const std::optional<FileStamp>& before,
                                   const std::optional<FileStamp>& after);

// True when `component` may be used as one path component built from an id:
// 1..128 characters of [A-Za-z0-9._-], not starting with '.' (so never "." or "..").
[[nodiscard]] bool is_safe_component(std::string_view component) noexcept;

}  // namespace biomero_reactor
