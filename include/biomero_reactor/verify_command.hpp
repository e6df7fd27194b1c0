#pragma once
// `biomero-reactor verify <workflow-uuid> | --all [--since DATE] [--json]`: re-reads the
// published job directories against their SHA256SUMS. One line per problem (missing,
// changed, extra, unreadable file) and a summary; exit 0 when everything matches, 1 when
// anything differs. On a terminal, progress (files, bytes, rate, ETA) goes to stderr.
#include <optional>
#include <string>

#include "biomero_reactor/config.hpp"

namespace biomero_reactor {

struct VerifyRequest {
  std::optional<std::string> workflow_id;  // one workflow; nullopt: --all
  std::optional<std::string> since;        // --since: jobs updated since then
  bool json = false;
  unsigned threads = 2;
};

int cmd_verify(const Config& cfg, const VerifyRequest& request);

}  // namespace biomero_reactor
