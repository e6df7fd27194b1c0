// Durable file-system primitives shared by the archive pipeline: an owning file
// descriptor, fsync of files and directories, crash-safe copies and writes, and the
// one validator for ids (workflow uuid, SLURM job id) before they become path components.
#pragma once

#include <cstdint>
#include <filesystem>
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

// Copies `from` to the new file `to` (which must not exist: O_EXCL) and fsyncs it.
// Uses copy_file_range, falling back to read/write across file systems. The parent
// directory is not fsynced: the caller does that once for all its entries.
// On failure the partial target is removed. Returns the bytes copied.
[[nodiscard]] std::uint64_t copy_file_durable(const std::filesystem::path& from, const std::filesystem::path& to);

// Writes `content` to `path` (created or replaced, never through a symlink) and fsyncs
// it. As with copy_file_durable, the parent directory is the caller's to fsync.
void write_file_durable(const std::filesystem::path& path, std::string_view content);

// True when `component` may be used as one path component built from an id:
// 1..128 characters of [A-Za-z0-9._-], not starting with '.' (so never "." or "..").
[[nodiscard]] bool is_safe_component(std::string_view component) noexcept;

}  // namespace biomero_reactor
