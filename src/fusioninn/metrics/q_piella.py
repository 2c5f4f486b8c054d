"""Piella-Heijmans fusion quality indices as the Liu toolbox (``metricPeilla.m``) and MEFB compute them.

G. Piella and H. Heijmans, "A new quality metric for image fusion", Proc. ICIP 2003, vol. 3, pp. 173-176,
doi:10.1109/ICIP.2003.1247209. With SSIM maps Q0 (Wang's SSIM, 11x11 Gaussian, L = 255, valid windows)
and the local variances of A and B, lambda = var_A / (var_A + var_B) (0.5 added to both where the sum is
exactly 0):

- ``qs@liu`` (sw = 1, Q_S): mean over windows of lambda Q0(A, F) + (1 - lambda) Q0(B, F). The same formula
  as our ``q_p`` (``full``), which also treats variances below 1e-7 as 0; ``qs@liu`` does not, as the
  toolbox does not, so lambda on flat windows is set by round-off (see ``docs/metrics.md``).
  ``piella@fusioninn`` is the FusionINN copy of it (centre windows only): our ``q_p`` ``reference``, the
  metric the FusionINN paper calls **Q_P**. MEFB's ``qp`` is a different metric (Zhao's phase congruency,
  ``qp@mefb``).
- ``qw@liu`` (sw = 2, Q_W): sum of c(w) [lambda Q0(A, F) + (1 - lambda) Q0(B, F)] with the saliency weight
  c(w) = max(var_A, var_B) / sum max(var_A, var_B).
- ``qw@mefb``: MEFB's ``metricsQw.m`` fixes ``sw = 3``, i.e. Piella's *edge-dependent* variant computed
  on the edge-strength images (|Prewitt| gradient magnitudes of A, B, F) with the Q_W weighting, and
  returns that Q_W(A', B', F') alone (alpha = 1). The Liu toolbox's sw = 3 (Q_E = Q_S Q_W(edges)) does not
  run: it multiplies by ``Q``, which is only defined in case 1 (Octave: "'Q' undefined"); ``qe@piella``
  offers Q_S(A, B, F) x Q_W(A', B', F') as the paper defines Q_E with alpha = 1.
"""

from __future__ import annotations

import numpy as np

from ._filters import fspecial_gaussian, fusion_ssim_maps
from ._matlab import filter2_same, flat_window_variance, memo_arrays
from .q_p import q_p
from .registry import MetricSpec

__all__ = ["qs_liu", "qw_liu", "qw_mefb", "qe_piella", "piella_fusioninn", "VARIANTS"]

# metricPeilla.m's edge filters (Prewitt), applied with filter2 'same'.
_PREWITT_X = np.array([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
_PREWITT_Y = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]])


def _ssim_parts(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, ...]:
    """SSIM maps of (A, F), (B, F) and the variances of A, B as ssim_index.m computes them (L = 255).

    Flat windows' variances, which decide lambda there, are recomputed in Octave's summation order.
    """
    map_af, map_bf, var_a, var_b = fusion_ssim_maps(a, b, f, reference=False)
    window = fspecial_gaussian(11, 1.5)
    return map_af, map_bf, flat_window_variance(window, a, var_a), flat_window_variance(window, b, var_b)


@memo_arrays()
def _parts(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-window fusion quality and the saliency max(var_A, var_B), as metricPeilla.m builds them."""
    map_af, map_bf, var_a, var_b = _ssim_parts(a, b, f)
    flat = (var_a + var_b) == 0
    var_a = var_a + 0.5 * flat
    var_b = var_b + 0.5 * flat
    lam = var_a / (var_a + var_b)
    return lam * map_af + (1.0 - lam) * map_bf, np.maximum(var_a, var_b)


def qs_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Q_S: ``metricPeilla.m`` sw = 1 over every valid window."""
    q, _ = _parts(a, b, fused)
    return float(q.mean())


def qw_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Q_W: ``metricPeilla.m`` sw = 2, saliency-weighted."""
    q, c = _parts(a, b, fused)
    return float((c / c.sum() * q).sum())


def _edges(x: np.ndarray) -> np.ndarray:
    gx, gy = filter2_same(_PREWITT_X, x), filter2_same(_PREWITT_Y, x)
    return np.sqrt(gx * gx + gy * gy)


def qw_mefb(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """MEFB ``metricsQw.m``: Q_W of the Prewitt edge-strength images (its sw = 3 branch, alpha = 1)."""
    return qw_liu(_edges(a), _edges(b), _edges(fused))


def qe_piella(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Q_E = Q_S(A, B, F) Q_W(A', B', F') (alpha = 1), what metricPeilla.m's broken sw = 3 intends."""
    return qs_liu(a, b, fused) * qw_mefb(a, b, fused)


def piella_fusioninn(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """The FusionINN copy of metricPeilla.m sw = 1 (centre windows): ``q_p(..., "reference")``."""
    return q_p(*(x.astype(np.uint8) for x in (a, b, fused)), protocol="reference")


_FORMULA = "Piella & Heijmans 2003, doi:10.1109/ICIP.2003.1247209"
_NOT_ZHAO = " Not MEFB's qp (Zhao's phase-congruency metric)."

VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qs@liu",
        function=qs_liu,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricPeilla.m (sw=1) + ssim_index.m",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Piella's Q (Q_S), every valid 11x11 window; flat windows' lambda follows round-off as in the "
        "toolbox (q_p full thresholds it)." + _NOT_ZHAO,
    ),
    MetricSpec(
        key="piella@fusioninn",
        function=piella_fusioninn,
        formula=_FORMULA,
        reference="nish03/FusionINN:FusionMetrics/metricPeilla.m (sw=1) + ssim_index.m",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="The FusionINN paper's Q_P (= q_p reference): centre 11x11 windows only, from the swapped "
        "imfilter in FusionINN's ssim_index.m." + _NOT_ZHAO,
    ),
    MetricSpec(
        key="qw@liu",
        function=qw_liu,
        formula=_FORMULA,
        reference="zhengliu6699/imageFusionMetrics:metricPeilla.m (sw=2) + ssim_index.m",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Weighted fusion quality index Q_W, weights max(var_A, var_B).",
    ),
    MetricSpec(
        key="qw@mefb",
        function=qw_mefb,
        formula=_FORMULA,
        reference="xingchenzhang/MEFB:metrics/metricsQw.m",
        inputs="float",
        colour="mean",
        higher_is_better=True,
        note="MEFB's Qw runs the edge-dependent branch (sw = 3): Q_W of the Prewitt edge-strength images, "
        "not Q_W of the images (qw@liu).",
    ),
    MetricSpec(
        key="qe@piella",
        function=qe_piella,
        formula=_FORMULA,
        reference="none (metricPeilla.m sw=3 fails: 'Q' undefined)",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="Edge-dependent index Q_E = Q_S x Q_W(edge images), alpha = 1.",
    ),
)
