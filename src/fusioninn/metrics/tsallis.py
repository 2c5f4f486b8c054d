"""TE: Tsallis-entropy fusion metrics of the Liu toolbox (``metricMI.m`` sw = 2 and 3) and MEFB.

- Cvejic, Canagarajah & Bull, "Image fusion metric based on mutual information and Tsallis entropy",
  Electronics Letters 42(11):626-627, 2006: TE = I_q(A;F) + I_q(B;F) with
  I_q(X;Y) = (1 - sum_ij p(i,j)^q / (p_X(i) p_Y(j))^(q-1)) / (1 - q), q = 1.85.
- Nava et al. (SPIE Newsroom 2007): (I_q(A;F) + I_q(B;F)) / (H(A)^q + H(B)^q + I_q(A;B)), q = 0.43137
  (``metricMI.m`` sw = 3; H the Shannon entropies of ``mutual_info.m``).

**Bug in the reference, reproduced by the ``@liu``/``@mefb`` keys:** ``tsallis.m`` builds the joint
histogram with rows indexed by the first image, then takes ``sum(h)`` (column sums: the *second* image's
marginal) as the first image's marginal and ``sum(h')`` as the second's, so each p(i, j) is divided by
p_Y(i) p_X(j) instead of p_X(i) p_Y(j); cells where that swapped product is 0 are skipped. The value is
then far from the paper's (25442 instead of about 1.5 on the phantom triplet). ``te@cvejic2006`` is the
formula as published, marginals the right way round. All work on ``normalize1``-d images (0..255).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ._matlab import joint_histogram, normalize1
from .nmi import mutual_info
from .registry import MetricSpec

__all__ = ["tsallis_mi", "te_liu", "te_cvejic", "te_nava", "VARIANTS"]

Q_CVEJIC = 1.85
Q_NAVA = 0.43137
_SURVEY = "as given in Liu et al. 2012, doi:10.1109/TPAMI.2011.109"
_CVEJIC = "Cvejic, Canagarajah & Bull 2006, Electron. Lett. 42(11):626-627; " + _SURVEY
_NAVA = "Nava, Escalante-Ramirez & Cristobal, SPIE Newsroom 2007; " + _SURVEY


def tsallis_mi(x: np.ndarray, y: np.ndarray, q: float, swapped_marginals: bool) -> float:
    """Tsallis mutual information of two images of integers 0..255.

    ``swapped_marginals=True`` is ``tsallis.m`` as written (see the module docstring).
    """
    h = joint_histogram(x, y)
    p_x, p_y = h.sum(1), h.sum(0)
    prod = np.outer(p_y, p_x) if swapped_marginals else np.outer(p_x, p_y)
    keep = prod != 0
    total = float((h[keep] ** q / prod[keep] ** (q - 1.0)).sum())
    return (1.0 - total) / (1.0 - q)


def _normalised(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, ...]:
    return normalize1(a), normalize1(b), normalize1(f)


def te_liu(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``metricMI.m`` sw = 2 / MEFB ``metricsTE.m`` as written (swapped marginals, q = 1.85)."""
    a, b, f = _normalised(a, b, fused)
    return tsallis_mi(a, f, Q_CVEJIC, True) + tsallis_mi(b, f, Q_CVEJIC, True)


def te_cvejic(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """Cvejic et al. (2006) as published: I_q(A;F) + I_q(B;F), q = 1.85, true marginals."""
    a, b, f = _normalised(a, b, fused)
    return tsallis_mi(a, f, Q_CVEJIC, False) + tsallis_mi(b, f, Q_CVEJIC, False)


def te_nava(a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> float:
    """``metricMI.m`` sw = 3 as written (Nava's q = 0.43137, the swapped marginals of ``tsallis.m``)."""
    a, b, f = _normalised(a, b, fused)
    num = tsallis_mi(a, f, Q_NAVA, True) + tsallis_mi(b, f, Q_NAVA, True)
    _, h_a, h_b = mutual_info(a, b)
    return num / (h_a**Q_NAVA + h_b**Q_NAVA + tsallis_mi(a, b, Q_NAVA, True))


_BUG = (
    "Reproduces tsallis.m's swapped marginals (p(i,j) divided by p_Y(i)p_X(j)); the published formula is te@cvejic2006."
)

# Every Tsallis variant: float inputs (normalize1 rounds them to 0..255), higher is better.
_te_key = partial(MetricSpec, inputs="float", higher_is_better=True)

VARIANTS: tuple[MetricSpec, ...] = (
    _te_key(
        key="te@liu",
        function=te_liu,
        formula=_CVEJIC,
        reference="zhengliu6699/imageFusionMetrics:metricMI.m (sw=2) + tsallis.m",
        colour="grey",
        note="q = 1.85 on normalize1-d images. " + _BUG,
    ),
    _te_key(
        key="te@mefb",
        function=te_liu,
        formula=_CVEJIC,
        reference="xingchenzhang/MEFB:metrics/metricsTE.m",
        colour="mean",
        note="Alias of te@liu (MEFB copied metricMI.m sw=2 and tsallis.m), averaged over colour channels. " + _BUG,
    ),
    _te_key(
        key="te@cvejic2006",
        function=te_cvejic,
        formula=_CVEJIC,
        reference="none (corrected te@liu: marginals the right way round)",
        colour="grey",
        note="The published Tsallis MI sum, q = 1.85, on normalize1-d images.",
    ),
    _te_key(
        key="te_nava@liu",
        function=te_nava,
        formula=_NAVA,
        reference="zhengliu6699/imageFusionMetrics:metricMI.m (sw=3) + tsallis.m",
        colour="grey",
        note="(I_q(A;F)+I_q(B;F))/(H(A)^q+H(B)^q+I_q(A;B)), q = 0.43137; tsallis.m's swapped marginals "
        "reproduced. The Liu toolbox's fusionAssess.m labels this Q_TE.",
    ),
)
