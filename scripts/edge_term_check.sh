#!/usr/bin/env bash
# Fairness check for docs/results.md: fine-tune the strongest CNN baselines with the same max-gradient edge
# term (and the same budget-style fine-tune) as the shipped FusionINN, to separate what the loss term buys
# from what the architecture does. Not shipped; the shipped baselines keep the published loss.
# Usage: scripts/edge_term_check.sh [W_GRADIENT] [MINUTES] [THREADS]   (runs go to runs/edge-<name>)
set -euo pipefail
W=${1:-1.0}
MINUTES=${2:-10}
THREADS=${3:-1}
SAMPLES=${SAMPLES:-../shared/data/brats-samples}
for name in unet3p halfunet; do
  .venv/bin/fusioninn train --model "$name" --init "src/fusioninn/weights/$name.safetensors" \
    --data phantom:600:1 --data "$SAMPLES/TCGA-DU-7294" --slices all --val-data phantom:48:777 \
    --out "runs/edge-$name" --epochs 100 --max-minutes "$MINUTES" --lr 1e-3 --w-gradient "$W" \
    --threads "$THREADS" --seed 1 --quiet
done
