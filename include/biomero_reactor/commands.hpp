#pragma once
// The command line: run [--once], install-sql, check, status [--json],
// replay [--force] <workflow-uuid>, health [--ready] (asks the running daemon's /healthz or
// /readyz), --version. Exit codes: 0 ok, 1 failure, 2 usage, 78 bad config.
namespace biomero_reactor {

int main_with_args(int argc, char** argv);

}  // namespace biomero_reactor
