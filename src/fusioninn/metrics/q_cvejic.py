"""Q_C: Cvejic's covariance-weighted similarity metric (Liu toolbox ``metricCvejic.m`` sw = 2; MEFB ``qc``).

N. Cvejic, A. Loza, D. Bull and N. Canagarajah, "A similarity metric for assessment of image fusion
algorithms", International Journal of Signal Processing 2(3):178-182, 2005.

Over valid 7x7 Gaussian windows (sigma 1.5), with the toolbox's SSIM maps (C1 = C2 = 2e-16, i.e. without
stabilising constants) and covariances sigma_AF, sigma_BF: s = sigma_AF / (sigma_AF + sigma_BF),
Q = mean of s SSIM(A, F) + (1 - s) SSIM(B, F), set to 0 where s < 0 and 1 where s > 1.

Behaviour of the references, reproduced:
- Where both covariances are exactly 0 (e.g. windows on a zero background) s is 0/0 = NaN. ``qc@liu``
  (``mean2`` over all windows) is then NaN; ``qc@mefb`` drops NaN windows first (``sim(~isnan(sim))``).
- On flat windows that are not zero, the covariances and variances are round-off (~1e-12) and, with
  constants of 2e-16, the SSIM ratio of round-off can be anything: MEFB's Qc is 25.6 on the oracle's
  ``shapes`` triplet. Such values depend on the summation order and are not reproduced;
  ``qc@cvejic2005`` is the metric with SSIM's usual constants (K = 0.01, 0.03,
  L = 255) and flat windows (both covariances 0) left out, the corrected reading.
- ``metricCvejic.m`` sw = 1 (the gradient-based metric of Cvejic et al. 2007) is unfinished in the
  toolbox and always returns 0: not offered.
"""

from __future__ import annotations

import numpy as np

from ._filters import fspecial_gaussian, ssim_from_moments
from ._matlab import gaussian_valid_moments, mean_finite, memo_arrays
from .registry import MetricSpec

__all__ = ["qc_liu", "qc_mefb", "qc_cvejic2005", "VARIANTS"]

_WINDOW = fspecial_gaussian(7, 1.5)


def _ssim_cov(x: np.ndarray, y: np.ndarray, c1: float, c2: float) -> tuple[np.ndarray, np.ndarray]:
    mu_x, mu_y, var_x, var_y, cov = gaussian_valid_moments(_WINDOW, x, y)
    return ssim_from_moments(mu_x, mu_y, var_x, var_y, cov, c1, c2), cov


@memo_arrays()
def _sim_map(a: np.ndarray, b: np.ndarray, f: np.ndarray, c1: float, c2: float) -> np.ndarray:
    map_af, cov_af = _ssim_cov(a, f, c1, c2)
    map_bf, cov_bf = _ssim_cov(b, f, c1, c2)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 windows give NaN, as in the toolbox
        s = cov_af / (cov_af + cov_bf)
        sim = s * map_af + (1.0 - s) * map_bf
    sim[s < 0] = 0.0
    sim[s > 1] = 1.0
    return sim


def qc_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``metricCvejic.m`` sw = 2: NaN if any window has sigma_AF + sigma_BF = 0."""
    return float(_sim_map(a, b, fused, 2e-16, 2e-16).mean())


def qc_mefb(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """MEFB ``metricsQc.m``: the same map, NaN windows dropped."""
    return mean_finite(_sim_map(a, b, fused, 2e-16, 2e-16))


def qc_cvejic2005(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Cvejic's Q_C with SSIM's constants (L = 255), windows with sigma_AF + sigma_BF = 0 left out."""
    return mean_finite(_sim_map(a, b, fused, (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2))


_FORMULA = (
    "Cvejic, Loza, Bull & Canagarajah 2005, Int. J. Signal Process. 2(3):178-182 (no DOI); as given in "
    "Liu et al. 2012, doi:10.1109/TPAMI.2011.109"
)

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qc@liu",
        function=qc_liu,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricCvejic.m (sw=2)",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="NaN whenever a 7x7 window has zero covariance with F in both sources (any zero background).",
    ),
    MetricSpec(
        key="qc@mefb",
        function=qc_mefb,
        formula=_FORMULA,
        reference="xingchenzhang/MEFB:metrics/metricsQc.m",
        inputs="float",
        colour="mean",
        higher_is_better=True,
        note="qc@liu with NaN windows dropped. With C1 = C2 = 2e-16 flat non-zero windows divide round-off "
        "by round-off: values far above 1 occur (25.6 on the oracle's shapes) and are not reproduced.",
    ),
    MetricSpec(
        key="qc@cvejic2005",
        function=qc_cvejic2005,
        formula=_FORMULA,
        reference="none (corrected qc@mefb: SSIM constants K = 0.01, 0.03, L = 255)",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Stable reading of Q_C: SSIM maps with the usual constants; flat windows left out.",
    ),
)
