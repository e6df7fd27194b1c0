#pragma once
// Moving a handed-off file from the spool into a job directory under construction without
// copying it: link(2) beside the source, the source is unlinked by the caller only after
// the job directory is published. A crash at any point leaves the spool copy intact (the
// half-built directory is discarded by the next attempt), which one rename(2) from the
// spool would not. Across file systems (EXDEV) it falls back to copy_file_durable.
// Blocking: worker pool only.
#include <cstdint>
#include <filesystem>

namespace biomero_reactor {

struct SpoolMove {
  std::uint64_t bytes_copied = 0;  // 0 when linked
  bool linked = false;
};

// `from` must be a regular file with exactly one link, never a symlink (SourceRefused
// otherwise: a hard link planted in the spool could point at any file of the volume);
// `to` must not exist. The new name's data is fsynced; its directory is the caller's.
[[nodiscard]] SpoolMove link_or_copy(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace biomero_reactor
