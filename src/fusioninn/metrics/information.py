"""Histogram-based scores on 8-bit images: entropy (EN), mutual information (MI), standard deviation (SD).

- EN: Shannon entropy of the 256-bin grey-level histogram of the fused image, in bits (C. E. Shannon,
  "A mathematical theory of communication", Bell Syst. Tech. J. 27:379-423, 1948,
  doi:10.1002/j.1538-7305.1948.tb01338.x).
- MI: MI(A, F) + MI(B, F) from 256 x 256 joint histograms, in bits (G. Qu, D. Zhang and P. Yan,
  "Information measure for performance of image fusion", Electronics Letters 38(7):313-315, 2002,
  doi:10.1049/el:20020212).
- SD: population standard deviation of the fused image's grey values on the 0..255 scale.

Every score here works on the 8-bit image (floats quantised with floor(255 x + 0.5)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_8bit, triplet
from .registry import MetricSpec

__all__ = ["entropy", "mutual_information", "mutual_information_pair", "standard_deviation"]


def _entropy_bits(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum()) + 0.0  # no -0.0


def entropy(fused: Any) -> float:
    """Shannon entropy (bits) of the 256-bin histogram of an 8-bit image; 0 for a constant image."""
    x = as_8bit(fused, "fused").astype(np.int64)
    hist = np.bincount(x.ravel(), minlength=256).astype(np.float64)
    return _entropy_bits(hist / hist.sum())


def mutual_information_pair(x8: np.ndarray, y8: np.ndarray) -> float:
    """Mutual information (bits) of two 8-bit images given as arrays of integers 0..255."""
    xi = np.asarray(x8, dtype=np.int64)
    yi = np.asarray(y8, dtype=np.int64)
    joint = np.bincount((xi * 256 + yi).ravel(), minlength=256 * 256).astype(np.float64)
    joint = (joint / joint.sum()).reshape(256, 256)
    mi = _entropy_bits(joint.sum(1)) + _entropy_bits(joint.sum(0)) - _entropy_bits(joint)
    return max(mi, 0.0)  # round-off can leave -1e-16 for independent images


def mutual_information(a: Any, b: Any, fused: Any) -> float:
    """MI(a, fused) + MI(b, fused) in bits (Qu et al. 2002), from 8-bit histograms; >= 0."""
    qa, qb, qf = triplet(a, b, fused, "8bit", min_side=1)
    return mutual_information_pair(qa, qf) + mutual_information_pair(qb, qf)


def standard_deviation(fused: Any) -> float:
    """Population standard deviation of the 8-bit grey values (0..255 scale); 0 for a constant image."""
    return float(np.std(as_8bit(fused, "fused")))


def _mi_qu(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    return mutual_information_pair(a, f) + mutual_information_pair(b, f)


def _en_shannon(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    hist = np.bincount(f.astype(np.int64).ravel(), minlength=256).astype(np.float64)
    return _entropy_bits(hist / hist.sum())


def _sd_numpy(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    return float(np.std(f))


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="mi@qu",
        function=_mi_qu,
        formula="Qu, Zhang & Yan 2002, doi:10.1049/el:20020212; MI(A,F) + MI(B,F)",
        reference="this repository: src/fusioninn/metrics/information.py (mutual_information)",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="In bits, 256x256 joint histograms of the raw 8-bit values. mi@vifb min-max normalises each "
        "image first and uses the natural logarithm.",
    ),
    MetricSpec(
        key="en@shannon",
        function=_en_shannon,
        formula="Shannon 1948, doi:10.1002/j.1538-7305.1948.tb01338.x; entropy of the fused image",
        reference="this repository: src/fusioninn/metrics/information.py (entropy)",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="Bits, 256-bin histogram. Equals en@vifb on grey images (VIFB averages over RGB channels).",
    ),
    MetricSpec(
        key="sd@fusioninn",
        function=_sd_numpy,
        formula="population standard deviation of the fused image (as cited by VIFB: Rao 1997, "
        "doi:10.1088/0957-0233/8/4/002)",
        reference="this repository: src/fusioninn/metrics/information.py (standard_deviation)",
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note="0..255 scale. Equals sd@vifb on grey images (VIFB averages over RGB channels).",
    ),
)
