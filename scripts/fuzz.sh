#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each for
# SECONDS (default 300) on its seed corpus. Prints libFuzzer's execution counts.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
command -v clang++-14 >/dev/null || apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DLATENTEDIT_BUILD_FUZZERS=ON -DLATENTEDIT_BUILD_TESTS=OFF -DLATENTEDIT_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --target pth_fuzz safetensors_fuzz
for t in pth safetensors; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus_$t/* "$work"/
  ASAN_OPTIONS=detect_leaks=0 ./build-fuzz/tests/fuzz/${t}_fuzz -max_total_time="$secs" -max_len=65536 \
    -rss_limit_mb=4096 "$work" 2>&1 | grep -E "^#[0-9]+ *DONE|ERROR|SUMMARY|Done [0-9]+ runs" || true
  rm -rf "$work"
done
