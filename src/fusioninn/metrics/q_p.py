"""Q_P: the Piella-Heijmans fusion quality index (un-weighted variant, sw = 1).

G. Piella and H. Heijmans, "A new quality metric for image fusion", Proc. IEEE ICIP 2003, vol. 3,
pp. 173-176, doi:10.1109/ICIP.2003.1247209.

Q_P = mean over windows w of  lambda(w) Q0(A, F | w) + (1 - lambda(w)) Q0(B, F | w),
lambda(w) = s(A|w) / (s(A|w) + s(B|w)) with the local variance as saliency s. As in the MATLAB toolbox
(``metricPeilla.m``) Q0 is the SSIM map of Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5)
and constants K = (0.01, 0.03), L = 255, rather than the constant-free universal quality index of the
2003 paper, which is 0/0 on flat background.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_protocol, triplet
from ._filters import fusion_ssim_maps

__all__ = ["q_p"]

_FLAT = 1e-7


def q_p(a: Any, b: Any, fused: Any, protocol: str = "full") -> float:
    """Piella-Heijmans Q (sw = 1) of ``fused`` with respect to sources ``a`` and ``b``.

    Images are 8-bit (floats quantised to 0..255), as the reference evaluation read them.

    Args:
        a, b, fused: 2-D images of one shape, uint8 or float in [0, 1] (NumPy or torch).
        protocol: ``"full"`` - the formula over every valid 11x11 window position.
            ``"reference"`` - ``metricPeilla.m`` as it runs: its ``ssim_index`` calls see only the 11x11
            window centres around the image centre (rows/cols H//2-5 .. H//2+5).

    Returns:
        A float in [-1, 1]; 1 when ``fused == a == b``. Where both source variances are 0, 0.5 is added
        to both (the toolbox's rule), so lambda = 1/2 and the value stays defined.
    """
    reference = check_protocol(protocol) == "reference"
    qa, qb, qf = triplet(a, b, fused, "8bit")
    ssim_fa, ssim_fb, var_a, var_b = fusion_ssim_maps(qa, qb, qf, reference)
    if not reference:
        # E[x^2] - mu^2 leaves round-off (even negative) on flat windows; the smallest real variance of
        # an 8-bit window under this Gaussian is ~1e-5, so anything below 1e-7 is treated as exactly 0.
        var_a = np.where(var_a < _FLAT, 0.0, var_a)
        var_b = np.where(var_b < _FLAT, 0.0, var_b)
    flat = (var_a + var_b) == 0
    var_a = var_a + flat * 0.5
    var_b = var_b + flat * 0.5
    lam = var_a / (var_a + var_b)
    return float(np.mean(lam * ssim_fa + (1.0 - lam) * ssim_fb))
