"""PSNR of a fused image against its two sources, and of one image against another.

Peak signal-to-noise ratio, PSNR = 10 log10(L^2 / MSE); for fusion the MSE is the mean of the two
source-to-fused errors, as in e.g. Y. Jagalingam and A. V. Hegde, "A review of quality metrics for fused
image", Aquatic Procedia 4:133-142, 2015, doi:10.1016/j.aqpro.2015.02.019.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_unit_float, check_same_shape, triplet
from .registry import MetricSpec

__all__ = ["psnr", "psnr_pair", "PSNR_MAX"]

#: PSNR of identical images: the MSE is floored at 1e-10 (on the [0, 1] scale), i.e. 100 dB.
PSNR_MAX = 100.0
_MSE_FLOOR = 1e-10


def _psnr_from_mse(mse: float) -> float:
    return float(10.0 * np.log10(1.0 / max(mse, _MSE_FLOOR)))


def psnr_pair(x: Any, y: Any) -> float:
    """PSNR in dB of ``y`` against ``x`` on the float [0, 1] scale (data range 1), capped at 100 dB.

    >>> import numpy as np
    >>> round(psnr_pair(np.zeros((4, 4)), np.full((4, 4), 0.1)), 6)
    20.0
    """
    fx, fy = as_unit_float(x, "x"), as_unit_float(y, "y")
    check_same_shape({"x": fx, "y": fy})
    return _psnr_from_mse(float(np.mean((fx - fy) ** 2)))


def psnr(a: Any, b: Any, fused: Any) -> float:
    """Fusion PSNR in dB: 10 log10(1 / ((MSE(a, fused) + MSE(b, fused)) / 2)) on float [0, 1] images.

    8-bit inputs are divided by 255 (so the value equals the 8-bit PSNR with L = 255). Identical images
    give :data:`PSNR_MAX` (100 dB) rather than infinity.
    """
    fa, fb, ff = triplet(a, b, fused, "unit", min_side=1)
    mse = (np.mean((fa - ff) ** 2) + np.mean((fb - ff) ** 2)) / 2.0
    return _psnr_from_mse(float(mse))


def _psnr_mean_mse(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    mse = (np.mean((a - f) ** 2) + np.mean((b - f) ** 2)) / 2.0 / (255.0 * 255.0)
    return _psnr_from_mse(float(mse))


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="psnr@fusioninn",
        function=_psnr_mean_mse,
        formula="Jagalingam & Hegde 2015, doi:10.1016/j.aqpro.2015.02.019; 10 log10(L^2 / MSE), "
        "MSE = (MSE(A,F) + MSE(B,F)) / 2",
        reference="this repository: src/fusioninn/metrics/psnr.py (psnr)",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Float images, data range 1 (= 8-bit with L = 255), capped at 100 dB. psnr@vifb uses "
        "sqrt(SSE)/(HW) in place of the MSE and lands near 60 dB.",
    ),
)
