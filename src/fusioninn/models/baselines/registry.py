"""One interface for every fusion baseline, as evaluation and benchmark code sees it.

A *method* has ``name``, ``can_decompose`` (False for all baselines: only FusionINN decomposes),
``parameter_count`` (0 for training-free rules) and ``fuse(x)``, which takes float32 (N, 2, H, W) in
[0, 1] — channel 0 the first source, channel 1 the second — and returns float32 (N, H, W) in [0, 1].

    >>> import numpy as np
    >>> method = rule_method("average")
    >>> method.fuse(np.zeros((1, 2, 4, 4), np.float32)).shape
    (1, 4, 4)

CNN baselines are built untrained with :func:`build_cnn` (the trainer fits them) and wrapped for
evaluation with :func:`cnn_method`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import UserInputError
from ...validation import check_array
from . import rules
from .cnn import DeepFuse, FunFuseAn, HalfUNet, UNet, UNet3Plus, UNetPlusPlus

__all__ = [
    "RULES",
    "CNN_BASELINES",
    "RuleMethod",
    "CNNMethod",
    "rule_method",
    "cnn_method",
    "build_cnn",
    "check_pairs",
]

#: name -> ``fuse_<name>(x1, x2)`` training-free rule
RULES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "average": rules.fuse_average,
    "maximum": rules.fuse_maximum,
    "pca": rules.fuse_pca,
    "laplacian": rules.fuse_laplacian,
    "dwt": rules.fuse_dwt,
    "guided": rules.fuse_guided,
}

#: name -> CNN class (constructed with its CPU-sized defaults)
CNN_BASELINES: dict[str, type[nn.Module]] = {
    "deepfuse": DeepFuse,
    "funfusean": FunFuseAn,
    "halfunet": HalfUNet,
    "unet": UNet,
    "unetpp": UNetPlusPlus,
    "unet3p": UNet3Plus,
}

def check_pairs(x: np.ndarray) -> np.ndarray:
    """Validate a batch of source pairs (:func:`fusioninn.validation.check_array`: shape, float, finite,
    [0, 1] within its rounding tolerance) and return it as float32 (N, 2, H, W) clipped to [0, 1]."""
    a, _ = check_array(x, "source pairs", ndim=(4,), channels=2)
    return np.clip(np.asarray(a, dtype=np.float32), 0.0, 1.0)


def _unknown(kind: str, name: str, valid: dict) -> UserInputError:
    return UserInputError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")


@dataclass(frozen=True)
class RuleMethod:
    """A training-free rule as a method."""

    name: str
    function: Callable[[np.ndarray, np.ndarray], np.ndarray] = field(repr=False)
    can_decompose: bool = False
    parameter_count: int = 0

    def fuse(self, x: np.ndarray) -> np.ndarray:
        """Fuse float32 (N, 2, H, W) in [0, 1] into float32 (N, H, W) in [0, 1]."""
        a = check_pairs(x)
        return np.asarray(self.function(a[:, 0], a[:, 1]), dtype=np.float32)


@dataclass
class CNNMethod:
    """A (trained) CNN baseline as a method: inference mode, batches, on the module's device."""

    name: str
    module: nn.Module = field(repr=False)
    batch_size: int = 16
    device: torch.device | None = None
    can_decompose: bool = False
    parameter_count: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserInputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.device is None:
            first = next(self.module.parameters(), None)
            self.device = first.device if first is not None else torch.device("cpu")
        else:
            self.device = torch.device(self.device)
            self.module.to(self.device)
        self.parameter_count = sum(p.numel() for p in self.module.parameters())

    def fuse(self, x: np.ndarray) -> np.ndarray:
        """Fuse float32 (N, 2, H, W) in [0, 1] into float32 (N, H, W) in [0, 1]."""
        a = check_pairs(x)
        was_training = self.module.training
        self.module.eval()
        out = np.empty((a.shape[0], a.shape[2], a.shape[3]), dtype=np.float32)
        try:
            with torch.inference_mode():
                for start in range(0, a.shape[0], self.batch_size):
                    chunk = torch.from_numpy(np.ascontiguousarray(a[start : start + self.batch_size]))
                    fused = self.module(chunk.to(self.device))
                    out[start : start + chunk.shape[0]] = fused[:, 0].float().cpu().numpy()
        finally:
            self.module.train(was_training)
        if not np.isfinite(out).all():
            raise RuntimeError(f"{self.name}: the network produced NaN or infinite values")
        return np.clip(out, 0.0, 1.0)


def rule_method(name: str) -> RuleMethod:
    """The training-free rule ``name`` (one of :data:`RULES`) as a method."""
    if name not in RULES:
        raise _unknown("fusion rule", name, RULES)
    return RuleMethod(name=name, function=RULES[name])


def build_cnn(name: str, **kwargs: Any) -> nn.Module:
    """A fresh, untrained CNN baseline ``name`` (one of :data:`CNN_BASELINES`); kwargs go to its class."""
    if name not in CNN_BASELINES:
        raise _unknown("CNN baseline", name, CNN_BASELINES)
    return CNN_BASELINES[name](**kwargs)


def cnn_method(
    name: str, module: nn.Module, batch_size: int = 16, device: str | torch.device | None = None
) -> CNNMethod:
    """Wrap a trained CNN baseline as a method.

    ``name`` must be one of :data:`CNN_BASELINES` and ``module`` an instance of that class (anything
    else is almost certainly a checkpoint mix-up). Runs on ``device`` if given, else where the module's
    parameters are, in batches of ``batch_size`` under ``torch.inference_mode``.
    """
    if name not in CNN_BASELINES:
        raise _unknown("CNN baseline", name, CNN_BASELINES)
    expected = CNN_BASELINES[name]
    if not isinstance(module, expected):
        raise UserInputError(
            f"CNN baseline {name!r} needs a {expected.__name__}, got {type(module).__name__}"
        )
    return CNNMethod(
        name=name,
        module=module,
        batch_size=int(batch_size),
        device=None if device is None else torch.device(device),
    )
