#!/usr/bin/env bash
# Installs dependencies, builds everything and runs the whole test suite (GoogleTest + CLI
# end-to-end tests under CTest; tiers in tests/CMakeLists.txt). Exits non-zero when any test fails.
#   scripts/test.sh              Release build in build/, every tier
#   scripts/test.sh --quick      the unit tier only, after an incremental build of the test binary
#                                (no apt): the edit-test loop
#   scripts/test.sh --sanitize   the same suite built with AddressSanitizer + UBSan (every
#                                latentedit translation unit instrumented; libtorch/OpenCV are
#                                Debian's, uninstrumented) in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--quick" ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" --target latentedit_tests
  cd build
  exec ctest -j"$(nproc)" -L unit --output-on-failure
fi
bash scripts/setup.sh --with-browser --with-slurm --with-python
if [[ "${1:-}" == "--sanitize" ]]; then
  san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DLATENTEDIT_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$(nproc)"
  cd build-asan
  # The install test is skipped: its consumer is built without the sanitizers. Leak checking is off: libtorch's and OpenCV's process-lifetime singletons are reported as leaks.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 ctest -j"$(nproc)" --output-on-failure --timeout 1800 -LE install
  exit
fi
bash scripts/build.sh
cd build
ctest -j"$(nproc)" --output-on-failure --timeout 600
