#!/usr/bin/env bash
# Reproduces the bundled model pretrained/faces64 from nothing: procedural faces, then the
# GAN, the editing classifier and the independent auditor, all trained in C++ on the CPU.
# Usage: scripts/train_bundle.sh [OUT_DIR] [BUILD_DIR]     (defaults: pretrained/faces64 build)
# Timing on the project's 2-core machine is recorded in pretrained/faces64/MODEL_CARD.md.
set -euo pipefail
out=${1:-pretrained/faces64}
bin=${2:-build}/latentedit
mkdir -p "$out"
# Generator: course architecture, hidden 32; hinge loss vs a spectral-norm discriminator; EMA.
"$bin" train gan --out "$out" --name faces64 --procedural 50000 --data-seed 1 --seed 1 \
  --steps 5000 --batch 64 --g-hidden 32 --d-hidden 32 --ema 0.999 --checkpoint-every 250 --resume --threads 2
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
# Attribute directions (boundary method), correlations (keep mask), the latent classifier (three
# MLPs) and the latent thumbnail model (latent method; 100,000 labelled latents, 3 x 30 + 10 epochs:
# 8.5 min on 2 cores): the procedural labels are the training labels of this bundle.
"$bin" directions --model "$out" --correlation-from procedural --threads 2
rm -f "$out"/*.ckpt
