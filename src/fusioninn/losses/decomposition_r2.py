"""Decomposition R² loss: train the decomposition on the share of the fused image's gap it recovers.

    L_R2 = sum_i a_i * sum_batch |x^_i - x_i|^2 / (sum_batch |y - x_i|^2 + eps)

with y the fused image (no gradient through the denominator) and the sums pooled over the batch, as the
metric :func:`fusioninn.metrics.decomposition_r2.pooled_r2` pools them over a data set: L_R2 = 1 - R² per
source. The published loss weighs decomposition errors through SSIM (0.8) and MSE (0.2); on slices where
the fused image is already close to a source, SSIM is near 1 for a decomposition that recovers little of
the difference, and the MSE part is tiny, so neither pushes on what R² measures. Our term; weight 0 by
default.
"""

from __future__ import annotations

import torch

__all__ = ["decomposition_r2_loss"]


def decomposition_r2_loss(decomposed: torch.Tensor, x: torch.Tensor, fused: torch.Tensor,
                          source_1: float = 0.5, eps: float = 1e-6) -> torch.Tensor:
    """1 - pooled R² per source of ``decomposed`` (N, 2, H, W) against ``x`` (N, 2, H, W), relative to the
    fused image ``fused`` (N, 1, H, W), weighted ``source_1`` / ``1 - source_1``."""
    if decomposed.shape != x.shape or decomposed.ndim != 4 or decomposed.shape[1] != 2:
        raise ValueError(f"expected decomposed and sources of one (N, 2, H, W) shape, got "
                         f"{tuple(decomposed.shape)} and {tuple(x.shape)}")
    err = ((decomposed - x) ** 2).sum((0, 2, 3))
    with torch.no_grad():
        gap = ((fused.expand_as(x) - x) ** 2).sum((0, 2, 3)) + eps * x[0, 0].numel() * x.shape[0]
    share = err / gap
    return source_1 * share[0] + (1 - source_1) * share[1]
