"""VIF: the visual-information-fidelity fusion metric (VIFF) as MEFB's ``metricsVIF.m`` computes it.

Y. Han, Y. Cai, Y. Cao and X. Xu, "A new image fusion performance metric based on visual information
fidelity", Information Fusion 14(2):127-135, 2013; built on the VIF of H. R. Sheikh and A. C. Bovik,
"Image information and visual quality", IEEE TIP 15(2):430-444, 2006, doi:10.1109/TIP.2005.859378.

Four scales (Gaussian windows of N = 2^(5-s) + 1 pixels, sigma N/5, filtered and subsampled by 2 between
scales, ``filter2 'valid'``); per scale and source the Sheikh-Bovik gain g and distortion variance
sv^2 of F given the source (clipped as the reference does), noise variance sigma_n^2 = 0.005 * 255^2; at
each pixel the source with the smaller g is taken; VID = sum log10(1 + g^2 var_s / (sv^2 + sigma_n^2)),
VIND = sum log10(1 + var_s / sigma_n^2) (both + 1e-7 per pixel); VIFF = sum_s p_s VID_s / VIND_s with
p = (1, 0, 0.15, 1) / 2.15. Grey inputs (MEFB averages the value over colour channels; its Lab branch
runs only for a colour image handed to the kernel, which its wrapper never does).
"""

from __future__ import annotations

import numpy as np

from ._filters import fspecial_gaussian
from ._matlab import gaussian_valid
from .registry import MetricSpec

__all__ = ["viff", "VARIANTS"]

_SIGMA_NSQ = 0.005 * 255 * 255
_C = 1e-7
_P = np.array([1.0, 0.0, 0.15, 1.0]) / 2.15


def _windows() -> list[np.ndarray]:
    return [fspecial_gaussian(2 ** (5 - scale) + 1, (2 ** (5 - scale) + 1) / 5) for scale in range(1, 5)]


def _pyramid(x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per scale: the image (filtered and halved from scale 2 on), its local mean and E[x^2]."""
    out = []
    for scale, win in enumerate(_windows(), start=1):
        if scale > 1:
            x = gaussian_valid(win, x)[::2, ::2]
        m = gaussian_valid(win, np.stack([x, x * x]))
        out.append((x, m[0], m[1]))
    return out


def _scales(ref: list, dist: list) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``ComVidVindG`` of two :func:`_pyramid` results: per scale (VID map, VIND map, gain map)."""
    out = []
    for win, (x, mu1, e11), (y, mu2, e22) in zip(_windows(), ref, dist, strict=True):
        s1 = e11 - mu1 * mu1
        s2 = e22 - mu2 * mu2
        s12 = gaussian_valid(win, x * y) - mu1 * mu2
        s1[s1 < 0] = 0
        s2[s2 < 0] = 0
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        small1 = s1 < 1e-10
        g[small1] = 0
        sv[small1] = s2[small1]
        s1[small1] = 0
        small2 = s2 < 1e-10
        g[small2] = 0
        sv[small2] = 0
        neg = g < 0
        sv[neg] = s2[neg]
        g[neg] = 0
        sv[sv <= 1e-10] = 1e-10
        vid = np.log10(1 + g * g * s1 / (sv + _SIGMA_NSQ))
        vind = np.log10(1 + s1 / _SIGMA_NSQ)
        out.append((vid, vind, g))
    return out


def viff(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """MEFB's VIF (Han et al.'s VIFF) of (a, b, fused), grey 0..255."""
    pyr_f = _pyramid(fused)  # the fused image's half of the moments serves both sources
    s_a, s_b = _scales(_pyramid(a), pyr_f), _scales(_pyramid(b), pyr_f)
    total = 0.0
    for p, (vid1, vind1, g1), (vid2, vind2, g2) in zip(_P, s_a, s_b, strict=True):
        take_a = g1 < g2
        vid = np.where(take_a, vid1, vid2)
        vind = np.where(take_a, vind1, vind2)
        total += p * float((vid + _C).sum()) / float((vind + _C).sum())
    return total


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="vif@mefb",
        function=viff,
        formula="Han, Cai, Cao & Xu 2013, Inf. Fusion 14(2):127-135; VIF of Sheikh & Bovik 2006, "
        "doi:10.1109/TIP.2005.859378",
        reference="xingchenzhang/MEFB:metrics/metricsVIF.m",
        inputs="float",
        colour="mean",
        higher_is_better=True,
        note="VIFF (fusion VIF of Han et al.), 4 scales, sigma_n^2 = 0.005*255^2, weights (1, 0, 0.15, 1)/2.15.",
    ),
)
