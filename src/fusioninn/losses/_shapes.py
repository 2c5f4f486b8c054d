"""The argument check every fusion-loss term shares."""

from __future__ import annotations

import torch

__all__ = ["check_fused_and_sources"]


def check_fused_and_sources(fused: torch.Tensor, sources: torch.Tensor) -> None:
    """ValueError unless ``fused`` is (N, 1, H, W) and ``sources`` (N, 2, H, W)."""
    if fused.ndim != 4 or fused.shape[1] != 1 or sources.ndim != 4 or sources.shape[1] != 2:
        raise ValueError(f"expected fused (N, 1, H, W) and sources (N, 2, H, W), got "
                         f"{tuple(fused.shape)} and {tuple(sources.shape)}")
