# Sourced by the experiment scripts: run NAME FLAGS... trains `$cli train gan "${common[@]}" FLAGS`
# into $out/NAME (log in $out/NAME.txt), unless it already reached $steps; resumable.
run() {  # name, extra flags...
  local name=$1; shift
  if [ -f "$out/$name/generator.safetensors" ] && grep -qE "\"step\":$steps[,}]" "$out/$name/training_log.jsonl" 2>/dev/null; then
    echo "$name: done already"; return
  fi
  local t0; t0=$(date +%s)
  ${nice:-} "$cli" train gan "${common[@]}" "$@" --out "$out/$name" > "$out/$name.txt" 2>&1 || { cat "$out/$name.txt" >&2; return 1; }
  echo "$name: $(( $(date +%s) - t0 )) s this sitting: $(head -1 "$out/$name.txt")"
}
