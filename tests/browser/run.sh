#!/usr/bin/env bash
# Browser test of the web page: starts `latentedit serve` on a free 127.0.0.1 port with the
# bundled model, opens / in headless chromium and drives the page as a person would over the
# DevTools protocol (move the Smiling slider, try an invalid setting and expect the server's
# one-line message, then edit and expect the after image, the per-step chart and the download
# links). Exit 77 (skipped) without chromium.
# Usage: tests/browser/run.sh LATENTEDIT_BINARY MODEL_DIR [SCREENSHOT.png]
set -euo pipefail
bin=$1 model=$2 shot=${3:-}
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then echo "SKIP: chromium is not installed (scripts/setup.sh --with-browser)"; exit 77; fi
work=$(mktemp -d)
"$bin" serve --port 0 --threads 1 --model "$model" >"$work/out" 2>"$work/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/' "$work/out" || true)
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { echo "FAIL: the server printed no address"; cat "$work/err"; exit 1; }
# The page is driven from outside, over the DevTools protocol (tests/browser/cdp.py runs
# tests/browser/autotest.js in it); the shipped page holds no test code.
here=$(cd "$(dirname "$0")" && pwd)
if ! timeout 180 /usr/bin/python3 "$here/cdp.py" "$browser" "$url" "$here/autotest.js" ${shot:+--screenshot "$shot"}; then
  echo "FAIL: the page did not pass its test"; tail -5 "$work/err"; exit 1
fi
kill -TERM $pid
wait $pid
echo "PASS"
