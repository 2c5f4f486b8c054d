#!/usr/bin/env bash
# Train the six CNN baselines with our one trainer, on the data of the shipped FusionINN weights:
# phantom:600:1 + all brain slices of TCGA-DU-7294, validation phantom:48:777; same fusion loss
# (0.8 SSIM + 0.2 L2, sources weighted equally); fast-recipe optimiser (Adam, batch 8, 120x120 crops,
# warm-up, clipping) at lr 3e-3, which these from-scratch CNNs need (docs/baselines.md).
# Usage: scripts/train_baselines.sh [THREADS]   (runs go to runs/baseline-<name>)
set -euo pipefail
THREADS=${1:-1}
SAMPLES=${SAMPLES:-../shared/data/brats-samples}
train() {  # name epochs
  .venv/bin/fusioninn train --model "$1" --data phantom:600:1 --data "$SAMPLES/TCGA-DU-7294" --slices all \
    --val-data phantom:48:777 --out "runs/baseline-$1" --epochs "$2" --lr 3e-3 --threads "$THREADS" --seed 0 --quiet
}
train halfunet 12
train unet 12
train unetpp 12
train unet3p 12
train deepfuse 4
train funfusean 4
