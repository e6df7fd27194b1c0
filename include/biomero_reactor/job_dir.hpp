#pragma once
// Builds a job's permanent archive directory (the layout BIOMERO's users know):
//   <group base>/.analyzed/<workflow uuid>/<job id>/
//       <job id>_out.zip   <job id>_out/ (extracted as-is, + metadata.csv)   omero-<job id>.log
//       SHA256SUMS (every file above, `sha256sum -c` format; see checksums.hpp)
// under a hidden temporary name beside it, published by one rename(2) after everything is
// fsynced: a crash leaves nothing or the complete directory, and a retry rebuilds it.
// Blocking: call it from the worker pool, never from the event loop.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/fs_util.hpp"
#include "biomero_reactor/images.hpp"
#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor {

struct JobSources {
  std::filesystem::path zip;                 // the worker's result archive (used when dir is empty)
  std::filesystem::path dir;                 // or a results directory the reactor zips itself
  std::optional<std::filesystem::path> log;  // the SLURM log; absent: not archived
  bool link_zip = false;                     // zip is a handoff's spool file: linked in, not copied (spool_move.hpp)
};

// What goes into the directory besides the results.
struct JobDirOptions {
  // Goes to <job>_out/metadata.csv and, when csv_next_to_images, into every directory
  // holding images (the importer attaches it to them).
  std::string metadata_csv;
  bool csv_next_to_images = true;
  std::uint64_t max_log_bytes = default_max_log_bytes;
  // The user's "Rename imported files?" pattern, applied right after extraction (the
  // checksum lines follow the new names; rename_pattern.hpp); nullopt: names as extracted.
  std::optional<std::string> rename_pattern{};
  // Label images named `<name>.zarr` as BIOMERO names them (name_label_zarrs); off when
  // labels are not imported.
  bool name_label_zarrs = true;
};

struct JobDir {
  std::filesystem::path path;  // the published directory
  ImageSet images;             // absolute paths inside it
  std::uint64_t bytes_extracted = 0;
  std::uint64_t bytes_copied = 0;
  bool reused = false;                       // already published by an earlier attempt
  bool log_truncated = false;                // the log was over max_log_bytes (a marker line says so in it)
  std::size_t renamed = 0;                   // files and zarrs renamed by the pattern
  std::size_t labels_renamed = 0;            // label groups given their `.zarr` name
  std::vector<std::string> rename_warnings;  // files kept under their old names, and why
};

// Sources are read as open_source_file says (regular files only, never through a final
// symlink, never from /proc, /sys, /dev): anything else is a PermanentError naming it.
// The log is copied with copy_log_durable: holes stay holes, and a log over
// max_log_bytes keeps its head and tail with a marker line between them.
JobDir build_job_dir(const std::filesystem::path& group_base, const Uuid& workflow_id, const std::string& job_id,
                     const JobSources& sources, const ExtractLimits& limits, const JobDirOptions& options);

// The published directory of a job (validating the ids that become path components).
std::filesystem::path job_dir_path(const std::filesystem::path& group_base, const Uuid& workflow_id,
                                   const std::string& job_id);

}  // namespace biomero_reactor
