"""Decomposition scores: how closely the decomposed sources match the originals.

SSIM (Wang et al. 2004, doi:10.1109/TIP.2003.819861, as pytorch-msssim computes it: 11x11 Gaussian,
sigma 1.5, data range 1) and PSNR (data range 1) of x1_hat vs x1 and x2_hat vs x2, on float [0, 1]
images - the decomposition figures of FusionINN (Kumar et al., arXiv:2403.15769).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import MIN_SIDE, as_unit_float, check_same_shape
from .psnr import psnr_pair
from .q_ssim import ssim_float

__all__ = ["decomposition_scores"]


def decomposition_scores(x1: Any, x2: Any, x1_hat: Any, x2_hat: Any) -> dict[str, float]:
    """SSIM and PSNR of each decomposed source against its original.

    Returns ``{"dec_ssim_1", "dec_ssim_2", "dec_psnr_1", "dec_psnr_2"}``; PSNR capped at 100 dB.
    """
    imgs = {
        name: as_unit_float(x, name, MIN_SIDE)
        for name, x in (("x1", x1), ("x2", x2), ("x1_hat", x1_hat), ("x2_hat", x2_hat))
    }
    check_same_shape(imgs)
    s = ssim_float(np.stack([imgs["x1"], imgs["x2"]]), np.stack([imgs["x1_hat"], imgs["x2_hat"]]))
    return {
        "dec_ssim_1": float(s[0]),
        "dec_ssim_2": float(s[1]),
        "dec_psnr_1": psnr_pair(imgs["x1"], imgs["x1_hat"]),
        "dec_psnr_2": psnr_pair(imgs["x2"], imgs["x2_hat"]),
    }
