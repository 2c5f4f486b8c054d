"""Training: configuration and recipes, the trainer, checkpoints.

Names are imported on first use, so ``fusioninn.training.checkpoint`` (what loading weights needs) does
not pull in the trainer.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"RECIPES": ".config", "TrainConfig": ".config", "CheckpointData": ".checkpoint",
         "load_checkpoint": ".checkpoint", "save_checkpoint": ".checkpoint", "Trainer": ".trainer",
         "TrainResult": ".trainer", "build_model": "..models.factory", "model_from_checkpoint": "..models.factory"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fusioninn.training' has no attribute {name!r}")
