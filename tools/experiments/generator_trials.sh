#!/usr/bin/env bash
# Short comparable generator runs (issue 36): the same data, seed and budget (STEPS generator
# updates, default 2000, batch 64), one change each against the course-width baseline `w64`:
#   w64        course width (G 64), D width 32, hinge loss, spectral-norm D, EMA 0.999
#   w48        G width 48
#   w64-d64    D width 64
#   w64-nonsat non-saturating loss (the course's BCE) instead of hinge
#   w64-ttur   lr_D 4e-4, lr_G 1e-4 (two time-scale update rule)
# plus any extra trials named on the command line as NAME:FLAGS (e.g. "w64-r1:--spectral-norm off --r1 10").
# Each run logs losses every 20 steps and diagnostics every 500 (Frechet distance in the bundled
# auditor's features, attribute frequencies, sample spread) and is resumable: rerun after an
# interruption and finished runs are kept. Runs one at a time on ONE thread at nice 19, so other
# work keeps the other core. Compare with:
#   latentedit train report OUT/w64 OUT/w48 ... --out OUT/comparison.png --summary OUT/summary.json
# Usage: tools/experiments/generator_trials.sh [OUT_DIR=../runs/trials] [STEPS=2000] [NAME:FLAGS ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-../runs/trials}; steps=${2:-2000}; shift $(( $# < 2 ? $# : 2 ))
cli=${LATENTEDIT:-./build/latentedit}
[ -x "$cli" ] || { echo "build first: bash scripts/build.sh (or set LATENTEDIT=path/to/latentedit)" >&2; exit 2; }
mkdir -p "$out"
common=(--procedural 50000 --data-seed 1 --seed 1 --steps "$steps" --batch 64 --ema 0.999
        --log-every 20 --diagnose-every 500 --diagnose-samples 1024 --judge pretrained/faces64/auditor.safetensors
        --checkpoint-every 100 --resume --threads 1 -q)
nice="nice -n 19"
source tools/experiments/train_runs.sh
run w64 --g-hidden 64 --d-hidden 32
run w48 --g-hidden 48 --d-hidden 32
run w64-d64 --g-hidden 64 --d-hidden 64
run w64-nonsat --g-hidden 64 --d-hidden 32 --loss non-saturating
run w64-ttur --g-hidden 64 --d-hidden 32 --lr-d 4e-4 --lr-g 1e-4
for extra in "$@"; do
  # shellcheck disable=SC2086
  run "${extra%%:*}" ${extra#*:}
done
