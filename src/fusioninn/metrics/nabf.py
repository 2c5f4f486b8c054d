"""N^AB/F: fusion artefacts, Shreyamsha Kumar's modification of Petrovic's measure. Lower is better.

B. K. Shreyamsha Kumar, "Multifocus and multispectral image fusion based on pixel significance using
discrete cosine harmonic wavelet transform", Signal, Image and Video Processing 7:1125-1143, 2013,
doi:10.1007/s11760-012-0361-x (modified N^AB/F); Petrovic's objective measures: V. Petrovic and C. Xydeas,
"Objective image fusion performance characterisation", ICCV 2005, doi:10.1109/ICCV.2005.175.

As Kumar's ``objective_fusion_perform_fn.m`` computes it (the copy in xingchenzhang/VIFB's CBF method,
identical in Linfeng-Tang/Evaluation-for-Image-Fusion as ``analysis_nabf.m``): Sobel responses / 8 with a
mirrored border (``per_extn_im_fn``); strength ratio min/max (0 where either magnitude is 0);
orientation atan(g_v / g_h) (0 where both are 0), agreement |(|a_S - a_F| - pi/2)| 2/pi; Q^SF =
sqrt(Q_g Q_a) with sigmoids (0.9999, 19, 0.5) and (0.9995, 22, 0.5); weights g^1.5 where g >= 2, else
0.001; N = sum over pixels where g_F exceeds both source magnitudes of (1 - Q^AF) w_A + (1 - Q^BF) w_B,
divided by sum(w_A + w_B).

``nabf@tang`` reproduces a bug of ``analysis_Reference.m`` in Linfeng-Tang/Evaluation-for-Image-Fusion:
it calls ``analysis_nabf(img1, img2, fused)`` although the function's first argument is the fused
image, so the reported value treats the **first source** as the fused image and (second source, fused)
as the sources. ``nabf@kumar`` passes the arguments in their documented order (the correct formula).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._matlab import memo_arrays
from .registry import MetricSpec

__all__ = ["nabf_kumar", "nabf_tang", "VARIANTS"]

_V = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
_H = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]) / 8.0
_TD, _WT_MIN, _LG = 2.0, 0.001, 1.5
_NRG, _KG, _SG, _NRA, _KA, _SA = 0.9999, 19.0, 0.5, 0.9995, 22.0, 0.5


@memo_arrays(maxsize=6)
def _edges(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel strength and angle of one image (shared by nabf@kumar and nabf@tang within a compute call)."""
    # per_extn_im_fn mirrors without repeating the edge pixel: scipy's "mirror" mode
    gv = ndimage.correlate(image, _V, mode="mirror")
    gh = ndimage.correlate(image, _H, mode="mirror")
    g = np.sqrt(gh * gh + gv * gv)
    flat = (gv == 0) & (gh == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.arctan(gv / gh)  # gh == 0, gv != 0: atan(+-inf) = +-pi/2 as in MATLAB
    alpha[flat] = 0.0
    return g, alpha


def _edge_preservation(g_s, a_s, g_f, a_f):
    hi = np.maximum(g_s, g_f)
    ratio = np.divide(np.minimum(g_s, g_f), hi, out=np.zeros_like(hi), where=(g_s != 0) & (g_f != 0))
    orient = np.abs(np.abs(a_s - a_f) - np.pi / 2) * 2 / np.pi
    q_g = _NRG / (1 + np.exp(-_KG * (ratio - _SG)))
    q_a = _NRA / (1 + np.exp(-_KA * (orient - _SA)))
    return np.sqrt(q_g * q_a)


def nabf_kumar(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """Kumar's modified N^AB/F of ``f`` with respect to sources ``a`` and ``b`` (0..255 values)."""
    (g_a, alpha_a), (g_b, alpha_b), (g_f, alpha_f) = _edges(a), _edges(b), _edges(f)
    g, alpha = (g_a, g_b, g_f), (alpha_a, alpha_b, alpha_f)
    q_af = _edge_preservation(g[0], alpha[0], g[2], alpha[2])
    q_bf = _edge_preservation(g[1], alpha[1], g[2], alpha[2])
    w_a = np.where(g[0] >= _TD, g[0] ** _LG, _WT_MIN)
    w_b = np.where(g[1] >= _TD, g[1] ** _LG, _WT_MIN)
    artefact = (g[2] > g[0]) & (g[2] > g[1])
    return float((artefact * ((1 - q_af) * w_a + (1 - q_bf) * w_b)).sum() / (w_a + w_b).sum())


def nabf_tang(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """What ``analysis_Reference.m`` reports: Kumar's function called as (fused=a, sources=b, f)."""
    return nabf_kumar(b, f, a)


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="nabf@kumar",
        function=nabf_kumar,
        formula="Shreyamsha Kumar 2013, doi:10.1007/s11760-012-0361-x (modified N^AB/F of Petrovic & "
        "Xydeas 2005, doi:10.1109/ICCV.2005.175)",
        reference="xingchenzhang/VIFB:methods/CBF/objective_fusion_perform_fn.m",
        inputs="float",
        colour="grey",
        higher_is_better=False,
        note="The NABF output of Kumar's function with the documented argument order.",
    ),
    MetricSpec(
        key="nabf@tang",
        function=nabf_tang,
        formula="Shreyamsha Kumar 2013, doi:10.1007/s11760-012-0361-x",
        reference="Linfeng-Tang/Evaluation-for-Image-Fusion:Evaluation/analysis_Reference.m (analysis_nabf.m)",
        inputs="float",
        colour="grey",
        higher_is_better=False,
        note="Reproduces the call analysis_nabf(img1, img2, fused) into a function whose first argument is "
        "the fused image: the first source is scored as if fused. Use nabf@kumar for the formula.",
    ),
)
