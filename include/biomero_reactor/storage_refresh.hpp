#pragma once
// Group mappings edited while the daemon runs (OMERO.biomero's admin page rewrites
// biomero-config.json): each job is archived against the mappings current at that
// moment. Before a job's storage is resolved, the files the settings came from are
// stat-ed (cheap, and it works on network file systems where inotify does not); when one
// changed, everything is read again and what changed is logged group by group. SIGHUP
// forces the same re-read. A file that no longer reads keeps the settings in force.
#include <string>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/group_storage.hpp"

namespace biomero_reactor {

// True when a source file of `settings` is not as it was when they were read.
[[nodiscard]] bool storage_sources_changed(const StorageSettings& settings);

// What differs between two readings, one line each: base_dir, and per group id a mapping
// added, removed, or with another folder or group name. Pure.
[[nodiscard]] std::vector<std::string> mapping_changes(const StorageSettings& before, const StorageSettings& after);

// Reads the settings again when `force` or when a source changed; logs the changes (or
// that the files could not be read, keeping `current`). Returns true when re-read.
bool refresh_storage(StorageSettings& current, const Config& config, bool force);

}  // namespace biomero_reactor
