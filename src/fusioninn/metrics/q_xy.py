"""Q_XY: the Xydeas-Petrovic gradient-preservation metric Q^{AB/F}.

C. S. Xydeas and V. Petrovic, "Objective image fusion performance measure", Electronics Letters
36(4):308-309, 2000, doi:10.1049/el:20000267 (also Proc. SPIE 4051, 2000, doi:10.1117/12.381668).

For each pixel, Sobel gradients give a strength g and an orientation alpha = atan(g_y / g_x). The
relative strength G^{AF} (the smaller of g_A, g_F over the larger) and orientation agreement A^{AF} are
passed through sigmoids, Q^{AF} = Q_g^{AF} Q_alpha^{AF}, and the score weighs Q^{AF}, Q^{BF} by the source
gradient strengths w_A = g_A^L, w_B = g_B^L (L = 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ._checks import check_protocol, triplet
from ._filters import SOBEL_X, SOBEL_Y, centre_filter

__all__ = ["q_xy"]

# Xydeas & Petrovic (2000), as printed: Gamma, kappa, sigma for strength and orientation.
_PAPER = (0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8)
# The MATLAB toolbox (metricXydeas.m) uses its own constants.
_TOOLBOX = (1.0, -10.0, 0.5, 1.0, -20.0, 0.75)


def _sigmoid_q(g_ratio: np.ndarray, orient: np.ndarray, consts: tuple[float, ...]) -> np.ndarray:
    gam_g, k_g, s_g, gam_a, k_a, s_a = consts
    return gam_g / (1.0 + np.exp(k_g * (g_ratio - s_g))) * (gam_a / (1.0 + np.exp(k_a * (orient - s_a))))


def _reference(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricXydeas.m`` step by step, on the 3x3 centre Sobel maps the swapped imfilter yields."""
    gx = centre_filter(SOBEL_X, np.stack([a, b, f]))
    gy = centre_filter(SOBEL_Y, np.stack([a, b, f]))
    return toolbox_score(gx, gy)


def toolbox_score(gx: np.ndarray, gy: np.ndarray) -> float:
    """The toolbox's Q^AB/F from Sobel responses stacked (A, B, F): per-pixel ratio, mean over pixels."""
    g = np.sqrt(gx * gx + gy * gy)
    gx = gx + (gx == 0) * 1e-5  # the toolbox's guard before atan(gy./gx)
    alpha = np.arctan(gy / gx)
    g_a, g_b, g_f = g[0], g[1], g[2]
    q = []
    weights = []
    for g_s, alpha_s in ((g_a, alpha[0]), (g_b, alpha[1])):
        # Same order of in-place guards as the toolbox: g_f is bumped where zero by the first source's
        # pass and the second pass sees the bumped values.
        bimap = g_s > g_f
        g_s = g_s + (g_s == 0) * 1e-5
        ratio_up = g_f / g_s
        g_f = g_f + (g_f == 0) * 1e-5
        ratio_down = g_s / g_f
        strength = bimap * ratio_up + (1 - bimap) * ratio_down
        orient = np.abs(np.abs(alpha_s - alpha[2]) - np.pi / 2) * 2 / np.pi
        q.append(_sigmoid_q(strength, orient, _TOOLBOX))
        weights.append(g_s)
    return float(np.mean((q[0] * weights[0] + q[1] * weights[1]) / (weights[0] + weights[1])))


def _full(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """The 2000 paper's formula over the valid interior (pixels whose 3x3 Sobel window fits)."""
    stack = np.stack([a, b, f])
    gx = np.ascontiguousarray(ndimage.convolve(stack, SOBEL_X[None], mode="constant")[:, 1:-1, 1:-1])
    gy = np.ascontiguousarray(ndimage.convolve(stack, SOBEL_Y[None], mode="constant")[:, 1:-1, 1:-1])
    g = np.sqrt(gx * gx + gy * gy)
    # Orientation alpha = atan(gy / gx) is defined modulo pi; arctan2 gives it up to a multiple of pi
    # (gx = 0 -> +-pi/2, a flat pixel -> 0), and only differences modulo pi are used below.
    alpha = np.arctan2(gy, gx)
    g_f, alpha_f = g[2], alpha[2]
    num = 0.0
    den = 0.0
    for g_s, alpha_s in ((g[0], alpha[0]), (g[1], alpha[1])):
        hi = np.maximum(g_s, g_f)
        strength = np.divide(np.minimum(g_s, g_f), hi, out=np.ones_like(hi), where=hi > 0)
        # Orientation distance folded into [0, pi/2].
        d = np.abs(alpha_s - alpha_f) % np.pi
        orient = 1.0 - np.minimum(d, np.pi - d) / (np.pi / 2)
        num += float((_sigmoid_q(strength, orient, _PAPER) * g_s).sum())
        den += float(g_s.sum())
    if den == 0.0:  # neither source has an edge: nothing could be lost
        return 1.0
    return num / den


def q_xy(a: Any, b: Any, fused: Any, protocol: str = "full") -> float:
    """Xydeas-Petrovic edge-preservation score Q^{AB/F} of ``fused`` with respect to sources ``a``, ``b``.

    Images are 8-bit (floats quantised to 0..255; the gradient ratios do not depend on the scale, the
    quantisation matches the reference PNGs).

    Args:
        a, b, fused: 2-D images of one shape, uint8 or float in [0, 1] (NumPy or torch).
        protocol: ``"full"`` - the 2000 paper: Q = sum(Q^AF w_A + Q^BF w_B) / sum(w_A + w_B) over all
            interior pixels, constants Gamma_g 0.9994, kappa_g -15, sigma_g 0.5, Gamma_alpha 0.9879,
            kappa_alpha -22, sigma_alpha 0.8, orientation distance taken modulo pi. With these printed
            constants the best possible score (fused == a == b with edges) is about 0.9748, not 1. If
            neither source has any gradient the score is defined as 1.0.
            ``"reference"`` - ``metricXydeas.m`` of the MATLAB toolbox: constants 1, -10, 0.5, 1, -20,
            0.75, the mean of the per-pixel ratio (Q^AF w_A + Q^BF w_B) / (w_A + w_B) with 1e-5 guards,
            evaluated only on the 3x3 pixels at the image centre (rows/cols H//2-1 .. H//2+1).

    Returns:
        A float in [0, 1].
    """
    qa, qb, qf = triplet(a, b, fused, "8bit")
    if check_protocol(protocol) == "reference":
        return _reference(qa, qb, qf)
    return _full(qa, qb, qf)
