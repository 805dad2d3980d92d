#!/usr/bin/env bash
# Installs dependencies, builds everything and runs the whole test suite (GoogleTest + CLI
# end-to-end tests under CTest). Exits non-zero when any test fails.
#   scripts/test.sh              Release build in build/
#   scripts/test.sh --sanitize   the same suite built with AddressSanitizer + UBSan (every
#                                latentedit translation unit instrumented; libtorch/OpenCV are
#                                Debian's, uninstrumented) in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
if [[ "${1:-}" == "--sanitize" ]]; then
  san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DLATENTEDIT_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$(nproc)"
  cd build-asan
  # The install test is skipped: its consumer is built without the sanitizers. Leak checking is off: libtorch's and OpenCV's process-lifetime singletons are reported as leaks.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 ctest -j"$(nproc)" --output-on-failure --timeout 1800 -E "^Install\."
  exit
fi
bash scripts/build.sh
cd build
ctest -j"$(nproc)" --output-on-failure --timeout 600
