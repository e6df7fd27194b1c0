#!/usr/bin/env bash
# Builds biomero-reactor and runs every test: unit suites, then the integration suites
# against a throwaway PostgreSQL 15 cluster that CTest starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-and-build.sh
cd build
ctest --output-on-failure "$@"
