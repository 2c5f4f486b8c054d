"""SSIM as the Liu toolbox's ``ssim_index.m`` computes it over the whole image (``ssim@liu``).

Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment: from error visibility
to structural similarity", IEEE TIP 13(4):600-612, 2004, doi:10.1109/TIP.2003.819861.

11x11 Gaussian window (sigma 1.5), K = (0.01, 0.03), L = 255, ``filter2(..., 'valid')``: the mean of the
SSIM maps of (A, F) and (B, F), averaged. zhengliu6699/imageFusionMetrics's ``ssim_index.m`` slides the
window over the whole image; the copy in nish03/FusionINN swapped ``filter2`` for a ``imfilter(window,
img, 'conv')`` that only covers the image centre (``ssim@fusioninn``, our ``q_ssim`` ``reference``).
``ssim@liu`` is the same number as ``q_ssim`` (``full``) on 8-bit images.
"""

from __future__ import annotations

import numpy as np

from ._filters import fusion_ssim_maps
from .q_ssim import q_ssim
from .registry import MetricSpec

__all__ = ["ssim_liu", "ssim_fusioninn", "VARIANTS"]


def ssim_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """(mean SSIM(A, F) + mean SSIM(B, F)) / 2, valid 11x11 Gaussian windows, L = 255."""
    map_af, map_bf, _, _ = fusion_ssim_maps(a, b, fused, reference=False)
    return float((map_af.mean() + map_bf.mean()) / 2.0)


def ssim_fusioninn(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """The FusionINN copy of ``ssim_index.m`` (centre windows only): ``q_ssim(..., "reference")``."""
    return q_ssim(*(x.astype(np.uint8) for x in (a, b, fused)), protocol="reference")


_FORMULA = "Wang, Bovik, Sheikh & Simoncelli 2004, doi:10.1109/TIP.2003.819861"

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="ssim@liu",
        function=ssim_liu,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:ssim_index.m",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="Mean of the two SSIM maps' means, valid 11x11 Gaussian windows, L = 255 (= q_ssim full).",
    ),
    MetricSpec(
        key="ssim@fusioninn",
        function=ssim_fusioninn,
        formula=_FORMULA,
        reference="nish03/FusionINN:FusionMetrics/ssim_index.m",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="The FusionINN copy swaps imfilter's arguments: only the 11x11 window centres around the image "
        "centre count (= q_ssim reference). The published Q_SSIM did not use it.",
    ),
)
