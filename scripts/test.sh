#!/usr/bin/env bash
# Installs dependencies, builds everything and runs the whole test suite (GoogleTest + CLI
# end-to-end tests under CTest). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest -j"$(nproc)" --output-on-failure --timeout 600
