#!/usr/bin/env bash
# Train the six CNN baselines with our one trainer, on the data of the shipped FusionINN weights:
# phantom:600:1 + all brain slices of TCGA-DU-7294, validation phantom:48:777; same fusion loss
# (0.8 SSIM + 0.2 L2, sources weighted equally); fast-recipe optimiser (Adam 1e-3, batch 8, 120x120 crops).
# Usage: scripts/train_baselines.sh [EPOCHS] [THREADS]   (runs go to runs/baseline-<name>)
set -euo pipefail
EPOCHS=${1:-3}
THREADS=${2:-1}
SAMPLES=${SAMPLES:-../shared/data/brats-samples}
for name in unet unetpp unet3p halfunet deepfuse funfusean; do
  .venv/bin/fusioninn train --model "$name" --data phantom:600:1 --data "$SAMPLES/TCGA-DU-7294" --slices all \
    --val-data phantom:48:777 --out "runs/baseline-$name" --epochs "$EPOCHS" --threads "$THREADS" --seed 0 --quiet
done
