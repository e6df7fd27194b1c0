#include "biomero_reactor/fs_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
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

}  // namespace

std::uint64_t copy_file_durable(const fs::path& from, const fs::path& to) {
  const UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) {
    throw_system_error(errno, "cannot open", from);
  }
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
