"""Correlation-based fusion scores: SCD (sum of the correlations of differences) and CC.

- SCD: V. Aslantas and E. Bendes, "A new image quality metric for image fusion: the sum of the
  correlations of differences", AEU - Int. J. Electron. Commun. 69(12):1890-1896, 2015,
  doi:10.1016/j.aeue.2015.09.004. SCD = corr(F - B, A) + corr(F - A, B), Pearson correlation over the
  whole image (MATLAB ``corr2``).
- CC: the mean of the Pearson correlations corr(A, F) and corr(B, F), as in e.g. J. Ma, Y. Ma and C. Li,
  "Infrared and visible image fusion methods and applications: a survey", Information Fusion 45:153-178,
  2019, doi:10.1016/j.inffus.2018.02.004.

Both match the files of Linfeng-Tang/Evaluation-for-Image-Fusion (``analysis_SCD.m``, ``CC_evaluation.m``)
behind many infrared-visible papers (SeAFusion and its followers), on 0..255 float images.
``CC_evaluation.m`` subtracts mean(A) instead of mean(B) in the numerator of corr(B, F); because the
centred F sums to zero this changes nothing but round-off, and the code's form is kept. A constant image
(correlation 0/0, NaN in MATLAB) gives correlation 0 here.
"""

from __future__ import annotations

import numpy as np

from .registry import MetricSpec

__all__ = ["corr2", "scd", "cc", "VARIANTS"]

_TANG = "Linfeng-Tang/Evaluation-for-Image-Fusion:Evaluation/"


def corr2(x: np.ndarray, y: np.ndarray) -> float:
    """MATLAB's ``corr2``: Pearson correlation of two same-sized arrays; 0 if either is constant."""
    xc = x - x.mean()
    return _centred_ratio(xc, xc, y - y.mean())


def _centred_ratio(num_x: np.ndarray, xc: np.ndarray, yc: np.ndarray) -> float:
    """sum(num_x yc) / sqrt(sum(xc^2) sum(yc^2)), 0 if the denominator is 0 (``num_x = xc``: corr2)."""
    den = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    return float((num_x * yc).sum() / den) if den > 0 else 0.0


def scd(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``analysis_SCD.m``: corr2(F - B, A) + corr2(F - A, B)."""
    return corr2(f - b, a) + corr2(f - a, b)


def cc(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``CC_evaluation.m``: (r_AF + r_BF) / 2, with the code's mean(A) in r_BF's numerator."""
    fc = f - f.mean()
    r_af = corr2(a, f)
    r_bf = _centred_ratio(b - a.mean(), b - b.mean(), fc)
    return (r_af + r_bf) / 2.0


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="scd@tang",
        function=scd,
        formula="Aslantas & Bendes 2015, doi:10.1016/j.aeue.2015.09.004",
        reference=_TANG + "analysis_SCD.m",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="corr2(F-B, A) + corr2(F-A, B) on 0..255 values; range [-2, 2]; 0 for a constant image.",
    ),
    MetricSpec(
        key="cc@tang",
        function=cc,
        formula="mean Pearson correlation with the sources, e.g. Ma, Ma & Li 2019, doi:10.1016/j.inffus.2018.02.004",
        reference=_TANG + "CC_evaluation.m",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="(corr(A,F) + corr(B,F)) / 2; the file's mean(A) in corr(B,F) is harmless (kept).",
    ),
)
