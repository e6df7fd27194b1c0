#include "biomero_reactor/storage_refresh.hpp"

#include <set>

#include "biomero_reactor/log.hpp"

namespace biomero_reactor {

namespace {

std::string describe(const GroupMapping& m) {
  return "folder \"" + m.folder + "\", group \"" + m.group_name + "\"";
}

}  // namespace

bool storage_sources_changed(const StorageSettings& settings) {
  for (const auto& [path, stamp] : settings.sources)
    if (file_stamp(path) != stamp) return true;
  return false;
}

std::vector<std::string> mapping_changes(const StorageSettings& before, const StorageSettings& after) {
  std::vector<std::string> out;
  if (before.base_dir != after.base_dir)
    out.push_back("base_dir " + before.base_dir.string() + " -> " + after.base_dir.string());
  std::set<std::string> ids;
  for (const auto& [id, m] : before.mappings) ids.insert(id);
  for (const auto& [id, m] : after.mappings) ids.insert(id);
  for (const auto& id : ids) {
    const auto was = before.mappings.find(id);
    const auto now = after.mappings.find(id);
    if (was == before.mappings.end()) {
      out.push_back("group " + id + " mapped: " + describe(now->second));
    } else if (now == after.mappings.end()) {
      out.push_back("group " + id + " no longer mapped (was " + describe(was->second) + ")");
    } else if (was->second.folder != now->second.folder || was->second.group_name != now->second.group_name) {
      out.push_back("group " + id + ": " + describe(was->second) + " -> " + describe(now->second));
    }
  }
  return out;
}

bool refresh_storage(StorageSettings& current, const Config& config, bool force) {
  if (!force && !storage_sources_changed(current)) return false;
  try {
    StorageSettings fresh = load_storage_settings(config);
    for (const auto& w : fresh.warnings) log::warn(w);
    const auto changes = mapping_changes(current, fresh);
    for (const auto& change : changes) log::info("group mappings changed", {{"change", change}});
    log::info("group mappings reloaded", {{"base_dir", fresh.base_dir.string()},
                                          {"groups", static_cast<std::int64_t>(fresh.mappings.size())},
                                          {"changes", static_cast<std::int64_t>(changes.size())}});
    current = std::move(fresh);
  } catch (const std::exception& e) {
    // Stamp the unreadable files as seen, so one bad edit is reported once, not per job.
    for (auto& [path, stamp] : current.sources) stamp = file_stamp(path);
    log::error("group mappings not reloaded; keeping the ones in force", {{"error", e.what()}});
  }
  return true;
}

}  // namespace biomero_reactor
