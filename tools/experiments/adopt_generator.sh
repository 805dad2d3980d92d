#!/usr/bin/env bash
# Issue 36's swap, as a resumable pipeline: measure a finished generator run against the bundled
# generator, and build the candidate bundle with everything that depends on the generator refitted —
# all in OUT_DIR; pretrained/ is not touched (copy OUT_DIR/bundle over it only when it wins).
#   1. OUT/trial: the new generator with the bundle's classifiers and auditor; OUT/quality.{txt,json}:
#      evaluate --generator-only against the bundled generator in the same run; OUT/generator_samples.png
#   2. OUT/bundle: pretrained/faces64 with the new generator (model.json's generator and its training
#      record from the run, plus hours and resumes from its progress.json), boundaries, latent
#      classifier and thumbnail model refitted (`directions`), SeFa and GANSpace rediscovered with sheets
#   3. OUT/evalA.json + OUT/evalB.json -> OUT/evaluation.{json,txt}: the full protocol (MODEL_CARD
#      "Evaluation"), two halves side by side; OUT/evaluation_curve.json + OUT/pareto.png: the curve
#   4. OUT/quickstart: the quick start's edit; OUT/inversion_*.json: renders and (with ../shared)
#      real photos inverted, for the inversion warning's threshold
# Each step is skipped when its output exists, so rerunning after an interruption goes on.
# Usage: tools/experiments/adopt_generator.sh RUN_DIR OUT_DIR      (LATENTEDIT=binary, THREADS=2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
run=$(cd "$1" && pwd); mkdir -p "$2"; out=$(cd "$2" && pwd)
cli=${LATENTEDIT:-$root/build/latentedit}; threads=${THREADS:-2}
py=/usr/bin/python3
old=$root/pretrained/faces64
[ -e "$run/generator.safetensors" ] || { echo "adopt_generator: $run has no generator.safetensors: the run has not finished" >&2; exit 2; }
say() { echo "adopt_generator: $*" >&2; }

# 1. the generator alone, beside the bundled one
$py "$root/tools/experiments/trial_bundle.py" "$run" "$out/trial"
if [ ! -e "$out/quality.json" ]; then
  say "measuring the generator (2000 samples) beside the bundled one"
  "$cli" evaluate --generator-only --samples 2000 --threads "$threads" --model "$out/trial" --baseline "$old" \
    --sheet "$out/generator_samples.png" --out "$out/quality.json" -q | tee "$out/quality.txt"
fi

# 2. the candidate bundle
if [ ! -e "$out/bundle/model.json" ]; then
  say "building the candidate bundle"
  rm -rf "$out/bundle.partial"
  mkdir -p "$out/bundle.partial"
  for f in "$old"/*; do
    case $(basename "$f") in
      directions.safetensors|discovered.safetensors|eval|pareto.png|generator.safetensors) ;;  # the old generator's
      *) cp -r "$f" "$out/bundle.partial/" ;;
    esac
  done
  cp "$run/generator.safetensors" "$out/bundle.partial/"
  [ ! -e "$old/.latentedit-output.json" ] || cp "$old/.latentedit-output.json" "$out/bundle.partial/"
  $py - "$old/model.json" "$run/model.json" "$run/progress.json" "$out/bundle.partial/model.json" <<'EOF'
import json, sys
j, new, progress = (json.load(open(p)) for p in sys.argv[1:4])
dst = sys.argv[4]
j["generator"] = new["generator"]
rec = dict(new["training"]["generator"])
rec["hours_total"] = round(progress["seconds_total"] / 3600.0, 2)
rec["resumes"] = progress.get("resumes", 0)
rec["images_seen"] = progress.get("images_seen")
j["training"]["generator"] = rec
j.pop("directions", None)
j.pop("discovered", None)
json.dump(j, open(dst, "w"), indent=1)
open(dst, "a").write("\n")
EOF
  mv "$out/bundle.partial" "$out/bundle"
fi
if ! grep -q '"directions"' "$out/bundle/model.json"; then
  say "refitting boundaries, latent classifier and thumbnail model"
  "$cli" directions --model "$out/bundle" --correlation-from procedural --threads "$threads" -q
fi
for m in sefa ganspace; do
  if ! $py -c "import json,sys; sys.exit(0 if '$m' in json.load(open('$out/bundle/model.json')).get('discovered', {}) else 1)"; then
    say "discovering directions: $m"
    "$cli" directions --discover "$m" --count 20 --model "$out/bundle" --sheet "$out/discovered_$m.png" --force -q --threads "$threads"
  fi
done

# 3. the full protocol and the curve
A=$("$cli" attributes -q --model "$out/bundle" | head -20 | awk '{print $2}' | paste -sd,)
B=$("$cli" attributes -q --model "$out/bundle" | tail -20 | awk '{print $2}' | paste -sd,)
if [ ! -e "$out/evaluation.json" ]; then
  say "the full evaluation protocol, two halves side by side"
  [ -e "$out/evalA.json" ] || "$cli" evaluate --model "$out/bundle" --threads 1 --attributes "$A" --out "$out/evalA.json" -q > "$out/evalA.txt" &
  [ -e "$out/evalB.json" ] || "$cli" evaluate --model "$out/bundle" --threads 1 --attributes "$B" --heldout 0 --samples 0 --out "$out/evalB.json" -q > "$out/evalB.txt"
  wait
  $py "$root/tools/experiments/merge_evaluations.py" "$out/evaluation.json" "$out/evalA.json" "$out/evalB.json" > "$out/evaluation.txt"
fi
if [ ! -e "$out/pareto.png" ]; then
  say "the success-drift curve"
  "$cli" evaluate --model "$out/bundle" --seeds 32 --heldout 0 --samples 0 --threads "$threads" --steps 10 --rank 4 --fallback-ranks none \
    --methods gradient,gradient+eot2,projected+eot2,boundary,latent --strengths 0.5,1,2 --boundary-strengths 1,2,3,4 \
    --latent-strengths 6,9,12,15 --out "$out/evaluation_curve.json" --plot "$out/pareto.png" -q > "$out/evaluation_curve.txt"
fi

# 4. the quick start's edit, and inversions for the warning's threshold
[ -e "$out/quickstart/grid.png" ] || "$cli" edit --add Smiling --seed 7 --count 8 --model "$out/bundle" --out "$out/quickstart" -q
if [ ! -e "$out/inversion_renders.json" ]; then
  "$cli" dataset --count 32 --seed 100 --out "$out/renders100" -q
  "$cli" invert "$out"/renders100/img_align_celeba/*.png --model "$out/bundle" --threads "$threads" --json --out "$out/inv_renders" -q > "$out/inversion_renders.json"
fi
real=$root/../shared/realdata/celeba_sample
if [ -d "$real" ] && [ ! -e "$out/inversion_real.json" ]; then
  "$cli" invert "$real"/img_align_celeba/*.jpg --model "$out/bundle" --threads "$threads" --json --out "$out/inv_real" -q > "$out/inversion_real.json"
fi
say "done: $out (quality.txt, generator_samples.png, evaluation.txt, pareto.png, quickstart/grid.png, inversion_*.json)"
