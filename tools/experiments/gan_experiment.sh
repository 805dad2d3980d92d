#!/usr/bin/env bash
# The experiment of docs/GAN_TRAINING.md: on procedural faces, with the same seed, data and
# budget (STEPS generator updates, default 1500, batch 64, widths 32), train
#   minimax         the paper's value function, G descending the saturating log(1 - D(G(z)))
#   non-saturating  G maximising log D(G(z)) (the paper's practical choice, the course's BCE)
#   hinge           latentedit's default
#   non-sat-k5      non-saturating with K = 5 discriminator steps per generator step
#   minimax-k5      minimax with K = 5: a stronger D, where the saturating loss starves G
# each logging losses, D outputs and gradient norms every 10 steps and mode-collapse diagnostics
# every 100 (judged by the bundled auditor), then draws them side by side and prints the table.
# Two runs at a time, one thread each: about 65 minutes on 2 cores (the K = 5 lane bounds it).
# Resumable: rerun after an interruption; finished runs are kept.
# Usage: tools/experiments/gan_experiment.sh [OUT_DIR=gan_experiment] [STEPS=1500]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-gan_experiment}
steps=${2:-1500}
cli=${LATENTEDIT:-./build/latentedit}
[ -x "$cli" ] || { echo "build first: bash scripts/build.sh (or set LATENTEDIT=path/to/latentedit)" >&2; exit 2; }
mkdir -p "$out"
common=(--procedural 20000 --data-seed 1 --seed 1 --steps "$steps" --batch 64 --g-hidden 32 --d-hidden 32
        --log-every 10 --diagnose-every 100 --diagnose-samples 512 --judge pretrained/faces64/auditor.safetensors
        --checkpoint-every 100 --resume --threads 1 -q)
source tools/experiments/train_runs.sh
start=$(date +%s)
# Two lanes of about equal length: the K = 5 runs cost ~3x a K = 1 run.
(run non-sat-k5 --loss non-saturating --d-steps 5 && run minimax-k5 --loss minimax --d-steps 5) &
lane=$!
run minimax --loss minimax
run non-saturating --loss non-saturating
run hinge --loss hinge
wait "$lane"
"$cli" train report "$out/minimax" "$out/non-saturating" "$out/hinge" "$out/non-sat-k5" "$out/minimax-k5" --force \
  --title "minimax vs non-saturating vs hinge (K=1), and K=5: same seed, data, $steps G updates" \
  --out "$out/comparison.png" --summary "$out/summary.json"
echo "experiment took $(( $(date +%s) - start )) s; pictures: $out/comparison.png, $out/*/training_report.png"
