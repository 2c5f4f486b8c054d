"""Maximum mean discrepancy with inverse multiquadric kernels, as the FusionINN latent loss.

Kernel k(a, b) = s^2 / (s^2 + |a - b|^2), summed over scales s (published 0.05, 0.2, 0.9); the
biased estimator mean(K_xx + K_yy - 2 K_xy) of Gretton et al. (2012), "A kernel two-sample test",
JMLR 13, as used by Ardizzone et al. (2019), "Analyzing inverse problems with invertible neural
networks", ICLR.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["mmd_multiscale"]


def mmd_multiscale(x: torch.Tensor, y: torch.Tensor, scales: Sequence[float] = (0.05, 0.2, 0.9)) -> torch.Tensor:
    """MMD between two batches of flattened samples ``x`` (N, D) and ``y`` (M, D)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected (N, D) and (M, D) batches, got {tuple(x.shape)} and {tuple(y.shape)}")
    xx, yy, xy = x @ x.t(), y @ y.t(), x @ y.t()
    rx, ry = xx.diagonal(), yy.diagonal()
    dxx = (rx[:, None] + rx[None, :] - 2 * xx).clamp_min(0)
    dyy = (ry[:, None] + ry[None, :] - 2 * yy).clamp_min(0)
    dxy = (rx[:, None] + ry[None, :] - 2 * xy).clamp_min(0)
    total = x.new_zeros(())
    for s in scales:
        s2 = s * s
        total = total + (s2 / (s2 + dxx)).mean() + (s2 / (s2 + dyy)).mean() - 2 * (s2 / (s2 + dxy)).mean()
    return total
