#!/usr/bin/env bash
# Package the trained CNN baselines (runs/baseline-<name>/best.safetensors) as shipped weights.
set -euo pipefail
for name in deepfuse funfusean halfunet unet unetpp unet3p; do
  .venv/bin/python scripts/package_weights.py "runs/baseline-$name/best.safetensors" \
    "src/fusioninn/weights/$name.safetensors"
done
