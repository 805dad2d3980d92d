#!/usr/bin/env bash
# Browser test of the web page: starts `latentedit serve` on a free 127.0.0.1 port with the
# bundled model, loads /?autotest in headless chromium, which drives the page as a person would
# (move the Smiling slider, try an invalid setting and expect the server's one-line message,
# then edit and expect the after image, the per-step chart and the download links), and checks
# the verdict the page writes into <body data-autotest>. Exit 77 (skipped) without chromium.
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
flags=(--headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --window-size=1280,1000
       --user-data-dir="$work/profile" --virtual-time-budget=60000)
dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "${url}?autotest=1" 2>"$work/chrome.err" || true)
verdict=$(grep -o 'data-autotest="[^"]*"' <<<"$dom" | head -1 | sed 's/&quot;/"/g')
echo "${verdict:0:400}"
if [[ "$verdict" != 'data-autotest="pass '* ]]; then
  echo "FAIL: the page did not pass its autotest"; tail -5 "$work/err"; exit 1
fi
if [[ -n "$shot" ]]; then timeout 120 "$browser" "${flags[@]}" --screenshot="$shot" "${url}?autotest=1" 2>/dev/null || true; fi
kill -TERM $pid
wait $pid
echo "PASS"
