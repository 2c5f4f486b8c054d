"""Q_NCIE under its toolbox names: ``qncie@liu``, ``qncie@mefb``, ``qncie@fusioninn`` (one computation).

Liu's ``metricWang.m`` + ``NCC.m``, FusionINN's copies of them and MEFB's ``metricsQncie.m`` (the same
code pasted into one file) compute the same number; our :func:`fusioninn.metrics.q_ncie` reproduces it
(both of its protocols agree, the toolbox already looks at the whole image). Checked against Octave runs
of the Liu and MEFB files in tests/metrics/test_octave_reference.py.
"""

from __future__ import annotations

import numpy as np

from .q_ncie import q_ncie
from .registry import MetricSpec

__all__ = ["qncie", "VARIANTS"]


def qncie(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Q_NCIE of three 8-bit images given on the 0..255 scale."""
    return q_ncie(a.astype(np.uint8), b.astype(np.uint8), fused.astype(np.uint8))


_FORMULA = "Wang, Shen & Jin 2008, doi:10.1016/B978-0-12-372529-5.00017-2"
_NOTE = "normalize1 (min-max to 0..255, rounded), 256-bin NCC, eigenvalues of the 3x3 NCC matrix."

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qncie@liu",
        function=qncie,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricWang.m + NCC.m",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note=_NOTE,
    ),
    MetricSpec(
        key="qncie@fusioninn",
        function=qncie,
        formula=_FORMULA,
        reference="nish03/FusionINN:FusionMetrics/metricWang.m + NCC.m",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="Alias of qncie@liu (identical files); the FusionINN paper's Q_NCIE (= q_ncie).",
    ),
    MetricSpec(
        key="qncie@mefb",
        function=qncie,
        formula=_FORMULA,
        reference="xingchenzhang/MEFB:metrics/metricsQncie.m",
        inputs="8bit",
        colour="mean",
        higher_is_better=True,
        note="Alias of qncie@liu (MEFB pasted metricWang.m and NCC.m into one file), averaged over colour channels.",
    ),
)
