#!/usr/bin/env bash
# Throughput and peak memory of one batch shard (docs/cluster.md "Resources and shard counts"):
# a job file of 8 jobs x 16 latents (+Smiling, +Eyeglasses, +Bangs), 10 steps, run by one
# whole `latentedit batch` process with the default edit and with the course's update
# (--method gradient --eot 0), at 1 and 2 threads, REPS times each, alternated.
# Prints seconds for the 128 edits, edits per core-hour and peak RSS (GNU time).
# Usage: bench/shard_throughput.sh [BUILD_DIR] [REPS] [MODEL_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:-build}")/latentedit
reps=${2:-2}
model=${3:-$here/../pretrained/faces64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs() {  # $1: extra defaults
  printf '{"defaults": {"steps": 10, "count": 16%s}, "jobs": [' "$1"
  i=0
  for a in Smiling Eyeglasses Smiling Bangs Smiling Eyeglasses Smiling Bangs; do
    ((i)) && printf ','
    printf '{"id": "j%d", "seed": %d, "add": ["%s"]}' "$i" $((1000 + i)) "$a"
    i=$((i + 1))
  done
  printf ']}\n'
}
jobs "" > "$tmp/default.json"
jobs ', "method": "gradient", "eot": 0, "step_size": 0.1, "keep_mask": "uniform"' > "$tmp/gradient.json"
echo "edit       threads  seconds/128 edits  edits per core-hour  peak RSS"
for rep in $(seq "$reps"); do
  for t in 1 2; do
    for m in default gradient; do
      rm -rf "$tmp/out"
      /usr/bin/time -f "%e %M" -o "$tmp/time" "$bin" batch "$tmp/$m.json" --out "$tmp/out" --threads "$t" -q --model "$model" > /dev/null
      read -r wall kb < "$tmp/time"
      awk -v m="$m" -v t="$t" -v w="$wall" -v kb="$kb" \
        'BEGIN {printf "%-10s %7d  %17.2f  %19.0f  %6.2f GB\n", m, t, w, 128 * 3600 / (w * t), kb / 1048576}'
    done
  done
done
