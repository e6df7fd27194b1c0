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

}  // namespace biomero_reactor
