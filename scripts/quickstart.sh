#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install dependencies, build, and edit the
# bundled model: add a smile to 8 faces (seed 7) and write a before/after grid.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/latentedit edit --add Smiling --seed 7 --count 8 --out out/smiling
echo "grid: out/smiling/grid.png   report: out/smiling/report.json" >&2
