#!/usr/bin/env bash
# Configures and builds latentedit into build/ (Release, Ninja).
#   scripts/build.sh                 everything (library, CLI, tests, benchmarks)
#   scripts/build.sh latentedit_cli  only the named targets (the quick start builds just the CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
