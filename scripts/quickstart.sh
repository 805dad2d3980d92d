#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install dependencies, build, and edit the
# bundled model: add a smile to 8 faces (seed 7) and write a before/after grid.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh latentedit_cli   # only what the first edit needs; scripts/test.sh builds the rest
# Put `latentedit` on PATH (/usr/local/bin, the bundled model in /usr/local/share/latentedit),
# so the README's next commands work as written.
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
$SUDO cmake --install build --prefix /usr/local >/dev/null
latentedit edit --add Smiling --seed 7 --count 8 --out out/smiling
echo "grid: out/smiling/grid.png   report: out/smiling/report.json" >&2
