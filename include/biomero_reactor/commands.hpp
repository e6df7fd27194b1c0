#pragma once
// The command line: run [--once], install-sql, check, status [--json],
// replay [--force] <workflow-uuid>, verify <workflow-uuid> | --all [--since DATE] [--json],
// health [--ready] (asks the running daemon's /healthz or /readyz), omero-check <user>
// (omero_check.hpp), --version.
// Exit codes: 0 ok, 1 failure (verify: a file differs), 2 usage, 78 bad config.
namespace biomero_reactor {

int main_with_args(int argc, char** argv);

}  // namespace biomero_reactor
