"""Q_NCIE: nonlinear correlation information entropy of the sources and the fused image.

Q. Wang, Y. Shen and J. Jin, "Performance evaluation of image fusion techniques", chapter 19 in
T. Stathaki (ed.), Image Fusion: Algorithms and Applications, Academic Press, 2008, pp. 469-492,
doi:10.1016/B978-0-12-372529-5.00017-2; the NCC/NCIE definitions are from Q. Wang, Y. Shen and
J. Q. Zhang, "A nonlinear correlation measure for multivariable data set", Physica D 200(3-4):287-295,
2005, doi:10.1016/j.physd.2004.11.001.

Each image is rescaled to integers 0..255; for each pair, the nonlinear correlation coefficient is
NCC(X, Y) = H(X) + H(Y) - H(X, Y) with entropies from b = 256-bin (joint) histograms in base b. With the
eigenvalues r_i of the 3x3 matrix R = [[1, NCC_ab, NCC_af], [NCC_ab, 1, NCC_bf], [NCC_af, NCC_bf, 1]],
Q_NCIE = 1 + sum_i (r_i / 3) log_b(r_i / 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_protocol, triplet

__all__ = ["q_ncie", "ncc"]

_BINS = 256


def _rescale(x: np.ndarray) -> np.ndarray:
    """``normalize1.m``: min-max to 0..255, rounded with halves away from zero.

    The toolbox leaves an all-zero image as it is and divides by zero for any other constant image
    (its value would be NaN); we map every constant image to all zeros, so NCC with it is 0.
    """
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.zeros(x.shape, dtype=np.int64)
    # Values are >= 0, so floor(v + 0.5) is MATLAB's round (halves away from zero), not numpy's
    # round-half-to-even.
    return np.floor((x - lo) / (hi - lo) * 255.0 + 0.5).astype(np.int64)


def _entropy_base_b(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum() / np.log2(_BINS))


def ncc(x: np.ndarray, y: np.ndarray) -> float:
    """Nonlinear correlation coefficient of two integer images with values 0..255 (``NCC.m``)."""
    joint = np.bincount((x * _BINS + y).ravel(), minlength=_BINS * _BINS).astype(np.float64)
    joint /= joint.sum()
    joint = joint.reshape(_BINS, _BINS)
    return _entropy_base_b(joint.sum(1)) + _entropy_base_b(joint.sum(0)) - _entropy_base_b(joint)


def q_ncie(a: Any, b: Any, fused: Any, protocol: str = "full") -> float:
    """Nonlinear correlation information entropy of (a, b, fused).

    Both protocols compute the same thing (``metricWang.m`` already looks at the whole image): images
    8-bit, then each min-max rescaled and rounded to 0..255 (halves away from zero), 256-bin histograms.

    Args:
        a, b, fused: 2-D images of one shape, uint8 or float in [0, 1] (NumPy or torch).
        protocol: ``"full"`` or ``"reference"`` (identical results; accepted for a uniform interface).

    Returns:
        A float in [1 - log_256(3), 1] = [0.8019, 1]: the lower end when the three images are mutually
        independent (for instance all constant). Identical images give NCC = H/8 for every pair (H their
        entropy in bits), so they score 1 only when all 256 grey levels are equally frequent. Constant images are
        rescaled to all zeros (defined, where the toolbox gives NaN for non-zero constants). Eigenvalues
        of R that round-off makes slightly negative are clipped to 0, with 0 log 0 = 0.
    """
    check_protocol(protocol)
    qa, qb, qf = (_rescale(x) for x in triplet(a, b, fused, "8bit"))
    n_ab, n_af, n_bf = ncc(qa, qb), ncc(qa, qf), ncc(qb, qf)
    r = np.linalg.eigvalsh(np.array([[1.0, n_ab, n_af], [n_ab, 1.0, n_bf], [n_af, n_bf, 1.0]]))
    r = np.clip(r, 0.0, None) / 3.0
    nz = r[r > 0]
    return float(1.0 + (nz * np.log2(nz)).sum() / np.log2(_BINS))
