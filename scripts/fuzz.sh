#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, the library instrumented too) in
# build-fuzz/ and runs each for SECONDS (default 300) on its seed corpus, one target per core.
# Prints, per target, libFuzzer's execution count and whether it crashed; crash inputs are
# kept in build-fuzz/crashes/<target>/ (add them to tests/fuzz/corpus_* as regressions).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: pth safetensors job_file model_json image http)
# Environment: FUZZ_RUNS=N stops each target after N executions (whichever comes first);
# FUZZ_JOBS=N runs N targets at a time (default: one per core).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}; shift || true
targets=("$@"); ((${#targets[@]})) || targets=(pth safetensors job_file model_json image http)
command -v clang++-14 >/dev/null || apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
# fuzzer-no-link: the library is coverage-instrumented too, so libFuzzer is guided by its branches.
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS="$san" -DLATENTEDIT_BUILD_FUZZERS=ON -DLATENTEDIT_BUILD_TESTS=OFF -DLATENTEDIT_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]/%/_fuzz}"
run() {
  local t=$1 work log
  local start; start=$(date +%s)
  work=$(mktemp -d); log=build-fuzz/$t.log
  mkdir -p build-fuzz/crashes/$t
  cp tests/fuzz/corpus_$t/* "$work"/
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    OMP_NUM_THREADS=1 ./build-fuzz/tests/fuzz/${t}_fuzz -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
    -timeout=60 ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -artifact_prefix=build-fuzz/crashes/$t/ "$work" >"$log" 2>&1 || true
  local execs crashes
  execs=$(grep -oE "^Done [0-9]+ runs|#[0-9]+ *DONE" "$log" | grep -oE "[0-9]+" | head -1 || true)
  crashes=$(ls build-fuzz/crashes/$t | wc -l)
  local took=$(( $(date +%s) - start ))
  echo "fuzz $t: ${execs:-?} executions in ${took} s, $crashes crash inputs (log: $log)"
  rm -rf "$work"
}
jobs_max=${FUZZ_JOBS:-$(nproc)}
for t in "${targets[@]}"; do
  run "$t" &
  while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n; done
done
wait
