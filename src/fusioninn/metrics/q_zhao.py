"""Zhao's phase-congruency fusion metric: MEFB's ``Qp`` and the Liu toolbox's ``metricZhao.m``.

J. Zhao, R. Laganiere and Z. Liu, "Performance assessment of combinative pixel-level image fusion based
on an absolute feature measurement", Int. J. Innovative Computing, Information and Control 3(6A):
1433-1447, 2007 (no DOI); phase congruency of P. Kovesi, "Image features from phase congruency",
Videre 1(3), 1999 (``myphasecong3.m``, Kovesi's ``phasecong2`` as modified by Z. Liu).

**Not the Piella metric.** The FusionINN paper's "Q_P" is Piella & Heijmans' SSIM-based index
(``q_p``, ``piella@fusioninn``); MEFB's ``qp`` is this one. Same letters, different metrics.

For A, B and F: phase congruency PC and its maximum and minimum moments M, m (4 log-Gabor scales,
6 orientations, noise compensation k = 2). Each feature map of F is compared with the sources' maps by a
local correlation coefficient (11x11 Gaussian, constants 1e-4) restricted to the pixels where the
sources' PC exceeds 0.1; per pixel the best of (A, F), (B, F) and (max-PC source, F) is kept, the sum is
divided by the count of strong-feature pixels of the max map; Q_P = P_pc * P_M * P_m.

Quirk kept: the sources' maps are multiplied by their strong-feature masks, the fused map is not, so
even F = A = B scores below 1.

The two references are the same code (MEFB converts colour to grey itself and adds no other change), so
``qp@liu`` and ``qp@mefb`` are aliases with different colour rules.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft

from ._filters import fspecial_gaussian
from ._matlab import gaussian_same, memo_arrays
from .registry import MetricSpec

__all__ = ["phase_congruency", "qp_zhao", "VARIANTS"]

_NSCALE, _NORIENT, _MIN_WAVELENGTH, _MULT, _SIGMA_ONF = 4, 6, 3.0, 2.1, 0.55
_D_THETA_ON_SIGMA, _K, _CUT_OFF, _G, _EPS = 1.2, 2.0, 0.5, 10.0, 1e-4


@lru_cache(maxsize=8)
def _filters(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Filters for every (orientation, scale), 0 frequency at the corner, and the noise-energy factor.

    Returns (filters (O, S, H, W), sum of squares of each orientation's smallest-scale filter (O,),
    per orientation 2 sum(ifft_s^2) + 4 sum_{s<t}(ifft_s ifft_t) of the spatial filters (O,)): everything
    of myphasecong3.m that does not depend on the image.
    """
    log_gabor, spread = _radial_angular(rows, cols)
    filters = np.stack([np.stack([lg * sp for lg in log_gabor]) for sp in spread])
    spatial = np.real(sp_fft.ifft2(filters)) * np.sqrt(rows * cols)
    em_n = (filters[:, 0] ** 2).sum(axis=(-2, -1))
    sum_an2 = (spatial**2).sum(axis=(1, 2, 3))
    sum_aiaj = sum(
        (spatial[:, i] * spatial[:, j]).sum(axis=(-2, -1)) for i in range(_NSCALE - 1) for j in range(i + 1, _NSCALE)
    )
    filters = filters.astype(np.complex128)  # complex x complex is faster than NumPy's mixed product
    filters.setflags(write=False)
    return filters, em_n, 2 * sum_an2 + 4 * sum_aiaj


def _radial_angular(rows: int, cols: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The log-Gabor radial filters (with low-pass) and the angular spreads, 0 frequency at the corner."""

    def axis_range(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
        return np.arange(-n / 2, n / 2) / n

    x, y = np.meshgrid(axis_range(cols), axis_range(rows))
    radius = np.sqrt(x * x + y * y)
    radius[rows // 2, cols // 2] = 1.0
    theta = np.arctan2(-y, x)
    radius = np.fft.ifftshift(radius)
    theta = np.fft.ifftshift(theta)
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    # lowpassfilter([rows, cols], .45, 15): centred grid, then fftshift (as the toolbox does)
    lx = (np.arange(1, cols + 1)[None, :] - (cols // 2 + 1)) / cols
    ly = (np.arange(1, rows + 1)[:, None] - (rows // 2 + 1)) / rows
    lp = np.fft.fftshift(1.0 / (1.0 + (np.sqrt(lx * lx + ly * ly) / 0.45) ** 30))
    log_gabor = []
    for s in range(_NSCALE):
        fo = 1.0 / (_MIN_WAVELENGTH * _MULT**s)
        lg = np.exp(-(np.log(radius / fo) ** 2) / (2 * np.log(_SIGMA_ONF) ** 2)) * lp
        lg[0, 0] = 0.0
        log_gabor.append(lg)
    theta_sigma = np.pi / _NORIENT / _D_THETA_ON_SIGMA
    spread = []
    for o in range(_NORIENT):
        angl = o * np.pi / _NORIENT
        ds = sin_t * np.cos(angl) - cos_t * np.sin(angl)
        dc = cos_t * np.cos(angl) + sin_t * np.sin(angl)
        spread.append(np.exp(-(np.abs(np.arctan2(ds, dc)) ** 2) / (2 * theta_sigma**2)))
    return log_gabor, spread


@memo_arrays(maxsize=6)
def phase_congruency(im: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``myphasecong3.m`` with its defaults: (phase congruency, maximum moment M, minimum moment m)."""
    rows, cols = im.shape
    image_fft = sp_fft.fft2(im)
    filters, em_n, noise_factor = _filters(rows, cols)
    total_energy = np.zeros((rows, cols))
    total_sum_an = np.zeros((rows, cols))
    covx2 = np.zeros((rows, cols))
    covy2 = np.zeros((rows, cols))
    covxy = np.zeros((rows, cols))
    spectrum = np.empty(filters.shape[1:], dtype=np.complex128)
    for o in range(_NORIENT):
        angl = o * np.pi / _NORIENT
        eo = sp_fft.ifft2(np.multiply(image_fft, filters[o], out=spectrum), overwrite_x=True)
        e, od = eo.real, eo.imag
        an = np.abs(eo)
        sum_an = an.sum(0)
        sum_eo = eo.sum(0)
        sum_e, sum_o = sum_eo.real, sum_eo.imag
        max_an = an.max(0)
        x_energy = np.sqrt(sum_e * sum_e + sum_o * sum_o) + _EPS
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        # sum over scales of (e mean_e + o mean_o - |e mean_o - o mean_e|): the first part is linear.
        energy = sum_e * mean_e + sum_o * mean_o - np.abs(e * mean_o - od * mean_e).sum(0)
        # Noise threshold from the smallest scale's median response (Rayleigh model), as the toolbox.
        noise_power = -float(np.median(an[0] ** 2)) / np.log(0.5) / em_n[o]
        tau = np.sqrt(noise_power * noise_factor[o] / 2)
        threshold = (tau * np.sqrt(np.pi / 2) + _K * np.sqrt((2 - np.pi / 2) * tau**2)) / 1.7
        energy = np.maximum(energy - threshold, 0.0)
        width = sum_an / (max_an + _EPS) / _NSCALE
        weight = 1.0 / (1.0 + np.exp((_CUT_OFF - width) * _G))
        total_sum_an += sum_an
        total_energy += weight * energy
        pc_o = weight * energy / sum_an
        covx, covy = pc_o * np.cos(angl), pc_o * np.sin(angl)
        covx2 += covx * covx
        covy2 += covy * covy
        covxy += covx * covy
    pc = total_energy / (total_sum_an + _EPS)
    covx2 /= _NORIENT / 2
    covy2 /= _NORIENT / 2
    covxy /= _NORIENT
    denom = np.sqrt(covxy * covxy + (covx2 - covy2) ** 2) + _EPS
    return pc, (covy2 + covx2 + denom) / 2, (covy2 + covx2 - denom) / 2


def _correlation(s1, s2, s_max, f, m1, m2, m3) -> float:
    """``correlation_coeffcient`` of metricZhao.m: best local correlation, summed over strong pixels."""
    w = fspecial_gaussian(11, 1.5)
    c = 1e-4
    s1, s2, s_max = m1 * s1, m2 * s2, m3 * s_max
    mu_f = gaussian_same(w, f)
    var_f = gaussian_same(w, f * f) - mu_f * mu_f
    best = None
    for x, mask in ((s1, m1), (s2, m2), (s_max, m3)):
        mu = gaussian_same(w, x)
        var = gaussian_same(w, x * x) - mu * mu
        cov = gaussian_same(w, x * f) - mu * mu_f
        r = np.zeros_like(mu)
        r[mask] = (cov[mask] + c) / (np.sqrt(np.abs(var[mask] * var_f[mask])) + c)
        best = r if best is None else np.maximum(best, r)
    return float(best.sum() / m3.sum())


@memo_arrays()
def _qp(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    return _qp_uncached(a, b, fused)


def qp_zhao(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Zhao's Q_P (``metricZhao.m`` / MEFB ``metricsQp.m``) on the 0..255 grey scale."""
    return _qp(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), np.asarray(fused, dtype=np.float64))


def _qp_uncached(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Zhao's Q_P (``metricZhao.m`` / MEFB ``metricsQp.m``) on the 0..255 grey scale."""
    pc1, big1, small1 = phase_congruency(a)
    pc2, big2, small2 = phase_congruency(b)
    pcf, bigf, smallf = phase_congruency(fused)
    mask = pc1 > pc2
    m1, m2 = pc1 > 0.1, pc2 > 0.1
    m3 = np.where(mask, pc1, pc2) > 0.1
    if not m3.any():
        return 0.0
    result = 1.0
    for x1, x2, xf in ((pc1, pc2, pcf), (big1, big2, bigf), (small1, small2, smallf)):
        result *= _correlation(x1, x2, np.where(mask, x1, x2), xf, m1, m2, m3)
    return float(result)


_FORMULA = (
    "Zhao, Laganiere & Liu 2007, Int. J. Innov. Comput. Inf. Control 3(6A):1433-1447 (no DOI); as given in "
    "Liu et al. 2012, doi:10.1109/TPAMI.2011.109"
)
_NOTE = "Zhao's phase-congruency metric - NOT the Piella metric the FusionINN paper calls Q_P (q_p)."

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qp@liu",
        function=qp_zhao,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricZhao.m + myphasecong3.m",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note=_NOTE,
    ),
    MetricSpec(
        key="qp@mefb",
        function=qp_zhao,
        formula=_FORMULA,
        reference="xingchenzhang/MEFB:metrics/metricsQp.m",
        inputs="float",
        colour="mean",
        higher_is_better=True,
        note="Alias of qp@liu (the same code, copied into MEFB), averaged over colour channels. " + _NOTE,
    ),
)
