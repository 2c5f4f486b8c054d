"""Chen-Varshney Q_CV as VIFB runs it (``metricsQcv.m``, from the Liu toolbox's ``metricChen.m``).

H. Chen and P. K. Varshney, "A human perception inspired quality metric for image fusion based on
regional information", Information Fusion 8(2):193-207, 2007, doi:10.1016/j.inffus.2005.10.001.
Lower is better (a weighted distortion).

Steps as in the MATLAB file: ``normalize1`` of each image; Sobel magnitudes (``filter2`` 'same', zero
padding); region saliency lambda = sum over each 16x16 block of G^5; the differences A - F and B - F
filtered in the frequency domain with the Mannos-Sakrison CSF 2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1)
on the ``freqspace`` grid scaled by W/8 and H/8; D = the mean over each block of the filtered difference
squared; Q = sum(lambda_A D_A + lambda_B D_B) / sum(lambda_A + lambda_B).

``blkproc`` (which Octave lacks) is written out from MATLAB's documentation: distinct 16x16 blocks, the
image zero-padded at the bottom and right to a multiple of 16, so the partial edge blocks are averaged
over 256 pixels including the padding. The filtered difference is complex for even sides (see
:mod:`fusioninn.metrics.vifb_qcb`) and the code squares it without taking a modulus; the result is
complex with a tiny imaginary part and we return its real part, which is what a real-valued
``dlmwrite`` stores.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .registry import MetricSpec
from .vifb_qcb import csf_filter, freqspace, normalize1

__all__ = ["blkproc_sum", "qcv_vifb", "VARIANTS"]

_BLOCK = 16
_ALPHA = 5
_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_SOBEL_Y = _SOBEL_X.T


def blkproc_sum(x: np.ndarray, block: int = _BLOCK) -> np.ndarray:
    """Sums over distinct block x block tiles of the last two axes, zero-padded to a multiple of block."""
    h, w = x.shape[-2:]
    ph, pw = -h % block, -w % block
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)])
    hb, wb = x.shape[-2] // block, x.shape[-1] // block
    return x.reshape(*x.shape[:-2], hb, block, wb, block).sum(axis=(-3, -1))


def qcv_vifb(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsQcv.m`` on one channel (0..255 grey values)."""
    h, w = f.shape
    imgs = np.stack([normalize1(a), normalize1(b), normalize1(f)])
    gx = ndimage.correlate(imgs, _SOBEL_X[None], mode="constant")
    gy = ndimage.correlate(imgs, _SOBEL_Y[None], mode="constant")
    g = np.sqrt(gx * gx + gy * gy)
    lam = blkproc_sum(g[:2] ** _ALPHA)
    u = freqspace(w) * (w / 8.0)
    v = freqspace(h) * (h / 8.0)
    r = np.sqrt(u[None, :] ** 2 + v[:, None] ** 2)
    theta_m = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    diff = csf_filter(imgs[:2] - imgs[2], theta_m)
    d = blkproc_sum(diff * diff) / (_BLOCK * _BLOCK)
    den = lam.sum()
    if den == 0:  # no edge in either source: the code divides by zero
        return 0.0
    return float(((lam * d).sum() / den).real)


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qcv@vifb",
        function=qcv_vifb,
        formula="Chen & Varshney 2007, doi:10.1016/j.inffus.2005.10.001",
        reference="xingchenzhang/VIFB:metrics/metricsQcv.m",
        inputs="8bit",
        colour="mean",
        higher_is_better=False,
        note="normalize1, 16x16 blocks with blkproc's zero padding, Mannos-Sakrison CSF on freqspace scaled "
        "by W/8, H/8, real part of the complex result; 0 where the sources have no edges (the code: NaN).",
    ),
)
