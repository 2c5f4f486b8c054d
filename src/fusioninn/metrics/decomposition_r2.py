"""Decomposition R^2: the share of what the fused image lacks that the decomposition gives back.

For a source x, its decomposition x_hat and the fused image y that it was decomposed from,

    R^2 = 1 - ||x_hat - x||^2 / ||y - x||^2

1 is a perfect decomposition, 0 is no better than returning the fused image itself as the source, and a
negative value is worse than that. Unlike SSIM or PSNR of x_hat against x it does not credit the
decomposition with what the fused image already shares with the source (on real slices the fused image,
taken as both sources, already scores SSIM 0.89 / 0.96). Over a data set the errors are pooled
(:func:`pooled_r2`: summed squared errors over summed squared gaps), which weighs each pixel equally and
stays defined where one slice's gap is tiny.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._checks import MIN_SIDE, as_unit_float, check_same_shape

__all__ = ["decomposition_r2", "r2_parts", "r2_from_parts", "pooled_r2"]


def r2_parts(x: Any, x_hat: Any, fused: Any) -> tuple[float, float]:
    """(sum of squared errors of x_hat, sum of squared gaps of the fused image), both against x."""
    imgs = {"x": as_unit_float(x, "x", MIN_SIDE), "x_hat": as_unit_float(x_hat, "x_hat", MIN_SIDE),
            "fused": as_unit_float(fused, "fused", MIN_SIDE)}
    check_same_shape(imgs)
    return float(((imgs["x_hat"] - imgs["x"]) ** 2).sum()), float(((imgs["fused"] - imgs["x"]) ** 2).sum())


def r2_from_parts(error: float, gap: float) -> float:
    """R^2 from a summed squared error and a summed squared gap. Where the fused image equals the source
    (gap 0) there is nothing to recover: 1 if the decomposition is exact too, else -1e9 (a finite stand-in
    for minus infinity, so tables and JSON stay valid)."""
    if gap <= 0.0:
        return 1.0 if error <= 0.0 else -1e9
    return 1.0 - error / gap


def decomposition_r2(x: Any, x_hat: Any, fused: Any) -> float:
    """R^2 of one decomposed source ``x_hat`` against ``x``, relative to the fused image ``fused``."""
    return r2_from_parts(*r2_parts(x, x_hat, fused))


def pooled_r2(parts: Iterable[tuple[float, float]]) -> float:
    """R^2 of a data set from per-image (error, gap) pairs: 1 - sum(errors) / sum(gaps)."""
    items = list(parts)
    errors = float(np.sum([e for e, _ in items]))
    gaps = float(np.sum([g for _, g in items]))
    return r2_from_parts(errors, gaps)
