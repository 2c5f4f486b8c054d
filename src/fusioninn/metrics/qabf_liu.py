"""Q^AB/F as the Liu toolbox's ``metricXydeas.m`` computes it (``qabf@liu``) and as FusionINN's copy does.

C. S. Xydeas and V. Petrovic, "Objective image fusion performance measure", Electronics Letters
36(4):308-309, 2000, doi:10.1049/el:20000267.

zhengliu6699/imageFusionMetrics's ``metricXydeas.m`` filters the whole image (``filter2(sobel, img,
'same')``, zero padding, so the border pixels see a step to 0), uses its own sigmoid constants (Gamma 1,
k_g -10, sigma_g 0.5, k_alpha -20, sigma_alpha 0.75), guards zeros with 1e-5 and averages the per-pixel
ratio (Q^AF w_A + Q^BF w_B) / (w_A + w_B), in which flat background counts as near-perfect. The copy in
nish03/FusionINN replaced ``filter2`` by a swapped ``imfilter(sobel, img, 'conv')`` that leaves only the
3x3 centre (``qabf@fusioninn`` = our ``q_xy`` ``reference``, the FusionINN paper's Q_XY). VIFB's and
MEFB's ``Qabf`` (``qabf@vifb``) use the paper's constants and the ratio of sums instead.
"""

from __future__ import annotations

import numpy as np

from ._filters import SOBEL_X, SOBEL_Y
from ._matlab import filter2_same
from .q_xy import q_xy, toolbox_score
from .registry import MetricSpec

__all__ = ["qabf_liu", "qabf_fusioninn", "VARIANTS"]


def qabf_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``metricXydeas.m`` over the whole image (zero-padded Sobel, per-pixel ratio averaged)."""
    stack = np.stack([a, b, fused])
    gx = np.stack([filter2_same(SOBEL_X, x) for x in stack])
    gy = np.stack([filter2_same(SOBEL_Y, x) for x in stack])
    return toolbox_score(gx, gy)


def qabf_fusioninn(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """FusionINN's copy of ``metricXydeas.m`` (3x3 centre only): ``q_xy(..., "reference")``."""
    return q_xy(*(x.astype(np.uint8) for x in (a, b, fused)), protocol="reference")


_FORMULA = "Xydeas & Petrovic 2000, doi:10.1049/el:20000267"

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qabf@liu",
        function=qabf_liu,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricXydeas.m",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Toolbox constants (k_g -10, sigma_g 0.5, k_a -20, sigma_a 0.75, Gamma 1), zero-padded Sobel "
        "over the whole image, mean of the per-pixel weighted ratio (flat background scores ~1).",
    ),
    MetricSpec(
        key="qabf@fusioninn",
        function=qabf_fusioninn,
        formula=_FORMULA,
        reference="nish03/FusionINN:FusionMetrics/metricXydeas.m",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="The FusionINN paper's Q_XY (= q_xy reference): as qabf@liu but only the 3x3 pixels at the "
        "image centre, from the swapped imfilter arguments.",
    ),
)
