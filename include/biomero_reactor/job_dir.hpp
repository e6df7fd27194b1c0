#pragma once
// Builds a job's permanent archive directory (SPEC §3.4, the seed's layout):
//   <group base>/.analyzed/<workflow uuid>/<job id>/
//       <job id>_out.zip   <job id>_out/ (extracted as-is, + metadata.csv)   omero-<job id>.log
// under a hidden temporary name beside it, published by one rename(2) after everything is
// fsynced: a crash leaves nothing or the complete directory, and a retry rebuilds it.
// Blocking: call it from the worker pool, never from the event loop.
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include "biomero_reactor/archive.hpp"
#include "biomero_reactor/errors.hpp"
#include "biomero_reactor/images.hpp"
#include "biomero_reactor/uuid.hpp"

namespace biomero_reactor {

struct JobSources {
  std::filesystem::path zip;                 // the worker's result archive (used when dir is empty)
  std::filesystem::path dir;                 // or a results directory the reactor zips itself
  std::optional<std::filesystem::path> log;  // the SLURM log; absent: not archived
};

struct JobDir {
  std::filesystem::path path;  // the published directory
  ImageSet images;             // absolute paths inside it
  std::uint64_t bytes_extracted = 0;
  std::uint64_t bytes_copied = 0;
  bool reused = false;  // already published by an earlier attempt
};

// metadata_csv goes to <job>_out/metadata.csv and, when copies_next_to_images, into every
// directory holding images (the importer attaches it to them).
JobDir build_job_dir(const std::filesystem::path& group_base, const Uuid& workflow_id, const std::string& job_id,
                     const JobSources& sources, const ExtractLimits& limits, const std::string& metadata_csv,
                     bool copies_next_to_images);

// The published directory of a job (validating the ids that become path components).
std::filesystem::path job_dir_path(const std::filesystem::path& group_base, const Uuid& workflow_id,
                                   const std::string& job_id);

}  // namespace biomero_reactor
