"""Q_SSIM: mean structural similarity of the fused image with each source.

Q_SSIM = (SSIM(A, F) + SSIM(B, F)) / 2, with SSIM of Wang, Bovik, Sheikh & Simoncelli (2004), "Image
quality assessment: from error visibility to structural similarity", IEEE TIP 13(4):600-612,
doi:10.1109/TIP.2003.819861.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_protocol, triplet
from ._filters import fusion_ssim_maps, ssim_map_255

__all__ = ["q_ssim", "ssim_float"]


def ssim_float(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM of matching float images in [0, 1], stacked (N, H, W) -> (N,), as pytorch-msssim computes it.

    11x11 Gaussian window (sigma 1.5), K = (0.01, 0.03), data range 1, valid windows only, variances as
    E[x^2] - mu^2; float64 NumPy (the same numbers as :func:`fusioninn.metrics.ssim.ssim` in float64, to
    ~1e-15, and about 3x faster on one core).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return ssim_map_255(x, y, reference=False, data_range=1.0)[0].mean(axis=(-2, -1))


def q_ssim(a: Any, b: Any, fused: Any, protocol: str = "full") -> float:
    """Mean SSIM of the fused image against each source.

    Args:
        a, b: the two source images, 2-D, uint8 or float in [0, 1] (NumPy or torch).
        fused: the fused image, same shape.
        protocol: ``"full"`` - the published Q_SSIM: pytorch-msssim SSIM (11x11 Gaussian, sigma 1.5,
            data range 1, all valid windows) on the float images (8-bit inputs divided by 255).
            ``"reference"`` - the MATLAB toolbox's ``ssim_index.m`` on the 8-bit images (L = 255), which
            because of swapped ``imfilter`` arguments only sees the 11x11 window centres around the image
            centre (rows/cols H//2-5 .. H//2+5).

    Returns:
        A float in [-1, 1]; 1 for ``fused == a == b``. Constant images are well defined (the SSIM
        constants C1, C2 keep the ratios finite).

    Example:
        >>> import numpy as np
        >>> x = np.linspace(0, 1, 32 * 32).reshape(32, 32)
        >>> round(q_ssim(x, x, x), 6)
        1.0
    """
    if check_protocol(protocol) == "full":
        fa, fb, ff = triplet(a, b, fused, "unit")
        s_a, s_b, _, _ = fusion_ssim_maps(fa, fb, ff, reference=False, data_range=1.0)
    else:
        qa, qb, qf = triplet(a, b, fused, "8bit")
        s_a, s_b, _, _ = fusion_ssim_maps(qa, qb, qf, reference=True)
    return float((s_a.mean() + s_b.mean()) / 2.0)
