"""NMI: the normalised mutual information of Hossny et al., as the Liu toolbox and MEFB compute it.

M. Hossny, S. Nahavandi and D. Creighton, "Comments on 'Information measure for performance of image
fusion'", Electronics Letters 44(18):1066-1067, 2008, doi:10.1049/el:20081754.

NMI = 2 [ I(A;F) / (H(A) + H(F)) + I(B;F) / (H(B) + H(F)) ], in bits, from 256x256 joint histograms of
the images after ``normalize1`` (each min-max rescaled and rounded to 0..255). Range [0, 2]. Not the
``mi@qu`` sum I(A;F) + I(B;F) on the raw grey values.

``metricMI.m`` with sw = 1 (zhengliu6699/imageFusionMetrics) and MEFB's ``metricsNMI.m`` (a copy of it)
are the same computation: ``nmi@mefb`` is an alias of ``nmi@liu`` with MEFB's colour rule.
"""

from __future__ import annotations

import numpy as np

from ._matlab import joint_histogram, normalize1
from .registry import MetricSpec

__all__ = ["nmi", "mutual_info", "VARIANTS"]


def _entropy_bits(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def mutual_info(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """``mutual_info.m`` on two images of integers 0..255: (I(X;Y), H(X), H(Y)) in bits."""
    h = joint_histogram(x, y)
    h_x, h_y = _entropy_bits(h.sum(1)), _entropy_bits(h.sum(0))
    return h_x + h_y - _entropy_bits(h), h_x, h_y


def nmi(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Hossny's normalised MI of (a, b, fused) on the 0..255 grey scale (``metricMI.m``, sw = 1)."""
    a, b, f = normalize1(a), normalize1(b), normalize1(fused)
    i_af, h_a, h_fa = mutual_info(a, f)
    i_bf, h_b, h_fb = mutual_info(b, f)
    # A constant image has zero entropy; with both zero the toolbox divides 0 by 0. Defined here as 0.
    terms = [i / h if h > 0 else 0.0 for i, h in ((i_af, h_a + h_fa), (i_bf, h_b + h_fb))]
    return float(2.0 * (terms[0] + terms[1]))


_FORMULA = "Hossny, Nahavandi & Creighton 2008, doi:10.1049/el:20081754"
_NOTE = (
    "2[I(A;F)/(H(A)+H(F)) + I(B;F)/(H(B)+H(F))] in bits after normalize1 (min-max to 0..255, rounded); "
    "not the mi@qu sum of MIs on the raw values."
)

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="nmi@liu",
        function=nmi,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricMI.m (sw=1)",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note=_NOTE,
    ),
    MetricSpec(
        key="nmi@mefb",
        function=nmi,
        formula=_FORMULA,
        reference="xingchenzhang/MEFB:metrics/metricsNMI.m",
        inputs="float",
        colour="mean",
        higher_is_better=True,
        note="Alias of nmi@liu (MEFB copied metricMI.m, sw=1); MEFB averages it over colour channels. " + _NOTE,
    ),
)
