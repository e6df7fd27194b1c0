#!/usr/bin/env bash
# Installs the Debian 12 packages biomero-reactor needs (only the missing ones) and builds
# it into build/. Safe to run again. Used by the README's commands, CI and the Dockerfile.
#   deploy/install-and-build.sh [--runtime-only]
set -euo pipefail
cd "$(dirname "$0")/.."

build_packages=(g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-log1.81-dev libboost-test1.81-dev
  libboost-program-options1.81-dev libpq-dev libyaml-cpp-dev libarchive-dev libssl-dev)
# The tests and the demo: a throwaway PostgreSQL 15, and the archivers the benchmarks compare with.
test_packages=(postgresql libarchive-tools unzip zip python3 procps)

missing=()
for p in "${build_packages[@]}" "${test_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
