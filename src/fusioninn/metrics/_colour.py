"""Colour rules: how a metric defined on grey images sees colour inputs.

Toolboxes differ (VIFB scores each RGB channel and averages; the Liu toolbox and most papers convert to
grey first), so the rule is part of a metric variant (:attr:`MetricSpec.colour`) and can be overridden
explicitly by the caller (``compute(..., colour="grey")``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["COLOUR_OPTIONS", "RGB2GRAY", "rgb2gray", "apply_rule"]

#: What :func:`fusioninn.metrics.compute` accepts for ``colour``: ``"source"`` = each variant's own rule.
COLOUR_OPTIONS = ("source", "mean", "grey", "concat")

#: MATLAB's rgb2gray weights: the first row of the inverse of the NTSC (YIQ) matrix.
RGB2GRAY = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]))[0]


def rgb2gray(x: np.ndarray, integer: bool) -> np.ndarray:
    """MATLAB's ``rgb2gray`` of an (H, W, 3) array on the 0..255 scale.

    ``integer=True`` (a uint8 image in MATLAB) rounds halves away from zero and saturates to 0..255.
    """
    y = x[..., 0] * RGB2GRAY[0] + x[..., 1] * RGB2GRAY[1] + x[..., 2] * RGB2GRAY[2]
    if integer:
        y = np.clip(np.floor(y + 0.5), 0.0, 255.0)
    return y


def _grey(x: np.ndarray, integer: bool) -> np.ndarray:
    return rgb2gray(x, integer) if x.ndim == 3 else x


def _channel(x: np.ndarray, c: int) -> np.ndarray:
    return np.ascontiguousarray(x[..., c]) if x.ndim == 3 else x


def _concat(x: np.ndarray) -> np.ndarray:
    # MATLAB's x(i, j) on an H x W x 3 array indexes the H x 3W matrix [R G B]; grey is tiled to match.
    return np.concatenate([x[..., c] for c in range(3)], axis=1) if x.ndim == 3 else np.tile(x, (1, 3))


def apply_rule(
    function: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    rule: str,
    a: np.ndarray,
    b: np.ndarray,
    f: np.ndarray,
    integer: bool,
) -> float:
    """Evaluate a grey-image metric on possibly colour images under ``rule``.

    - ``"grey"``: every colour image goes through :func:`rgb2gray` first.
    - ``"mean"`` (VIFB): with a colour fused image, the metric of each channel (a grey source is used for
      every channel), averaged; with a grey fused image, colour sources are converted to grey.
    - ``"concat"``: colour images are laid out as H x 3W (grey ones tiled), as MATLAB's two-subscript
      loops over an RGB array read them (VIFB's spatial frequency).
    - ``"none"``: colour input is an error.
    """
    if a.ndim == b.ndim == f.ndim == 2:
        return float(function(a, b, f))
    if rule == "grey":
        return float(function(_grey(a, integer), _grey(b, integer), _grey(f, integer)))
    if rule == "mean":
        if f.ndim == 2:
            return float(function(_grey(a, integer), _grey(b, integer), f))
        values = [function(_channel(a, c), _channel(b, c), _channel(f, c)) for c in range(3)]
        return float(np.mean(values))
    if rule == "concat":
        if f.ndim == 2:
            return float(function(_grey(a, integer), _grey(b, integer), f))
        return float(function(_concat(a), _concat(b), _concat(f)))
    from ..errors import UserInputError

    raise UserInputError("this metric takes grey images only; pass colour='grey' or 'mean' for colour input")
