"""VIFB's SSIM (``metricsSsim.m``): SSIM(A, F) + SSIM(B, F) - a sum, range up to 2.

Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment: from error
visibility to structural similarity", IEEE TIP 13(4):600-612, 2004, doi:10.1109/TIP.2003.819861.
11x11 Gaussian window (sigma 1.5), K = (0.01, 0.03), L = 255, ``filter2(..., 'valid')`` (every valid
window, unlike the Liu toolbox's centre-only ``ssim_index.m``), variances E[x^2] - mu^2, mean of the map.
The sources enter as their 8-bit values; ``q_ssim`` is the mean (not the sum) on [0, 1] images.
"""

from __future__ import annotations

import numpy as np

from ._filters import fusion_ssim_maps
from .registry import MetricSpec

__all__ = ["ssim_vifb", "VARIANTS"]


def ssim_vifb(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """SSIM(a, f) + SSIM(b, f) on 0..255 images, every valid 11x11 window."""
    s_a, s_b, _, _ = fusion_ssim_maps(a, b, f, reference=False)
    return float(s_a.mean() + s_b.mean())


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="ssim@vifb",
        function=ssim_vifb,
        formula="Wang, Bovik, Sheikh & Simoncelli 2004, doi:10.1109/TIP.2003.819861; SSIM(A,F) + SSIM(B,F)",
        reference="xingchenzhang/VIFB:metrics/metricsSsim.m",
        inputs="8bit",
        colour="mean",
        higher_is_better=True,
        note="The sum of the two SSIMs (up to 2), L = 255, valid windows; q_ssim is their mean on [0, 1].",
    ),
)
