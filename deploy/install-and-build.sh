#!/usr/bin/env bash
# Installs the Debian 12 packages biomero-reactor needs (only the missing ones) and builds
# it into build/. Safe to run again. Used by the README's commands, CI and the Dockerfile;
# this file is the one list of the packages.
#   deploy/install-and-build.sh [--no-tests] [--packages-only]
#     --no-tests       the daemon alone: no test packages, no tests, stand-in or benchmarks
#                      (-DBIOMERO_REACTOR_TESTS=OFF); what the image's build stage runs
#     --packages-only  install the packages and stop (the image caches them in a layer)
set -euo pipefail
cd "$(dirname "$0")/.."

tests=ON
build=yes
for a in "$@"; do
  case "$a" in
  --no-tests) tests=OFF ;;
  --packages-only) build=no ;;
  *) echo "usage: $0 [--no-tests] [--packages-only]" >&2; exit 2 ;;
  esac
done

build_packages=(g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-log1.81-dev
  libboost-program-options1.81-dev libpq-dev libyaml-cpp-dev libarchive-dev libssl-dev)
# The tests and the demo: Boost.Test, a throwaway PostgreSQL 15, the archivers the
# benchmarks compare with, and promtool (package prometheus: deploy/monitoring's tests; its
# service may start on the CI host, on 9090, which no test uses).
test_packages=(libboost-test1.81-dev postgresql libarchive-tools unzip zip python3 procps prometheus)

wanted=("${build_packages[@]}")
[ "$tests" = ON ] && wanted+=("${test_packages[@]}")
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$build" = yes ] || exit 0

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBIOMERO_REACTOR_TESTS="$tests" >/dev/null
cmake --build build -j"$(nproc)"
