#!/usr/bin/env bash
# Every test of the GoogleTest binary is run by exactly one CTest entry: the union of the tiers'
# filters (tests/CMakeLists.txt, separated by |) lists each test once and misses none.
# Usage: every_test_in_a_tier.sh BINARY "|FILTER|FILTER..."
set -euo pipefail
bin=$1 filters=$2
list() {  # the tests a filter selects, one "Suite.Test" per line
  "$bin" --gtest_list_tests --gtest_filter="$1" | awk '/^[^ ]/ {s=$1} /^  / {print s $1}'
}
all=$(list '*' | sort)
picked=$(IFS='|'; for f in $filters; do [[ -n "$f" ]] && list "$f"; done | sort)
dups=$(uniq -d <<<"$picked")
missing=$(comm -23 <(echo "$all") <(echo "$picked" | sort -u))
[[ -z "$dups" ]] || { echo "in more than one tier:"; echo "$dups"; exit 1; }
[[ -z "$missing" ]] || { echo "in no tier (add the suite to tests/CMakeLists.txt):"; echo "$missing"; exit 1; }
echo "$(wc -l <<<"$all") tests, each in one tier"
