"""Q_SSIM: mean structural similarity of the fused image with each source.

Q_SSIM = (SSIM(A, F) + SSIM(B, F)) / 2, with SSIM of Wang, Bovik, Sheikh & Simoncelli (2004), "Image
quality assessment: from error visibility to structural similarity", IEEE TIP 13(4):600-612,
doi:10.1109/TIP.2003.819861.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._checks import check_protocol, triplet
from ._filters import ssim_map_255
from .ssim import ssim

__all__ = ["q_ssim", "ssim_float"]


def ssim_float(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM of matching float images in [0, 1], stacked (N, H, W) -> (N,), as pytorch-msssim computes it.

    11x11 Gaussian window (sigma 1.5), K = (0.01, 0.03), data range 1, valid windows only; evaluated in
    float64 by :func:`fusioninn.metrics.ssim.ssim`.
    """
    tx = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))[:, None]
    ty = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))[:, None]
    with torch.no_grad():
        return ssim(tx, ty, data_range=1.0, reduction="none").numpy()


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
        return float(ssim_float(np.stack([fa, fb]), np.stack([ff, ff])).mean())
    qa, qb, qf = triplet(a, b, fused, "8bit")
    s_a = ssim_map_255(qa, qf, reference=True)[0].mean()
    s_b = ssim_map_255(qb, qf, reference=True)[0].mean()
    return float((s_a + s_b) / 2.0)
