#pragma once
// What `check` warns about in a configuration that loads: settings without which some
// jobs will fail later (at archive time, as IMPORT_FAILED). Pure, so each has a test.
#include <string>
#include <vector>

#include "biomero_reactor/config.hpp"
#include "biomero_reactor/group_storage.hpp"

namespace biomero_reactor {

// One line each, naming the keys that fix it; empty when jobs can always be placed.
[[nodiscard]] std::vector<std::string> setup_warnings(const Config& cfg);

// `check`'s line about one group's storage probe: the path, whether it is writable, and
// exactly which directories the probe created (and removed again, or left behind).
[[nodiscard]] std::string describe_probe(const std::string& group, const ProbeResult& probe);

// `check`'s note on handoff.spool: on the storage's file system a handed-off zip moves
// into .analyzed/ without a copy; elsewhere it is copied (and fsynced), which costs the
// zip's size in I/O per job. A path that does not exist yet is judged by its nearest
// existing parent.
[[nodiscard]] std::string describe_spool_placement(const std::filesystem::path& spool,
                                                   const std::filesystem::path& base_dir);

}  // namespace biomero_reactor
