"""Turn a training run's checkpoint into shipped, weights-only package weights.

    python scripts/package_weights.py runs/shipped/best.safetensors src/fusioninn/weights/fusioninn_default.safetensors

Keeps the model config, the training summary (data, steps, minutes, final validation figures) and
versions; drops optimizer and RNG state. The checksum is recomputed and verified on load.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fusioninn.training.checkpoint import WEIGHTS_META_KEYS, CheckpointData, load_checkpoint, save_checkpoint


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    data = load_checkpoint(src)
    m = data.meta
    keep = {k: m[k] for k in WEIGHTS_META_KEYS if k in m}
    keep["kind"] = "weights"
    keep["source_run"] = src.parent.name
    save_checkpoint(dst, CheckpointData(model_state=data.model_state, meta=keep))
    back = load_checkpoint(dst)
    print(f"wrote {dst}: {back.meta.get('model')} after {back.meta.get('global_step')} steps, "
          f"{back.meta.get('minutes', 0):.1f} min; {dst.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
