#!/usr/bin/env bash
# The long generator run (issue 36): the course's architecture at the course's width (hidden 64),
# hinge loss against a spectral-norm discriminator (hidden 32), EMA 0.999, 50,000 steps of batch 64
# (3.2 M images, 10x the generator bundled before), learning rate decayed over the last 10,000.
# Meant to run for many hours in the background on a 2-core machine: lowest priority, one thread,
# a checkpoint every 100 steps, resumed exactly (bit for bit) by running this script again.
# RUN_DIR/progress.json says steps done, steps/s, ETA and the latest diagnostics (Frechet distance
# in the auditor's features, frequency gaps, collapse); RUN_DIR/training_report.png draws them.
#
# Usage: [THREADS=1] [JUDGE=auditor.safetensors] scripts/train_generator.sh [RUN_DIR] [BUILD_DIR]
#   RUN_DIR defaults to ../runs/faces64-g64, outside the repository (the running checkpoint is
#   38 MB and changes every 100 steps). When RUN_DIR has no checkpoint yet, the run starts from
#   the milestone committed in pretrained/training/faces64-g64 (if any), so a new machine resumes
#   where the last sitting's milestone left it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${1:-$root/../runs/faces64-g64}
bin=${2:-$root/build}/latentedit
milestone=$root/pretrained/training/faces64-g64
mkdir -p "$run"
# absolute paths: the run is started from the repository root (below)
run=$(cd "$run" && pwd); bin=$(cd "$(dirname "$bin")" && pwd)/latentedit
judge=${JUDGE:-$root/pretrained/faces64/auditor.safetensors}; judge=$(cd "$(dirname "$judge")" && pwd)/$(basename "$judge"); judge=${judge#"$root"/}
if [ ! -e "$run/generator.ckpt" ] && [ -e "$milestone/generator.ckpt" ]; then
  cp -p "$milestone"/generator.ckpt "$milestone"/progress.json "$milestone"/training_log.jsonl "$run"/
  # the output marker only where the run directory has none (a bundle directory keeps its own)
  [ -e "$run/.latentedit-output.json" ] || cp -p "$milestone"/.latentedit-output.json "$run"/
  echo "train_generator: starting from the committed milestone (step $(grep -o '"step": [0-9]*' "$run/progress.json" | head -1 | grep -o '[0-9]*'))" >&2
fi
# `nice` alone does not yield to other sessions' work under the kernel's autogroup scheduling:
# lower this session's group too, for the run only — the group is the caller's whole terminal
# session, so its priority is put back when the run ends, however it ends.
old_group=$(awk '{print $NF}' /proc/self/autogroup 2>/dev/null || true)
echo 19 > /proc/self/autogroup 2>/dev/null || true
child=
restore() { [ -z "$old_group" ] || echo "$old_group" > /proc/self/autogroup 2>/dev/null || true; }
stop() { [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true; }
trap restore EXIT
trap stop INT TERM HUP
cd "$root"
nice -n 19 "$bin" train gan --out "$run" --name faces64 --procedural 50000 --data-seed 1 --seed 1 \
  --steps 50000 --lr-decay-from 40000 --batch 64 --g-hidden 64 --d-hidden 32 --ema 0.999 \
  --log-every 20 --diagnose-every 1000 --diagnose-samples 1024 --judge "$judge" \
  --checkpoint-every 100 --resume --threads "${THREADS:-1}" &
child=$!
# `wait` returns early when a trapped signal arrives; wait again for the run to finish its cleanup.
rc=0; wait "$child" || rc=$?
while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
exit "$rc"
