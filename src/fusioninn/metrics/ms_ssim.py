"""MS-SSIM of the fused image against each source, as pytorch-msssim computes it.

Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multiscale structural similarity for image quality
assessment", 37th Asilomar Conference on Signals, Systems and Computers, 2003,
doi:10.1109/ACSSC.2003.1292216. Five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
11x11 Gaussian window (sigma 1.5, valid filtering), K = (0.01, 0.03), data range 255 on 0..255 images
(the same numbers as data range 1 on [0, 1]); between scales a 2x2 average pool with zero padding of one
pixel on odd sides (counted in the mean, as ``avg_pool2d`` does); the contrast-structure terms of the
four finer scales and the SSIM of the coarsest, negative values clipped to 0, combined as a weighted
product. The score is (MS-SSIM(A, F) + MS-SSIM(B, F)) / 2. Both sides must exceed 160 pixels (the
window must fit at the coarsest scale), as pytorch-msssim requires.

Not to be confused with the "MS_SSIM" of Linfeng-Tang/Evaluation-for-Image-Fusion, which is the
multi-scale MEF-SSIM of Ma, Zeng & Wang (an exposure-fusion metric; MEFB's ``mef_ssim`` family).
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import UserInputError
from ._filters import valid_filter
from .registry import MetricSpec

__all__ = ["ms_ssim_pair", "ms_ssim_fusion", "VARIANTS"]

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


@functools.cache
def _window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """pytorch-msssim's window: built and normalised in float32 by torch, then cast to float64.

    Using the very same float32 weights puts us at ~1e-15 of its float64 results (an exact float64
    Gaussian differs from it by ~1e-8 per weight, ~1e-7 in the score).
    """
    import torch

    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).double().numpy()
_MIN_SIDE = (11 - 1) * 2 ** (len(WEIGHTS) - 1)  # 160: the smaller side must be larger


def _ssim_cs(x: np.ndarray, y: np.ndarray, data_range: float) -> tuple[np.ndarray, np.ndarray]:
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    m = valid_filter(np.stack([x, y, x * x, y * y, x * y], axis=-3), _window())
    mu_x, mu_y = m[..., 0, :, :], m[..., 1, :, :]
    var_x = m[..., 2, :, :] - mu_x * mu_x
    var_y = m[..., 3, :, :] - mu_y * mu_y
    cov = m[..., 4, :, :] - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1) * cs_map
    return ssim_map.mean(axis=(-2, -1)), cs_map.mean(axis=(-2, -1))


def _pool(x: np.ndarray) -> np.ndarray:
    """``avg_pool2d(kernel_size=2, padding=side % 2)``: zero padding on both ends of odd sides."""
    ph, pw = x.shape[-2] % 2, x.shape[-1] % 2
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    return 0.25 * (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2])


def ms_ssim_pair(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """MS-SSIM of matching image stacks (..., H, W) -> (...)."""
    if min(x.shape[-2:]) <= _MIN_SIDE:
        raise UserInputError(
            f"MS-SSIM needs both image sides larger than {_MIN_SIDE} pixels, got {x.shape[-2]}x{x.shape[-1]}"
        )
    terms = []
    for level in range(len(WEIGHTS)):
        ssim_val, cs = _ssim_cs(x, y, data_range)
        if level < len(WEIGHTS) - 1:
            terms.append(np.maximum(cs, 0.0))
            x, y = _pool(x), _pool(y)
    terms.append(np.maximum(ssim_val, 0.0))
    return np.prod(np.stack(terms) ** WEIGHTS.reshape(-1, *([1] * (np.ndim(ssim_val)))), axis=0)


def ms_ssim_fusion(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """(MS-SSIM(A, F) + MS-SSIM(B, F)) / 2 on 0..255 images."""
    vals = ms_ssim_pair(np.stack([a, b]), np.stack([f, f]))
    return float(vals.mean())


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="ms_ssim@pytorch_msssim",
        function=ms_ssim_fusion,
        formula="Wang, Simoncelli & Bovik 2003, doi:10.1109/ACSSC.2003.1292216; (MS-SSIM(A,F)+MS-SSIM(B,F))/2",
        reference="VainF/pytorch-msssim:pytorch_msssim/ssim.py (ms_ssim)",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Five scales, pytorch-msssim's pooling and clipping; sides must exceed 160 pixels.",
    ),
)
