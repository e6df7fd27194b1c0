#pragma once
// Where a group's results go on the storage BIOMERO.importer imports from, resolved the
// way BIOMERO's SLURM_Import_Results.py does: the folder of the first group mapping
// (OMERO.biomero's biomero-config.json, then group-mappings.json) whose groupName is
// the group, else <base_dir>/<group name>, base_dir from the importer's settings.yml.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/fs_util.hpp"

namespace biomero_reactor {

// A settings or mappings file that cannot be read or parsed, or a group (or mapping)
// whose path would leave base_dir. The message names the file or the mapping.
struct GroupStorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct GroupMapping {
  std::string folder;      // relative to base_dir; may hold '/'
  std::string group_name;  // OMERO group name ("groupName" in the JSON)
};

struct StorageSettings {
  std::filesystem::path base_dir;
  std::map<std::string /*group id as string*/, GroupMapping> mappings;
  // The ids of `mappings` in BIOMERO's iteration order: the first file's document order,
  // then ids first seen in later files (a Python dict update keeps existing positions).
  std::vector<std::string> mapping_order;
  // Absent files and ignored entries, for the caller to log.
  std::vector<std::string> warnings;
  // The files read (importer.settings, each group mappings file) as they were just before
  // reading them: size, mtime, inode; nullopt for an absent one (storage_refresh.hpp).
  std::vector<std::pair<std::filesystem::path, std::optional<FileStamp>>> sources;
};

// Reads importer.settings (or importer.base_dir_override) and every importer.group_mappings
// file in order; later files win per group id; absent files are skipped with a warning.
[[nodiscard]] StorageSettings load_storage_settings(const Config& config);

// Mappings first, then the config's names.groups.
[[nodiscard]] std::optional<std::string> group_name_for(const StorageSettings& settings, const Config& config,
                                                        std::int64_t group_id);
[[nodiscard]] std::optional<std::string> user_name_for(const Config& config, std::int64_t user_id);

// Throws GroupStorageError for a group name that is not one safe path component, or a
// selected mapping whose folder is absolute or climbs out with "..".
[[nodiscard]] std::filesystem::path group_base_path(const StorageSettings& settings, std::string_view group_name);

struct ProbeResult {
  std::filesystem::path path;  // <group base>/.analyzed
  bool ok;
  std::string detail;                          // on failure: what failed, as which uid/gid, and what to fix
  std::vector<std::filesystem::path> created;  // directories the probe created and left (outermost first)
  std::vector<std::filesystem::path> removed;  // directories it created and removed again
};
enum class ProbeCleanup {
  keep_directories,  // the pipeline: the directories are needed next anyway
  remove_created,    // `check`: leave the storage as found
};
// Creates <group_base>/.analyzed (and the group base, as a group's first workflow needs),
// writes a probe file there, reads it back and removes it; with remove_created, then
// removes the directories it created (those it could not remove stay in `created`).
[[nodiscard]] ProbeResult probe_analyzed_writable(const std::filesystem::path& group_base,
                                                  ProbeCleanup cleanup = ProbeCleanup::keep_directories);

}  // namespace biomero_reactor
