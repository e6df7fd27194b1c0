#!/usr/bin/env bash
# The second compiler: builds everything with clang 16 (Debian's clang-16) into
# build-clang/ and runs the unit suites there. What g++ 12 lets through and clang refuses
# (or the other way round) fails here. Needs the packages of deploy/install-and-build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++-16 >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang-16 >/dev/null
fi
CXX=clang++-16 cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-clang -j"$(nproc)"
cd build-clang
ctest --output-on-failure -L unit "$@"
