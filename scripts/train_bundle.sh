#!/usr/bin/env bash
# Reproduces the bundled model pretrained/faces64 from nothing: procedural faces, then the
# editing classifiers, the independent auditor and the GAN, all trained in C++ on the CPU.
# Usage: scripts/train_bundle.sh [OUT_DIR] [BUILD_DIR]     (defaults: pretrained/faces64 build)
# Timing on the project's 2-core machine is recorded in pretrained/faces64/MODEL_CARD.md.
set -euo pipefail
out=${1:-pretrained/faces64}
bin=${2:-build}/latentedit
mkdir -p "$out"
# Editing classifier: course architecture, hidden 32, on the same data distribution.
"$bin" train classifier --out "$out" --role classifier --procedural 50000 --data-seed 1 --seed 1 \
  --hidden 32 --steps 3000 --batch 128 --checkpoint-every 500 --resume --threads 2
# Editing classifier ensemble members 1 and 2: the same recipe on their own faces and seeds (3, 4);
# the editor averages the three classifiers' logits (model.json "classifier": {"arch": "ensemble"}).
for k in 1 2; do
  "$bin" train classifier --out "$out" --role classifier --member $k --procedural 50000 --data-seed $((k + 2)) --seed $((k + 2)) \
    --hidden 32 --steps 3000 --batch 128 --checkpoint-every 500 --resume --threads 1
done
# Auditor: independent (other faces, other seed, other width); never used to edit.
"$bin" train classifier --out "$out" --role auditor --procedural 50000 --data-seed 2 --seed 2 \
  --hidden 48 --steps 3000 --batch 128 --checkpoint-every 500 --resume --threads 2
# Generator: the course architecture at the course's width (64), hinge loss vs a spectral-norm
# discriminator, EMA, 50,000 steps of batch 64 (3.2 M images; 13.8 h on this project's 2-core
# machine): scripts/train_generator.sh, which starts from the milestone committed in
# pretrained/training/faces64-g64 and resumes after a kill. Its diagnostics are judged by the auditor,
# so it runs after the auditor's training.
THREADS=2 JUDGE="$out/auditor.safetensors" bash "$(dirname "$0")/train_generator.sh" "$out" "$(dirname "$bin")"
# Attribute directions (boundary method), correlations (keep mask), the latent classifier (three
# MLPs) and the latent thumbnail model (latent method; 100,000 labelled latents, 3 x 30 + 10 epochs:
# 8.5 min on 2 cores): the procedural labels are the training labels of this bundle.
"$bin" directions --model "$out" --correlation-from procedural --threads 2
rm -f "$out"/*.ckpt
