#include "biomero_reactor/settle.hpp"

#include <optional>

namespace biomero_reactor {
namespace {

// A regular file whose mtime is already settle_interval old has stood still that long:
// taken at once (a directory's mtime does not move when a file inside it grows).
bool last_changed_before(const std::filesystem::path& path, const std::optional<FileStamp>& stamp,
                         std::chrono::milliseconds settle_interval) {
  std::error_code ec;
  if (!stamp || !std::filesystem::is_regular_file(std::filesystem::symlink_status(path, ec))) return false;
  const auto now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto age = std::chrono::nanoseconds(now_ns - stamp->mtime_ns);
  return age >= settle_interval && settled_between(path, stamp, stamp);
}

}  // namespace

FirstLook first_look(const std::filesystem::path& path, std::chrono::milliseconds settle_interval) {
  FirstLook look;
  look.stamp = file_stamp(path);
  look.settled = last_changed_before(path, look.stamp, settle_interval);
  return look;
}

bool second_look(const std::filesystem::path& path, const std::optional<FileStamp>& before) {
  return settled_between(path, before, file_stamp(path));
}

}  // namespace biomero_reactor
