#include "biomero_reactor/spool_move.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {

SpoolMove link_or_copy(const std::filesystem::path& from, const std::filesystem::path& to) {
  struct stat st {};
  if (::lstat(from.c_str(), &st) != 0) throw_system_error(errno, "lstat", from);
  if (!S_ISREG(st.st_mode)) throw SourceRefused("spool file \"" + from.string() + "\" is not a regular file");
  if (st.st_nlink != 1) {
    throw SourceRefused("spool file \"" + from.string() + "\" has " + std::to_string(st.st_nlink) +
                        " links: a handed-off file must have exactly one");
  }
  // flags 0: a symlink would be linked as itself, never followed (refused above anyway).
  if (::linkat(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), 0) == 0) {
    struct stat now {};
    if (::lstat(to.c_str(), &now) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
      ::unlink(to.c_str());
      throw SourceRefused("spool file \"" + from.string() + "\" changed while it was moved");
    }
    fsync_path(to);
    return {0, true};
  }
  const int err = errno;
  if (err != EXDEV && err != EPERM && err != EMLINK) throw_system_error(err, "link", to);
  return {copy_file_durable(from, to), false};
}

}  // namespace biomero_reactor
