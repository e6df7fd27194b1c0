#include "biomero_reactor/fs_util.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace biomero_reactor {

namespace fs = std::filesystem;

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

int UniqueFd::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

RemoveFileOnFailure::~RemoveFileOnFailure() {
  if (armed_) {
    ::unlink(path_.c_str());
  }
}

void throw_system_error(int error, std::string_view action, const fs::path& path) {
  throw std::system_error(error, std::generic_category(), std::string(action) + " \"" + path.string() + "\"");
}

void write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_system_error(errno, "cannot write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
}

void fsync_path(const fs::path& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw_system_error(errno, "cannot open for fsync", path);
  }
  if (::fsync(fd.get()) != 0) {
    throw_system_error(errno, "cannot fsync", path);
  }
}

namespace {

constexpr std::size_t copy_buffer_size = 1U << 20;

std::uint64_t copy_with_read_write(int in, int out, const fs::path& from, const fs::path& to) {
  std::vector<char> buffer(copy_buffer_size);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t got = ::read(in, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_system_error(errno, "cannot read", from);
    }
    if (got == 0) {
      return total;
    }
    write_all(out, {buffer.data(), static_cast<std::size_t>(got)}, to);
    total += static_cast<std::uint64_t>(got);
  }
}

std::string file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

bool under_pseudo_tree(const fs::path& path) {
  const std::string text = path.lexically_normal().string();
  for (const std::string_view root : {"/proc", "/sys", "/dev"}) {
    if (text == root || (text.starts_with(root) && text[root.size()] == '/')) return true;
  }
  return false;
}

[[noreturn]] void refuse(std::string_view what, const fs::path& path, const std::string& why) {
  throw SourceRefused(std::string(what) + " \"" + path.string() + "\" " + why +
                      ": only regular files are read, never through a symbolic link, never from /proc, /sys or /dev");
}

// Writes [offset, offset + length) of `in` at `out_offset` in `out`, reading only the data
// extents and leaving holes (and blocks of zeros) unwritten. Returns the bytes covered.
void copy_range_sparse(int in, int out, std::uint64_t offset, std::uint64_t length, std::uint64_t out_offset,
                       const fs::path& from, const fs::path& to, std::vector<char>& buffer) {
  const std::uint64_t end = offset + length;
  std::uint64_t at = offset;
  while (at < end) {
    off_t data = ::lseek(in, static_cast<off_t>(at), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return;  // nothing but a hole up to the end of the file
      if (errno != EINVAL && errno != EOPNOTSUPP) throw_system_error(errno, "cannot seek in", from);
      data = static_cast<off_t>(at);  // no SEEK_DATA here: read everything
    }
    if (static_cast<std::uint64_t>(data) >= end) return;
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(end);
    const std::uint64_t extent_end = std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), end);
    for (std::uint64_t pos = static_cast<std::uint64_t>(data); pos < extent_end;) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), extent_end - pos));
      const ssize_t got = ::pread(in, buffer.data(), want, static_cast<off_t>(pos));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw_system_error(errno, "cannot read", from);
      }
      if (got == 0) return;  // the file shrank: what is there is copied
      const auto n = static_cast<std::size_t>(got);
      const bool zeros =
          std::all_of(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n), [](char c) { return c == 0; });
      if (!zeros) {
        for (std::size_t done = 0; done < n;) {
          const ssize_t put =
              ::pwrite(out, buffer.data() + done, n - done, static_cast<off_t>(out_offset + (pos - offset) + done));
          if (put < 0) {
            if (errno == EINTR) continue;
            throw_system_error(errno, "cannot write", to);
          }
          done += static_cast<std::size_t>(put);
        }
      }
      pos += n;
    }
    at = extent_end;
  }
}

}  // namespace

UniqueFd open_source_file(const fs::path& path, std::string_view what) {
  if (under_pseudo_tree(path)) refuse(what, path, "is below /proc, /sys or /dev");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    struct stat link {};
    if (::lstat(path.c_str(), &link) == 0 && !S_ISREG(link.st_mode)) {
      refuse(what, path, "is " + file_kind(link.st_mode));  // a socket fails open with ENXIO
    }
    if (error == ELOOP) refuse(what, path, "is a symbolic link");
    throw_system_error(error, "cannot open " + std::string(what), path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_system_error(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) refuse(what, path, "is " + file_kind(st.st_mode));
  struct statfs fs_stat {};
  if (::fstatfs(fd.get(), &fs_stat) == 0) {
    const auto type = static_cast<unsigned long>(fs_stat.f_type);
    if (type == PROC_SUPER_MAGIC || type == SYSFS_MAGIC || type == DEVPTS_SUPER_MAGIC || type == DEBUGFS_MAGIC ||
        type == SECURITYFS_MAGIC || type == CGROUP_SUPER_MAGIC || type == CGROUP2_SUPER_MAGIC) {
      refuse(what, path, "is on a kernel pseudo file system");
    }
  }
  // A directory symlink above the file (O_NOFOLLOW covers the last component only) may
  // still lead into /proc, /sys or /dev: where the file really is decides.
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  if (!ec && under_pseudo_tree(real)) refuse(what, path, "is below /proc, /sys or /dev (as " + real.string() + ")");
  // Reads of a regular file never block on O_NONBLOCK; the flag is cleared all the same.
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) static_cast<void>(::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK));
  return fd;
}

LogCopy copy_log_durable(const fs::path& from, const fs::path& to, std::uint64_t max_bytes) {
  const UniqueFd in = open_source_file(from, "SLURM log");
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) throw_system_error(errno, "cannot stat", from);
  const UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out) throw_system_error(errno, "cannot create", to);
  RemoveFileOnFailure cleanup(to);

  LogCopy copy;
  copy.source_bytes = static_cast<std::uint64_t>(st.st_size);
  std::vector<char> buffer(copy_buffer_size);
  std::uint64_t out_size = 0;
  if (copy.source_bytes <= max_bytes) {
    copy_range_sparse(in.get(), out.get(), 0, copy.source_bytes, 0, from, to, buffer);
    copy.copied_bytes = out_size = copy.source_bytes;
  } else {
    copy.truncated = true;
    const std::uint64_t head = max_bytes / 2;
    const std::uint64_t tail = max_bytes - head;
    const std::uint64_t left_out = copy.source_bytes - head - tail;
    const std::string marker = "\n[biomero-reactor: log truncated: " + std::to_string(left_out) + " of " +
                               std::to_string(copy.source_bytes) +
                               " bytes left out here (limits.max_log_bytes = " + std::to_string(max_bytes) + ")]\n";
    copy_range_sparse(in.get(), out.get(), 0, head, 0, from, to, buffer);
    if (::pwrite(out.get(), marker.data(), marker.size(), static_cast<off_t>(head)) !=
        static_cast<ssize_t>(marker.size())) {
      throw_system_error(errno == 0 ? EIO : errno, "cannot write", to);
    }
    copy_range_sparse(in.get(), out.get(), copy.source_bytes - tail, tail, head + marker.size(), from, to, buffer);
    copy.copied_bytes = head + tail;
    out_size = head + marker.size() + tail;
  }
  // Trailing holes (and skipped zeros at the end) are not written: the size says where the
  // file ends.
  if (::ftruncate(out.get(), static_cast<off_t>(out_size)) != 0) throw_system_error(errno, "cannot size", to);
  if (::fsync(out.get()) != 0) throw_system_error(errno, "cannot fsync", to);
  cleanup.dismiss();
  return copy;
}

std::uint64_t copy_file_durable(const fs::path& from, const fs::path& to) {
  const UniqueFd in = open_source_file(from, "result archive");
  const UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out) {
    throw_system_error(errno, "cannot create", to);
  }
  RemoveFileOnFailure cleanup(to);

  std::uint64_t total = 0;
  for (;;) {
    const ssize_t copied = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, std::size_t{1} << 30, 0);
    if (copied > 0) {
      total += static_cast<std::uint64_t>(copied);
      continue;
    }
    if (copied == 0) {
      break;
    }
    if (errno == EINTR) {
      continue;
    }
    // Not supported between these file systems: the kernel copied nothing, so the
    // file offsets are still where the copy stopped and read/write carries on there.
    if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
      total += copy_with_read_write(in.get(), out.get(), from, to);
      break;
    }
    throw_system_error(errno, "cannot copy to", to);
  }
  if (::fsync(out.get()) != 0) {
    throw_system_error(errno, "cannot fsync", to);
  }
  cleanup.dismiss();
  return total;
}

void write_file_durable(const fs::path& path, std::string_view content) {
  const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) {
    throw_system_error(errno, "cannot create", path);
  }
  write_all(fd.get(), content, path);
  if (::fsync(fd.get()) != 0) {
    throw_system_error(errno, "cannot fsync", path);
  }
}

namespace {

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint16_t le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}
std::uint64_t le64(const unsigned char* p) {
  return static_cast<std::uint64_t>(le32(p)) | static_cast<std::uint64_t>(le32(p + 4)) << 32;
}

bool read_at(int fd, std::uint64_t offset, unsigned char* out, std::size_t length) {
  std::size_t done = 0;
  while (done < length) {
    const ssize_t got = ::pread(fd, out + done, length - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<std::size_t>(got);
  }
  return true;
}

}  // namespace

std::optional<FileStamp> file_stamp(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  FileStamp stamp{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                  static_cast<std::uint64_t>(st.st_size), 1, mtime_ns(st)};
  if (!S_ISDIR(st.st_mode)) return stamp;
  stamp.size = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat entry {};
    if (::lstat(it->path().c_str(), &entry) != 0) continue;
    ++stamp.entries;
    stamp.size += S_ISREG(entry.st_mode) ? static_cast<std::uint64_t>(entry.st_size) : 0;
    stamp.mtime_ns = std::max(stamp.mtime_ns, mtime_ns(entry));
  }
  if (ec) return std::nullopt;
  return stamp;
}

bool zip_end_readable(const fs::path& path) {
  constexpr std::size_t record = 22;
  constexpr std::size_t max_comment = 65535;
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < record) return false;
  const std::uint64_t tail_start = size > record + max_comment ? size - record - max_comment : 0;
  std::vector<unsigned char> tail(size - tail_start);
  if (!read_at(fd.get(), tail_start, tail.data(), tail.size())) return false;
  for (std::size_t at = tail.size() - record + 1; at-- > 0;) {
    const unsigned char* end = tail.data() + at;
    if (le32(end) != 0x06054b50) continue;
    if (at + record + le16(end + 20) != tail.size()) continue;  // the comment must end the file
    const std::uint64_t end_offset = tail_start + at;
    std::uint64_t directory_size = le32(end + 12);
    std::uint64_t directory_offset = le32(end + 16);
    const std::uint64_t entries = le16(end + 10);
    std::uint64_t directory_end = end_offset;
    if (directory_offset == 0xFFFFFFFF || directory_size == 0xFFFFFFFF || entries == 0xFFFF) {
      // zip64: a locator just before the record points at the zip64 end record.
      unsigned char locator[20];
      if (end_offset < 20 || !read_at(fd.get(), end_offset - 20, locator, sizeof locator) ||
          le32(locator) != 0x07064b50) {
        return false;
      }
      const std::uint64_t zip64_end = le64(locator + 8);
      unsigned char zip64[56];
      if (zip64_end + sizeof zip64 > end_offset - 20 || !read_at(fd.get(), zip64_end, zip64, sizeof zip64) ||
          le32(zip64) != 0x06064b50) {
        return false;
      }
      directory_size = le64(zip64 + 40);
      directory_offset = le64(zip64 + 48);
      directory_end = zip64_end;
    }
    if (directory_offset > directory_end || directory_size > directory_end - directory_offset) return false;
    if (directory_size == 0) return entries == 0;
    unsigned char signature[4];
    return read_at(fd.get(), directory_offset, signature, sizeof signature) && le32(signature) == 0x02014b50;
  }
  return false;
}

bool settled_between(const fs::path& path, const std::optional<FileStamp>& before,
                     const std::optional<FileStamp>& after) {
  if (!before || !after || *before != *after) return false;
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(path, ec))) return after->entries > 1;
  if (after->size == 0) return false;
  if (path.extension() == ".zip" || path.extension() == ".ZIP") return zip_end_readable(path);
  return true;
}

bool file_settled(const fs::path& path, std::chrono::milliseconds settle_interval) {
  const std::optional<FileStamp> before = file_stamp(path);
  if (!before) return false;
  std::this_thread::sleep_for(settle_interval);
  return settled_between(path, before, file_stamp(path));
}

bool is_safe_component(std::string_view component) noexcept {
  if (component.empty() || component.size() > 128 || component.front() == '.') {
    return false;
  }
  for (const char c : component) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace biomero_reactor
