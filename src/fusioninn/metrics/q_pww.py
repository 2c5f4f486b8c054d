"""Q_M: the multiscale (Haar wavelet) fusion metric of P.-W. Wang and B. Liu (Liu toolbox ``metricPWW.m``).

P.-W. Wang and B. Liu, "A novel image fusion metric based on multi-scale analysis", Proc. ICSP 2008,
pp. 965-968; as given in Z. Liu et al., "Objective assessment of multiresolution image fusion algorithms
for context enhancement in night vision: a comparative study", IEEE TPAMI 34(1):94-109, 2012,
doi:10.1109/TPAMI.2011.109 (the Liu toolbox's paper).

Two levels of a Haar wavelet pyramid (matlabPyrTools ``buildWpyr(im, 2, 'haar')``, reflect1 edges; for
the Haar pair that only matters for an odd-sized level, whose last row/column is dropped). Per level,
with the horizontal, vertical and diagonal bands H, V, D: edge preservation
EP_SF = exp(-|H_S - H_F|) + exp(-|V_S - V_F|) + exp(-|D_S - D_F|) (a value in 0..3, as the toolbox writes
it: the three terms are summed, not averaged), weights W_S = H_S^2 + V_S^2 + D_S^2, and
Q_l = sum(EP_AF W_A + EP_BF W_B) / sum(W_A + W_B); Q_M = Q_1^(2/3) Q_2^(1/3).
"""

from __future__ import annotations

import numpy as np

from .registry import MetricSpec

__all__ = ["haar_bands", "qm_liu", "VARIANTS"]

_R2 = np.sqrt(2.0)


def _pairs(x: np.ndarray, axis: int, high: bool) -> np.ndarray:
    """corrDn with the Haar low-pass [1, 1]/sqrt2 or high-pass [-1, 1]/sqrt2, step 2 from the 2nd sample."""
    n = x.shape[axis] // 2
    first = np.take(x, np.arange(0, 2 * n, 2), axis=axis)
    second = np.take(x, np.arange(1, 2 * n, 2), axis=axis)
    return (second - first) / _R2 if high else (first + second) / _R2


def haar_bands(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One level of buildWpyr(..., 'haar'): (horizontal lohi, vertical hilo, diagonal hihi, lowpass lolo)."""
    lo, hi = _pairs(x, 0, False), _pairs(x, 0, True)
    return _pairs(hi, 1, False), _pairs(lo, 1, True), _pairs(hi, 1, True), _pairs(lo, 1, False)


def qm_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``metricPWW.m`` of (a, b, fused) on the 0..255 grey scale."""
    q = []
    for _ in range(2):
        ba, bb, bf = haar_bands(a), haar_bands(b), haar_bands(fused)
        num = 0.0
        den = 0.0
        for bs in (ba, bb):
            w = bs[0] ** 2 + bs[1] ** 2 + bs[2] ** 2
            ep = sum(np.exp(-np.abs(bs[k] - bf[k])) for k in range(3))
            num += float((ep * w).sum())
            den += float(w.sum())
        q.append(num / den if den > 0 else 0.0)
        a, b, fused = ba[3], bb[3], bf[3]
    return float(q[0] ** (2 / 3) * q[1] ** (1 / 3))


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qm@liu",
        function=qm_liu,
        formula="Wang & Liu 2008, Proc. ICSP pp. 965-968; as given in Liu et al. 2012, doi:10.1109/TPAMI.2011.109",
        reference="zhengliu6699/imageFusionMetrics:metricPWW.m + matlabPyrTools buildWpyr",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Haar pyramid, 2 levels; EP sums three exp terms (range 0..3, not 0..1); Q_1^(2/3) Q_2^(1/3).",
    ),
)
