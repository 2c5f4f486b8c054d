"""MEF-SSIM: Ma, Zeng & Wang's structural-similarity index for multi-exposure fusion (MEFB ``MEF_SSIM``).

K. Ma, K. Zeng and Z. Wang, "Perceptual quality assessment for multi-exposure image fusion", IEEE TIP
24(11):3345-3356, 2015, doi:10.1109/TIP.2015.2442920. MEFB's ``metricsMEF_SSIM.m`` converts the two
sources and the fused image to grey (``rgb2gray``) and calls the authors' ``mef_ms_ssim.m`` (3 scales,
weights (0.0448, 0.2856, 0.3001) normalised, K = 0.03, 11x11 Gaussian sigma 1.5).

Per scale (``mef_ssim.m``), for every valid 11x11 patch: each source patch x_k is split into its signal
strength c_k = ||x_k - mu_k|| (+ 0.001) and structure; the desired structure is the weighted sum of the
structures with weights (c_k / 11)^p, p = tan(pi R / 2) (capped at 10) and R the structural consistency
||sum_k x_k - mean|| / sum_k ||x_k - mu_k||; it is rescaled to the largest c_k and compared with the fused
patch by SSIM's contrast-structure term (2 sigma_rf + C) / (sigma_r^2 + sigma_f^2 + C), C = (0.03 * 255)^2,
with Gaussian weights. Between scales every image is averaged over 2x2 blocks (symmetric border) and
subsampled by 2; the score is prod_s Q_s^w_s.

The reference loops over patches; here every patch quantity is a combination of box- and Gaussian-
filtered products of the images (the desired patch is linear in the source patches), so the whole map is
a few filters. Only MEFB defines this metric: ``mef_ssim@mefb``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserInputError
from ._filters import fspecial_gaussian
from ._matlab import gaussian_valid
from .registry import MetricSpec

__all__ = ["mef_ssim_single", "mef_ssim", "VARIANTS"]

_EPS = np.finfo(np.float64).eps
_WEIGHTS = np.array([0.0448, 0.2856, 0.3001]) / np.sum([0.0448, 0.2856, 0.3001])
_WIN = 11


def _box_valid(x: np.ndarray) -> np.ndarray:
    """Sum over each valid 11x11 patch (exact for integer images)."""
    c = np.cumsum(np.cumsum(np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 0), (1, 0)]), axis=-2), axis=-1)
    n = _WIN
    return c[..., n:, n:] - c[..., :-n, n:] - c[..., n:, :-n] + c[..., :-n, :-n]


def mef_ssim_single(seq: np.ndarray, fused: np.ndarray, k: float = 0.03) -> float:
    """``mef_ssim.m`` for a stack of sources (K, H, W) and a fused image (H, W), grey 0..255."""
    n2 = float(_WIN * _WIN)
    kk = seq.shape[0]
    s1 = _box_valid(seq)  # (K, h, w)
    cross = {}
    for i in range(kk):
        for j in range(i, kk):
            cross[i, j] = _box_valid(seq[i] * seq[j])
    # sum over the patch of (x_i - mu_i)(x_j - mu_j)
    cen = {key: v - s1[key[0]] * s1[key[1]] / n2 for key, v in cross.items()}
    norms = np.sqrt(np.maximum(np.stack([cen[i, i] for i in range(kk)]), 0.0))
    ed = norms + 0.001
    total = seq.sum(axis=0)
    st = _box_valid(total)
    num = np.sqrt(np.maximum(_box_valid(total * total) - st * st / n2, 0.0))
    r = (num + _EPS) / (norms.sum(axis=0) + _EPS)
    r[r > 1] = 1 - _EPS
    r[r < 0] = _EPS
    p = np.minimum(np.tan(np.pi / 2 * r), 10.0)
    w_map = (ed / _WIN) ** p[None] + _EPS
    w_map /= w_map.sum(axis=0)
    max_ed = ed.max(axis=0)
    coef = w_map / ed  # desired patch = sum_k coef_k (x_k - mu_k), then rescaled
    # ||desired||^2 over the box, and its Gaussian-weighted moments with the fused patch
    norm2 = sum(coef[i] * coef[j] * cen[min(i, j), max(i, j)] for i in range(kk) for j in range(kk))
    window = fspecial_gaussian(_WIN, 1.5)
    g_x = gaussian_valid(window, seq)
    g_f = gaussian_valid(window, fused)
    g_ff = gaussian_valid(window, fused * fused)
    var_f = g_ff - g_f * g_f
    var_r = 0.0
    cov_rf = 0.0
    g_pairs = {(i, j): gaussian_valid(window, seq[i] * seq[j]) for i in range(kk) for j in range(i, kk)}
    for i in range(kk):
        cov_rf = cov_rf + coef[i] * (gaussian_valid(window, seq[i] * fused) - g_x[i] * g_f)
        for j in range(kk):
            g_ij = g_pairs[min(i, j), max(i, j)]  # x_i x_j = x_j x_i: filtered once
            var_r = var_r + coef[i] * coef[j] * (g_ij - g_x[i] * g_x[j])
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(norm2 > 0, max_ed / np.sqrt(norm2), 1.0)
    c = (k * 255.0) ** 2
    q = (2 * scale * cov_rf + c) / (scale * scale * var_r + var_f + c)
    return float(q.mean())


def _downsample(x: np.ndarray) -> np.ndarray:
    """``imfilter(x, ones(2)/4, 'symmetric', 'same')`` then every other pixel from the first."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, 1), (0, 1)], mode="symmetric")
    avg = (padded[..., :-1, :-1] + padded[..., 1:, :-1] + padded[..., :-1, 1:] + padded[..., 1:, 1:]) / 4
    return avg[..., ::2, ::2]


def mef_ssim(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``mef_ms_ssim.m`` (3 scales) of the exposure stack (a, b) and the fused image."""
    seq = np.stack([a, b]).astype(np.float64)
    f = np.asarray(fused, dtype=np.float64)
    if min(f.shape) / 4 < _WIN:
        raise UserInputError(
            f"mef_ssim needs images of at least {4 * _WIN} pixels a side (3 scales of 11x11 windows), "
            f"got {f.shape[0]}x{f.shape[1]}"
        )
    q = []
    for level in range(3):
        q.append(mef_ssim_single(seq, f))
        if level < 2:
            seq, f = _downsample(seq), _downsample(f)
    return float(np.prod(np.asarray(q) ** _WEIGHTS))


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="mef_ssim@mefb",
        function=mef_ssim,
        formula="Ma, Zeng & Wang 2015, doi:10.1109/TIP.2015.2442920",
        reference="xingchenzhang/MEFB:metrics/metricsMEF_SSIM.m + mef_ms_ssim.m + mef_ssim.m",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="Multi-scale MEF-SSIM (3 scales) of the two sources as an exposure stack; MEFB converts colour "
        "to grey with rgb2gray (not a per-channel mean).",
    ),
)
