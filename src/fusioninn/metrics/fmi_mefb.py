"""FMI as MEFB computes it (``fmi@mefb``): Haghighat's fast FMI on **Sobel edge maps**, and its namesakes.

M. B. A. Haghighat, A. Aghagolzadeh and H. Seyedarabi, "A non-reference image fusion metric based on
mutual information of image features", Computers & Electrical Engineering 37(5):744-756, 2011,
doi:10.1016/j.compeleceng.2011.07.012; M. Haghighat and M. A. Razian, "Fast-FMI: non-reference image
fusion metric", AICT 2014, doi:10.1109/ICAICT.2014.7036000.

MEFB's ``metricsFMI.m`` is Haghighat's ``fmi.m`` called with its defaults, and its default feature is
``'edge'``: each image becomes the binary map of MATLAB's ``edge(img)`` (Sobel, automatic threshold,
thinned) before the 3x3 windowed FMI. The FusionINN evaluation called the same code with ``'none'``
(raw pixels): ``fmi@fusioninn``, our ``q_fmi`` ``reference``. The two are different numbers.

The edge maps follow GNU Octave's image package (the reference we can run): Sobel kernel / 8 with
replicated borders, squared strength gx^2 + gy^2, threshold 4 x its mean, then a pixel is an edge if its
thresholded strength is strictly greater than both horizontal neighbours or both vertical neighbours
(zeros beyond the image). MATLAB's ``edge`` thins along the gradient direction and may mark slightly
different pixels; our Octave run needed a wrapper because Octave's ``edge`` refuses doubles outside
[0, 1] (the image is scaled by 2^-8, which changes no comparison; see scripts/octave/shims/edge.m).

On binary maps most 3x3 windows are constant; two different constant windows (all 0 against all 1) are
the round-off case of ``q_fmi``: ``fmi@mefb`` scores them 1.0 as Octave's left-to-right sums do,
``fmi@haghighat2014`` (pixel feature, like ``fmi@fusioninn``) and ``fmi_edge@haghighat2014`` (edge
feature) use the exact-arithmetic 0 and compare raw windows for both sources.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import ndimage

from ._matlab import memo_arrays
from .q_fmi import q_fmi
from .registry import MetricSpec

__all__ = ["sobel_edges", "fmi_mefb", "fmi_edge_exact", "fmi_fusioninn", "fmi_pixel_exact", "VARIANTS"]

_SOBEL = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]) / 8.0


def sobel_edges(x: np.ndarray) -> np.ndarray:
    """``edge(x)`` (Sobel, default threshold, thinning) as GNU Octave's image package computes it."""
    x = np.asarray(x, dtype=np.float64)
    gy = ndimage.correlate(x, _SOBEL, mode="nearest")
    gx = ndimage.correlate(x, _SOBEL.T, mode="nearest")
    strength = gy * gy + gx * gx
    strength[strength <= 4.0 * strength.mean()] = 0.0
    padded = np.pad(strength, 1)
    centre = padded[1:-1, 1:-1]
    horizontal = (centre > padded[1:-1, :-2]) & (centre > padded[1:-1, 2:])
    vertical = (centre > padded[:-2, 1:-1]) & (centre > padded[2:, 1:-1])
    return horizontal | vertical


@memo_arrays(maxsize=6)
def _edge_map(x: np.ndarray) -> np.ndarray:
    return sobel_edges(x).astype(np.uint8)


def _edge_maps(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> list[np.ndarray]:
    return [_edge_map(x) for x in (a, b, f)]


def fmi_mefb(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """MEFB ``metricsFMI.m``: fmi.m with feature 'edge', w = 3, its quirks as in ``fmi@fusioninn``."""
    return q_fmi(*_edge_maps(a, b, fused), protocol="reference")


def fmi_edge_exact(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Edge-feature FMI with the exact reading of constant windows and raw-window shortcuts."""
    return q_fmi(*_edge_maps(a, b, fused), protocol="full")


def _as_8bit(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def fmi_fusioninn(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """FusionINN's ``fmi.m`` call (feature 'none'): ``q_fmi(..., "reference")``."""
    return q_fmi(_as_8bit(a), _as_8bit(b), _as_8bit(fused), protocol="reference")


def fmi_pixel_exact(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Pixel-feature FMI, exact arithmetic for constant windows (``q_fmi`` ``full``)."""
    return q_fmi(_as_8bit(a), _as_8bit(b), _as_8bit(fused), protocol="full")


_FORMULA = (
    "Haghighat, Aghagolzadeh & Seyedarabi 2011, doi:10.1016/j.compeleceng.2011.07.012; "
    "fast FMI: doi:10.1109/ICAICT.2014.7036000"
)
_ROUNDOFF = (
    "Two different constant windows score 1.0 (Octave's left-to-right sums; 0 in exact arithmetic); "
    "the second source's equality shortcut compares against the already rescaled fused window."
)

# Every FMI variant: the same papers, 8-bit inputs, higher is better.
_fmi_key = partial(MetricSpec, formula=_FORMULA, inputs="8bit", higher_is_better=True)

VARIANTS: tuple[MetricSpec, ...] = (
    _fmi_key(
        key="fmi@mefb",
        function=fmi_mefb,
        reference="xingchenzhang/MEFB:metrics/metricsFMI.m",
        colour="mean",
        note="Edge feature (MEFB calls fmi.m with its default 'edge'), Sobel edges as Octave's edge(); " + _ROUNDOFF,
    ),
    _fmi_key(
        key="fmi_edge@haghighat2014",
        function=fmi_edge_exact,
        reference="none (corrected fmi@mefb)",
        colour="grey",
        note="Edge-feature FMI with constant-window terms read in exact arithmetic (0) and raw windows in "
        "both equality shortcuts.",
    ),
    _fmi_key(
        key="fmi@fusioninn",
        function=fmi_fusioninn,
        reference="nish03/FusionINN:FusionMetrics/fmi.m (feature 'none')",
        colour="grey",
        note="The FusionINN paper's Q_FMI (= q_fmi reference): pixel feature. " + _ROUNDOFF,
    ),
    _fmi_key(
        key="fmi@haghighat2014",
        function=fmi_pixel_exact,
        reference="none (corrected fmi@fusioninn, = q_fmi full)",
        colour="grey",
        note="Pixel-feature FMI, constant-window terms in exact arithmetic (0), raw windows in both "
        "equality shortcuts.",
    ),
)
