"""The image filters that losses and metrics share: Gaussian window, separable valid filtering, Sobel.

Torch versions (differentiable, any device) for the losses and the torch SSIM, and the same numbers as
NumPy arrays for the MATLAB-derived metrics (whose ``reference`` placement quirks stay in
``fusioninn.metrics._filters``). One definition of each window, so a loss and the metric it optimises
cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["gaussian_1d", "gaussian_window_1d", "separable_filter", "SOBEL_X", "SOBEL_Y", "sobel_gradients",
           "ssim_from_moments"]

#: 3x3 Sobel kernels of the x (columns) and y (rows) derivative, applied by correlation here and by
#: convolution in the MATLAB toolbox (``metricXydeas.m``), whose sign convention the metrics keep.
SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T.copy()


def gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian (float64); its outer product with itself is the 2-D SSIM window."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def gaussian_window_1d(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    """:func:`gaussian_1d` as a tensor of ``dtype`` on ``device``."""
    return torch.from_numpy(gaussian_1d(size, sigma)).to(dtype=dtype, device=device)


def separable_filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Valid separable filtering of every channel of a (N, C, H, W) or (N, C, D, H, W) tensor: the 1-D
    ``window`` runs along each spatial axis (no padding, so each side shrinks by ``len(window) - 1``)."""
    if x.ndim not in (4, 5):
        raise ValueError(f"expected a 4-d or 5-d tensor, got shape {tuple(x.shape)}")
    channels = x.shape[1]
    conv = F.conv2d if x.ndim == 4 else F.conv3d
    out = x
    for axis in range(2, x.ndim):
        if x.shape[axis] < window.numel():
            raise ValueError(f"image side {x.shape[axis]} is smaller than the {window.numel()}-tap SSIM window")
        shape = [1] * (x.ndim - 2)
        shape[axis - 2] = window.numel()
        out = conv(out, window.reshape(1, 1, *shape).expand(channels, 1, *shape), groups=channels)
    return out


def sobel_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel (g_x, g_y) of every channel of ``x`` (N, C, H, W), valid interior: (N, C, H-2, W-2) each; the
    correlation with :data:`SOBEL_X` and :data:`SOBEL_Y`.

    Computed separably from shifted views (central difference along, [1, 2, 1] across) rather than by
    a grouped 3x3 convolution: the same numbers to float rounding, ~10x faster forward and backward on
    the CPU for the one- to three-channel images of the loss terms (``python benchmarks/edge_terms_scale.py
    --speed``)."""
    if x.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    h, w = x.shape[2] - 2, x.shape[3] - 2
    dx = x[..., 2:] - x[..., :-2]  # (H, W-2)
    gx = dx[..., 0:h, :] + 2 * dx[..., 1 : h + 1, :] + dx[..., 2 : h + 2, :]
    dy = x[..., 2:, :] - x[..., :-2, :]  # (H-2, W)
    gy = dy[..., 0:w] + 2 * dy[..., 1 : w + 1] + dy[..., 2 : w + 2]
    return gx, gy


def ssim_from_moments(mu_x: torch.Tensor, mu_y: torch.Tensor, e_xx: torch.Tensor, e_yy: torch.Tensor,
                      e_xy: torch.Tensor, c1: float = 0.01**2, c2: float = 0.03**2) -> torch.Tensor:
    """SSIM map of Wang et al. (2004) from Gaussian-filtered moments (means and E[x^2], E[y^2], E[xy]);
    variances as E[x^2] - mu^2. Broadcasts, so one fused image's moments can meet two sources'."""
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    luminance = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1)
    contrast_structure = (2 * (e_xy - mu_xy) + c2) / ((e_xx - mu_xx) + (e_yy - mu_yy) + c2)
    return luminance * contrast_structure
