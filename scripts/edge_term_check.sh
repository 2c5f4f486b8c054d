#!/usr/bin/env bash
# Fairness check for docs/results.md: fine-tune the strongest CNN baselines with the same fusion-loss terms
# (and the same budget-style fine-tune) as a FusionINN model, to separate what the loss terms buy from what
# the architecture does. Not shipped; the shipped baselines keep the published loss.
# Usage: scripts/edge_term_check.sh [W_GRADIENT] [MINUTES] [THREADS] [more train options...]
#   runs go to runs/${PREFIX:-edge}-<name>; e.g. issue #17's terms:
#   PREFIX=terms17 scripts/edge_term_check.sh 1.0 10 1 --w-grid 2.0
set -euo pipefail
W=${1:-1.0}
MINUTES=${2:-10}
THREADS=${3:-1}
shift $(( $# < 3 ? $# : 3 ))
SAMPLES=${SAMPLES:-../shared/data/brats-samples}
PREFIX=${PREFIX:-edge}
for name in unet3p halfunet; do
  .venv/bin/fusioninn train --model "$name" --init "src/fusioninn/weights/$name.safetensors" \
    --data phantom:600:1 --data "$SAMPLES/TCGA-DU-7294" --slices all --val-data phantom:48:777 \
    --out "runs/$PREFIX-$name" --epochs 100 --max-minutes "$MINUTES" --lr 1e-3 --w-gradient "$W" \
    --threads "$THREADS" --seed 1 --quiet "$@"
done
