"""fusioninn: decomposable multimodal brain-MRI image fusion with invertible networks (FusionINN).

>>> import fusioninn
>>> model = fusioninn.load_pretrained()           # the shipped weights
>>> fused, latent = model.fuse(t1ce, flair)       # arrays or tensors, (H, W) or (N, H, W), values in [0, 1]
>>> t1ce_hat, flair_hat = model.decompose(fused)  # clinical mode: fresh latent
>>> maps = fusioninn.contribution_maps("fusioninn", t1ce, flair)  # fused ≈ baseline + first + second

Heavy modules are imported on first use, so ``import fusioninn`` and ``fusioninn --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "FusionINN": "fusioninn.models.fusioninn",
    "FusionINNConfig": "fusioninn.models.fusioninn",
    "Latent": "fusioninn.models.fusioninn",
    "Decomposition": "fusioninn.models.fusioninn",
    "ExecutionOptions": "fusioninn.models.backends",
    "load_pretrained": "fusioninn.api",
    "load_model": "fusioninn.api",
    "import_original": "fusioninn.api",
    "save_model": "fusioninn.api",
    "load_pairs": "fusioninn.data.spec",
    "phantom_slices": "fusioninn.data.phantom",
    "Trainer": "fusioninn.training.trainer",
    "TrainConfig": "fusioninn.training.config",
    "compute_all": "fusioninn.metrics",
    "UserInputError": "fusioninn.errors",
    "contribution_maps": "fusioninn.explain",
    "Contributions": "fusioninn.models.contributions",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fusioninn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
