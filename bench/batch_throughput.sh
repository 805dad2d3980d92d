#!/usr/bin/env bash
# Throughput of `latentedit batch`: a 64-job file (one seed per job, the same settings: edit
# +Smiling, 10 steps) run as one batch (--batch-size 64, the default) versus the same 64 jobs
# edited one by one (--batch-size 1, same process) versus 64 separate `latentedit edit`
# processes. Prints latent-steps per second (median of --reps runs) and the ratios.
# Usage: bench/batch_throughput.sh [BUILD_DIR] [THREADS] [REPS]
set -euo pipefail
bin=${1:-build}/latentedit
threads=${2:-2}
reps=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo '{"defaults": {"steps": 10, "add": ["Smiling"], "outputs": {"grid": false, "pairs": true}}, "jobs": ['
  for i in $(seq 0 63); do echo "{\"id\": \"j$i\", \"seeds\": [$i]}$([ "$i" -lt 63 ] && echo ,)"; done
  echo ']}'
} > "$tmp/jobs.json"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
for mode in batched one-by-one processes; do
  for r in $(seq "$reps"); do
    rm -rf "$tmp/out"
    t0=$(now)
    case $mode in
      batched) "$bin" batch "$tmp/jobs.json" --out "$tmp/out" -q --threads "$threads" > /dev/null ;;
      one-by-one) "$bin" batch "$tmp/jobs.json" --out "$tmp/out" -q --threads "$threads" --batch-size 1 > /dev/null ;;
      processes) for i in $(seq 0 63); do "$bin" edit --add Smiling --seed "$i" --count 1 --steps 10 -q --threads "$threads" --out "$tmp/out/j$i" > /dev/null; done ;;
    esac
    t1=$(now)
    echo "$t0 $t1" | awk '{print $2 - $1}'
  done | median > "$tmp/$mode.s"
  printf '%-11s 64 jobs x 10 steps: %6.2f s wall (median of %d), %7.1f latent-steps/s\n' "$mode" "$(cat "$tmp/$mode.s")" "$reps" \
    "$(awk '{print 640 / $1}' "$tmp/$mode.s")"
done
awk -v b="$(cat "$tmp/batched.s")" -v o="$(cat "$tmp/one-by-one.s")" -v p="$(cat "$tmp/processes.s")" \
  'BEGIN {printf "batched is %.1fx faster than one-by-one in one process, %.1fx faster than 64 edit processes\n", o / b, p / b}'
