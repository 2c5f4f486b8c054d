"""Structural similarity (SSIM) with a separable Gaussian window, differentiable, in PyTorch.

Follows Wang et al. (2004), "Image quality assessment: from error visibility to structural similarity",
IEEE TIP 13(4), doi:10.1109/TIP.2003.819861, with the conventions of pytorch-msssim (which computed the
published Q_SSIM): 11-tap Gaussian, sigma 1.5, K = (0.01, 0.03), "valid" filtering (no padding), local
variances as E[x^2] - mu^2. The 1-D filter runs along each spatial axis, so 2-D and 3-D inputs share it
(window and filtering: :mod:`fusioninn.filters`, shared with the losses).
"""

from __future__ import annotations

import torch

from ..filters import gaussian_window_1d, separable_filter, ssim_from_moments

#: Valid separable filtering (one definition in :mod:`fusioninn.filters`; this name is kept for callers).
gaussian_filter = separable_filter

__all__ = ["gaussian_window_1d", "gaussian_filter", "ssim_map", "ssim", "SSIMLoss"]


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    k: tuple[float, float] = (0.01, 0.03),
) -> torch.Tensor:
    """Per-window SSIM map (valid region), same channels as the inputs."""
    if x.shape != y.shape:
        raise ValueError(f"SSIM inputs must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    window = gaussian_window_1d(win_size, sigma, dtype=x.dtype, device=x.device)
    c1 = (k[0] * data_range) ** 2
    c2 = (k[1] * data_range) ** 2
    # One filtering pass over the five stacked moments instead of five passes.
    n, c = x.shape[:2]
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    moments = separable_filter(stacked, window)
    mu_x, mu_y, e_xx, e_yy, e_xy = moments.split(c, dim=1)
    return ssim_from_moments(mu_x, mu_y, e_xx, e_yy, e_xy, c1, c2)


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> torch.Tensor:
    """SSIM of ``x`` against ``y`` (N, C, H, W[, D]).

    ``reduction="mean"`` gives one number (as ``pytorch_msssim.ssim(size_average=True)``),
    ``"none"`` one value per image (mean over channels and windows).

    >>> a = torch.rand(1, 1, 32, 32)
    >>> float(ssim(a, a))
    1.0
    """
    values = ssim_map(x, y, data_range, win_size, sigma).flatten(2).mean(-1).mean(-1)
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


class SSIMLoss(torch.nn.Module):
    """``1 - ssim(x, y)``, a thin module around :func:`ssim`."""

    def __init__(self, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        self.data_range, self.win_size, self.sigma = data_range, win_size, sigma

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 1.0 - ssim(x, y, self.data_range, self.win_size, self.sigma)
