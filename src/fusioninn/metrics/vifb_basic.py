"""VIFB's metrics of the fused image alone and its simple source-to-fused measures, as its MATLAB files compute them.

X. Zhang, P. Ye and G. Xiao, "VIFB: A Visible and Infrared Image Fusion Benchmark", CVPR Workshops 2020,
doi:10.1109/CVPRW50498.2020.00060; code xingchenzhang/VIFB, ``metrics/metrics<Name>.m``. Every function
takes (a, b, fused) as float64 0..255 grey images (the registry's convention); VIFB's colour rule - the
metric of each RGB channel, averaged - is applied by :func:`fusioninn.metrics.compute` (``colour="mean"``),
except for the spatial frequency, whose loops read an RGB image as its channels side by side
(``colour="concat"``).

Quirks reproduced (each ``@vifb`` key), with the textbook reading noted:

- ``ag``: MATLAB's ``gradient`` (central differences inside, one-sided at the border), the sum of
  sqrt((dx^2 + dy^2) / 2) divided by (H-1)(W-1) although it runs over H x W pixels.
- ``ei``: Sobel magnitude with replicated borders (``imfilter(..., 'replicate')``), mean over pixels.
- ``sf``: row and column differences both divided by H W; for RGB the differences run across the
  channel seams of the H x 3W matrix.
- ``ce``: (CE(A, F) + CE(B, F)) / 2 with CE = sum p_s log2(p_s / p_f) over the grey levels where
  **both** histograms are non-zero (a level present only in the source is skipped, so the value is not
  the Kullback-Leibler divergence it is named after, and can be negative).
- ``mi``: each image min-max normalised and rounded to 0..255 (``int16``: halves away from zero), natural
  logarithm, MI(A, F) + MI(B, F). ``mi@qu`` is the same measure in bits on the raw values.
- ``psnr`` and ``rmse``: the "MSE" of VIFB's code is sqrt(sum of squared errors) / (H W), not the mean
  squared error, so ``psnr@vifb`` = 20 log10(255 / sqrt(MSE')) lands near 60 dB and ``rmse@vifb`` is
  that quantity itself, averaged over the two sources. ``psnr@fusioninn`` is the textbook PSNR.
- ``en`` and ``sd``: Shannon entropy (bits) of the 256-bin histogram and the population standard
  deviation, as ``en@shannon`` and ``sd@fusioninn`` on grey images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .registry import MetricSpec

__all__ = ["VARIANTS"]

_VIFB = "xingchenzhang/VIFB:metrics/"


def avg_gradient(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsAvg_gradient.m``."""
    dy, dx = np.gradient(f)  # MATLAB's gradient: same central / one-sided differences
    r, c = f.shape
    return float(np.sqrt((dx * dx + dy * dy) / 2.0).sum() / ((r - 1) * (c - 1)))


_SOBEL = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])  # fspecial('sobel')


def edge_intensity(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsEdge_intensity.m``: Sobel (correlation, replicated border) magnitude, mean."""
    gx = ndimage.correlate(f, _SOBEL, mode="nearest")
    gy = ndimage.correlate(f, _SOBEL.T, mode="nearest")
    return float(np.sqrt(gx * gx + gy * gy).mean())


def spatial_frequency(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsSpatial_frequency.m``: sqrt(RF + CF), both sums divided by H W."""
    n = f.size
    rf = float(np.square(np.diff(f, axis=1)).sum()) / n
    cf = float(np.square(np.diff(f, axis=0)).sum()) / n
    return float(np.sqrt(rf + cf))


def _hist(x: np.ndarray) -> np.ndarray:
    return np.bincount(x.astype(np.int64).ravel(), minlength=256).astype(np.float64) / x.size


def cross_entropy(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsCross_entropy.m``: mean of the two source-to-fused cross entropies (bits)."""
    pf = _hist(f)
    total = 0.0
    for s in (a, b):
        ps = _hist(s)
        both = (ps != 0) & (pf != 0)
        total += float((ps[both] * np.log2(ps[both] / pf[both])).sum())
    return total / 2.0


def entropy(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsEntropy.m``: Shannon entropy (bits) of the 256-bin histogram of floor(fused)."""
    p = _hist(np.floor(f))
    p = p[p != 0]
    return float(-(p * np.log2(p)).sum()) + 0.0


def _normalised_levels(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.zeros(x.shape, dtype=np.int64)
    return np.floor((x - lo) / (hi - lo) * 255.0 + 0.5).astype(np.int64)  # int16(): halves away from 0


def _entropy_nats(counts: np.ndarray) -> float:
    p = counts[counts != 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _mi_nats(x: np.ndarray, y: np.ndarray) -> float:
    joint = np.bincount((x * 256 + y).ravel(), minlength=65536).astype(np.float64).reshape(256, 256)
    return _entropy_nats(joint.sum(1)) + _entropy_nats(joint.sum(0)) - _entropy_nats(joint)


def mutual_information(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsMutinf.m``: MI(A, F) + MI(B, F) in nats on min-max normalised images."""
    nf = _normalised_levels(f)
    return _mi_nats(_normalised_levels(a), nf) + _mi_nats(_normalised_levels(b), nf)


def _vifb_mse(x: np.ndarray, f: np.ndarray) -> float:
    return float(np.sqrt(np.square(x - f).sum())) / x.size


def psnr(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsPsnr.m``: 20 log10(255 / sqrt((m_A + m_B) / 2)), m = sqrt(SSE) / (H W)."""
    # identical images: the code returns Inf; the floor keeps the value finite (168.1 dB at most)
    mes = max((_vifb_mse(a, f) + _vifb_mse(b, f)) / 2.0, 1e-10)
    return float(20.0 * np.log10(255.0 / np.sqrt(mes)))


def rmse(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsRmse.m``: (m_A + m_B) / 2 with m = sqrt(SSE) / (H W)."""
    return (_vifb_mse(a, f) + _vifb_mse(b, f)) / 2.0


def standard_deviation(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsVariance.m`` (despite the name): the population standard deviation of the fused image."""
    return float(np.sqrt(np.square(f - f.mean()).sum() / f.size))


def _spec(key, fn, formula, path, higher=True, colour="mean", inputs="8bit", note=""):
    return MetricSpec(
        key=key,
        function=fn,
        formula=formula,
        reference=_VIFB + path,
        inputs=inputs,
        colour=colour,
        higher_is_better=higher,
        note=note,
    )


VARIANTS: tuple[MetricSpec, ...] = (
    _spec(
        "ag@vifb",
        avg_gradient,
        "average gradient, Cui et al. 2015, doi:10.1016/j.optcom.2014.12.032",
        "metricsAvg_gradient.m",
        note="sum of sqrt((dx^2+dy^2)/2) over H x W pixels divided by (H-1)(W-1); MATLAB gradient.",
    ),
    _spec(
        "ce@vifb",
        cross_entropy,
        "cross entropy, Bulanon, Burks & Alchanatis 2009, doi:10.1016/j.biosystemseng.2009.01.016",
        "metricsCross_entropy.m",
        higher=False,
        note="Only grey levels present in both histograms are summed (not the KL divergence; may be < 0).",
    ),
    _spec(
        "ei@vifb",
        edge_intensity,
        "edge intensity (mean Sobel magnitude), as cited by VIFB: Rajalingam & Priya, Int. J. Eng. Sci. "
        "Invention 2018 (no DOI)",
        "metricsEdge_intensity.m",
        note="Replicated borders.",
    ),
    _spec(
        "en@vifb",
        entropy,
        "entropy, van Aardt 2008, doi:10.1117/1.2945910",
        "metricsEntropy.m",
        note="Bits; equals en@shannon on grey images.",
    ),
    _spec(
        "mi@vifb",
        mutual_information,
        "mutual information, Qu, Zhang & Yan 2002, doi:10.1049/el:20020212",
        "metricsMutinf.m",
        note="Nats, each image min-max normalised to 0..255 first; mi@qu is bits on raw values.",
    ),
    _spec(
        "psnr@vifb",
        psnr,
        "PSNR, Jagalingam & Hegde 2015, doi:10.1016/j.aqpro.2015.02.019",
        "metricsPsnr.m",
        inputs="float",
        note="MSE computed as sqrt(SSE)/(HW) (VIFB's code), hence ~60 dB; psnr@fusioninn is the textbook one. "
        "Floored at 1e-10 (168.1 dB for identical images, where the code gives Inf).",
    ),
    _spec(
        "rmse@vifb",
        rmse,
        "RMSE, Jagalingam & Hegde 2015, doi:10.1016/j.aqpro.2015.02.019",
        "metricsRmse.m",
        higher=False,
        inputs="float",
        note="sqrt(SSE)/(HW) averaged over both sources (not the root mean squared error).",
    ),
    _spec(
        "sf@vifb",
        spatial_frequency,
        "spatial frequency, Eskicioglu & Fisher 1995, doi:10.1109/26.477498",
        "metricsSpatial_frequency.m",
        colour="concat",
        note="RGB read as the H x 3W matrix [R G B] (differences across the channel seams count).",
    ),
    _spec(
        "sd@vifb",
        standard_deviation,
        "standard deviation, as cited by VIFB: Rao 1997, doi:10.1088/0957-0233/8/4/002",
        "metricsVariance.m",
        note="Population SD; equals sd@fusioninn on grey images.",
    ),
)
