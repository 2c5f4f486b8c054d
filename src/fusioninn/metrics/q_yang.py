"""Q_Y: Yang et al.'s SSIM-based fusion metric (Liu toolbox ``metricYang.m``; MEFB ``qy``).

C. Yang, J.-Q. Zhang, X.-R. Wang and X. Liu, "A novel similarity based quality metric for image fusion",
Information Fusion 9(2):156-160, 2008.

Over valid 7x7 Gaussian windows (sigma 1.5), SSIM maps with C1 = C2 = 2e-16: where SSIM(A, B) >= 0.75,
lambda SSIM(A, F) + (1 - lambda) SSIM(B, F) with lambda = var_A / (var_A + var_B); elsewhere
max(SSIM(A, F), SSIM(B, F)).

Behaviour of the references, reproduced: where var_A + var_B = 0 exactly (zero background in both
sources) lambda is NaN, and NaN x 0 stays NaN in the other branch too; ``qy@liu`` (``mean2``) is then
NaN, ``qy@mefb`` drops NaN windows. MATLAB's ``max`` ignores NaN (``np.fmax``). Flat non-zero windows
divide round-off by round-off (MEFB's Qy is 42.3 on the oracle's ``shapes``); those values depend on the
summation order and are not reproduced. ``qy@yang2008`` uses SSIM's usual constants
(K = 0.01, 0.03, L = 255) and leaves out windows with var_A + var_B = 0.
"""

from __future__ import annotations

import numpy as np

from ._filters import fspecial_gaussian, ssim_from_moments
from ._matlab import gaussian_valid_moments, mean_finite, memo_arrays
from .registry import MetricSpec

__all__ = ["qy_liu", "qy_mefb", "qy_yang2008", "VARIANTS"]

_WINDOW = fspecial_gaussian(7, 1.5)


def _ssim(x: np.ndarray, y: np.ndarray, c1: float, c2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu_x, mu_y, var_x, var_y, cov = gaussian_valid_moments(_WINDOW, x, y)
    return ssim_from_moments(mu_x, mu_y, var_x, var_y, cov, c1, c2), var_x, var_y


@memo_arrays()
def _q_map(a: np.ndarray, b: np.ndarray, f: np.ndarray, c1: float, c2: float) -> np.ndarray:
    map_ab, var_a, var_b = _ssim(a, b, c1, c2)
    map_af, _, _ = _ssim(a, f, c1, c2)
    map_bf, _, _ = _ssim(b, f, c1, c2)
    similar = map_ab >= 0.75
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 windows give NaN, as in the toolbox
        lam = var_a / (var_a + var_b)
        return (lam * map_af + (1.0 - lam) * map_bf) * similar + np.fmax(map_af, map_bf) * ~similar


def qy_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``metricYang.m``: NaN if any window has var_A + var_B = 0."""
    return float(_q_map(a, b, fused, 2e-16, 2e-16).mean())


def qy_mefb(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """MEFB ``metricsQy.m``: the same map, NaN windows dropped."""
    return mean_finite(_q_map(a, b, fused, 2e-16, 2e-16))


def qy_yang2008(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Yang's Q_Y with SSIM's constants (L = 255), windows with var_A + var_B = 0 left out."""
    return mean_finite(_q_map(a, b, fused, (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2))


_FORMULA = (
    "Yang, Zhang, Wang & Liu 2008, Inf. Fusion 9(2):156-160; as given in Liu et al. 2012, doi:10.1109/TPAMI.2011.109"
)

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qy@liu",
        function=qy_liu,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricYang.m",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="NaN whenever a 7x7 window is flat (variance 0) in both sources.",
    ),
    MetricSpec(
        key="qy@mefb",
        function=qy_mefb,
        formula=_FORMULA,
        reference="xingchenzhang/MEFB:metrics/metricsQy.m",
        inputs="float",
        colour="mean",
        higher_is_better=True,
        note="qy@liu with NaN windows dropped. With C1 = C2 = 2e-16 flat non-zero windows divide round-off "
        "by round-off: values far above 1 occur (42.3 on the oracle's shapes) and are not reproduced.",
    ),
    MetricSpec(
        key="qy@yang2008",
        function=qy_yang2008,
        formula=_FORMULA,
        reference="none (corrected qy@mefb: SSIM constants K = 0.01, 0.03, L = 255)",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Stable reading of Q_Y: SSIM maps with the usual constants; flat windows left out.",
    ),
)
