"""Q_SF: Zheng et al.'s spatial-frequency fusion metric (Liu toolbox ``metricZheng.m``).

Y. Zheng, E. A. Essock, B. C. Hansen and A. M. Haun, "A new metric based on extended spatial frequency
and its application to DWT based fusion algorithms", Information Fusion 8(2):177-192, 2007.

Spatial frequency of F from the four first differences (rows, columns, and the two diagonals weighted by
sqrt(2)/2), SF_F = sqrt(RF^2 + CF^2 + MDF^2 + SDF^2), against a reference SF_R built from the larger of
the two sources' absolute differences at each pixel; Q_SF = (SF_F - SF_R) / SF_R. Every sum is divided
by H W (the toolbox's normalisation, not the number of differences). 0 is ideal: negative means F lost
detail, positive that it added some. ``qsf@liu`` returns the toolbox's signed value; its catalogue entry
says ``higher_is_better=False`` in the sense "ideal 0, rank by |value|" (values are almost always
negative, where closer to 0 means higher).
"""

from __future__ import annotations

import numpy as np

from .registry import MetricSpec

__all__ = ["qsf_liu", "VARIANTS"]

_WD = np.sqrt(2.0) / 2.0


def _diffs(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row, column, main-diagonal and secondary-diagonal differences as metricZheng.m takes them."""
    return (
        x[:, :-1] - x[:, 1:],
        x[:-1, :] - x[1:, :],
        x[1:, 1:] - x[:-1, :-1],
        x[1:, :-1] - x[:-1, 1:],
    )


def qsf_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``metricZheng.m``'s value (SF_F - SF_R) / SF_R, signed."""
    n = fused.size
    weights = (1.0, 1.0, _WD, _WD)
    sf_f = np.sqrt(sum(w * float((d * d).sum()) / n for w, d in zip(weights, _diffs(fused), strict=True)))
    ref = [np.maximum(np.abs(da), np.abs(db)) for da, db in zip(_diffs(a), _diffs(b), strict=True)]
    sf_r = np.sqrt(sum(w * float((d * d).sum()) / n for w, d in zip(weights, ref, strict=True)))
    return float((sf_f - sf_r) / sf_r) if sf_r > 0 else 0.0


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qsf@liu",
        function=qsf_liu,
        formula="Zheng, Essock, Hansen & Haun 2007, Inf. Fusion 8(2):177-192; as given in Liu et al. 2012, "
        "doi:10.1109/TPAMI.2011.109",
        reference="zhengliu6699/imageFusionMetrics:metricZheng.m",
        inputs="float",
        colour="grey",
        higher_is_better=False,
        note="(SF_F - SF_R)/SF_R, signed as the toolbox returns it; ideal 0 (rank by |value|).",
    ),
)
