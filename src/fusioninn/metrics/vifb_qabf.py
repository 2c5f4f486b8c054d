"""VIFB's Q^AB/F (``metricsQabf.m``): Xydeas-Petrovic with the 2000 paper's constants, whole image.

C. S. Xydeas and V. Petrovic, "Objective image fusion performance measure", Electronics Letters
36(4):308-309, 2000, doi:10.1049/el:20000267.

What the VIFB file computes, reproduced here: Sobel responses by ``conv2(..., 'same')`` (zero padding, so
the image border has strong artificial edges); orientation ``atan(gy / gx)`` with pi/2 where gx = 0, the
orientation agreement 1 - |alpha_A - alpha_F| / (pi/2) **without** folding modulo pi (so two edges
differing by almost pi count as opposite); Gamma_g 0.9994, kappa_g -15, sigma_g 0.5, Gamma_a 0.9879,
kappa_a -22, sigma_a 0.8; score sum(Q^AF g_A + Q^BF g_B) / sum(g_A + g_B).

Quirk: where g_A == g_F the code sets the strength ratio to g_F (the magnitude itself) instead of 1; the
images enter scaled by 255 (``255 * im2double`` of values already 0..255), so that "ratio" is large and
its sigmoid ~Gamma_g, while the formula's ratio 1 gives 0.99945 Gamma_g (and 0 instead of ~5.5e-4
Gamma_g where both are 0, with weight 0). Reproduced; the effect is below 1e-4 on real images.
``q_xy`` (protocol ``full``) is the same formula read as the paper intends it (no padding, orientation
modulo pi, ratio 1 for equal strengths).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .registry import MetricSpec

__all__ = ["qabf_vifb", "VARIANTS"]

_H1 = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])  # y response
_H3 = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # x response
_TG, _KG, _DG, _TA, _KA, _DA = 0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8


def _strength_orientation(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx = ndimage.convolve(stack, _H3[None], mode="constant")  # conv2(p, h3, 'same')
    sy = ndimage.convolve(stack, _H1[None], mode="constant")
    g = np.sqrt(sx * sx + sy * sy)
    zero = sx == 0
    alpha = np.arctan(np.divide(sy, sx, out=np.zeros_like(sy), where=~zero))
    alpha[zero] = np.pi / 2
    return g, alpha


def qabf_vifb(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsQabf.m`` on one channel (0..255 grey values)."""
    g, alpha = _strength_orientation(255.0 * np.stack([a, b, f]))
    g_f, a_f = g[2], alpha[2]
    num = 0.0
    den = 0.0
    for g_s, a_s in ((g[0], alpha[0]), (g[1], alpha[1])):
        ratio = np.where(
            g_s > g_f,
            np.divide(g_f, g_s, out=np.zeros_like(g_f), where=g_s > g_f),
            np.where(g_s == g_f, g_f, np.divide(g_s, g_f, out=np.zeros_like(g_f), where=g_s < g_f)),
        )
        orient = 1.0 - np.abs(a_s - a_f) / (np.pi / 2)
        q = _TG / (1.0 + np.exp(_KG * (ratio - _DG))) * (_TA / (1.0 + np.exp(_KA * (orient - _DA))))
        num += float((q * g_s).sum())
        den += float(g_s.sum())
    # the code divides 0 by 0 (NaN) when neither source has a gradient; nothing could be lost: 1
    return num / den if den > 0 else 1.0


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qabf@vifb",
        function=qabf_vifb,
        formula="Xydeas & Petrovic 2000, doi:10.1049/el:20000267",
        reference="xingchenzhang/VIFB:metrics/metricsQabf.m",
        inputs="8bit",
        colour="mean",
        higher_is_better=True,
        note="Paper constants, zero-padded Sobel, orientation not folded modulo pi, equal-strength quirk "
        "(ratio = g_F) reproduced; 1.0 where the sources have no gradient (the code: NaN).",
    ),
)
