"""Fusion methods by name, for evaluation and benchmarks: FusionINN, the training-free rules and the CNN
baselines (with their shipped weights), all behind one interface (see :mod:`fusioninn.evaluation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .errors import UserInputError
from .models.fusioninn import FusionINN

__all__ = ["FusionINNMethod", "available_methods", "resolve_methods", "baseline_weights_path"]


@dataclass
class FusionINNMethod:
    """FusionINN as an evaluation method: fuse, then decompose the fused image with fresh latents."""

    model: FusionINN
    name: str = "fusioninn"
    samples: int = 1
    seed: int = 0
    can_decompose: bool = True
    batch_size: int = 16
    _calls: int = field(default=0, repr=False)

    @property
    def parameter_count(self) -> int:
        return self.model.parameter_count()

    def fuse(self, x: np.ndarray) -> np.ndarray:
        fused, _ = self.model.fuse(x[:, 0], x[:, 1], batch_size=self.batch_size)
        return fused

    def decompose(self, fused: np.ndarray) -> np.ndarray:
        self._calls += 1  # a different but repeatable latent for every batch
        d = self.model.decompose(fused, samples=self.samples, seed=self.seed + self._calls,
                                 batch_size=self.batch_size)
        return np.stack([d.x1, d.x2], axis=1)


def baseline_weights_path(name: str) -> Path:
    return Path(str(resources.files("fusioninn") / "weights" / f"{name}.safetensors"))


def available_methods() -> list[str]:
    from .models.baselines.registry import CNN_BASELINES, RULES

    cnn = [n for n in CNN_BASELINES if baseline_weights_path(n).exists()]
    return ["fusioninn", *RULES, *cnn]


def resolve_methods(
    names: list[str], model_path: str | None = None, device: torch.device | str = "cpu",
    weights: dict[str, str] | None = None,
) -> list:
    """Method objects for ``names`` ("fusioninn", a rule, or a CNN baseline; "all" = every available)."""
    from .api import load_model
    from .models.baselines.registry import CNN_BASELINES, RULES, cnn_method, rule_method

    weights = weights or {}
    if names == ["all"]:
        names = available_methods()
    out = []
    for name in names:
        if name == "fusioninn":
            model = load_model(model_path, device=device)
            if not isinstance(model, FusionINN):
                raise UserInputError("--model is not a FusionINN checkpoint", model_path)
            out.append(FusionINNMethod(model))
        elif name in RULES:
            out.append(rule_method(name))
        elif name in CNN_BASELINES:
            path = Path(weights.get(name) or baseline_weights_path(name))
            if not path.exists():
                raise UserInputError(f"no trained weights for CNN baseline {name!r} (train one with "
                                     f"`fusioninn train --model {name}`)", path)
            out.append(cnn_method(name, load_model(path, device=device)))
        else:
            raise UserInputError(
                f"unknown method {name!r}; choose from fusioninn, {', '.join(RULES)}, {', '.join(CNN_BASELINES)}"
            )
    return out
