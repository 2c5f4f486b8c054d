"""Pixel-grid pattern of a fused image: its power at the grid frequencies, against the sources'.

A pattern that repeats every two pixels lives at the three grid frequencies (pi, pi), (pi, 0) and (0, pi)
(radians per pixel): the checkerboard (-1)^(i+j) and the line patterns (-1)^i and (-1)^j. The image's
component at grid frequency k is c_k * m_k, with m_k the +-1 pattern and c_k its amplitude - the DFT bin
at that frequency divided by the number of pixels. The bin of a raw image also picks up leakage from its
borders and smooth trends (an image that is not periodic has an edge where it wraps round), so c_k is
taken after a separable 3x3 filter with gain exactly 1 at frequency k and a double zero at 0 and at the
other two grid frequencies: [-1, 2, -1] / 4 along an axis where m_k alternates, [1, 2, 1] / 4 along one
where it does not, over the valid interior. For a pure pattern c * m_k that gives c exactly; on brain
slices (zero background at the border) it agrees with the raw bin. Hence:

- :func:`grid_amplitude` = sqrt(c_1^2 + c_2^2 + c_3^2), the RMS amplitude of the image's grid-frequency
  part, in the image's own units (x 255 for 8-bit grey levels: ``grid_rms``);
- :func:`grid_power_ratio` = sum_k c_k(fused)^2 / max(sum_k c_k(a)^2, sum_k c_k(b)^2), how much more
  grid power the fused image has than the stronger of the two sources (1 = no more than the sources).

A coding or interleaving artefact, which the eye sees as a fine dot texture, puts power exactly there;
natural images, smoothed by the scanner's point spread, have almost none. The source power is floored
at that of a (1e-3 / 255)-grey-level pattern so that ratios stay finite on synthetic, pattern-free sources.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_unit_float, check_same_shape

__all__ = ["grid_coefficients", "grid_amplitude", "grid_power_ratio", "grid_scores", "GRID_POWER_FLOOR"]

#: The floor of the sources' grid power: a pattern of 0.001 grey levels on the 8-bit scale.
GRID_POWER_FLOOR = (1e-3 / 255.0) ** 2

_HIGH = np.array([-0.25, 0.5, -0.25])  # gain 1 at pi, double zero at 0
_LOW = np.array([0.25, 0.5, 0.25])  # gain 1 at 0, double zero at pi


def _filter(f: np.ndarray, k_rows: np.ndarray, k_cols: np.ndarray) -> np.ndarray:
    """Separable 3x3 filter over the valid interior: (H - 2, W - 2)."""
    g = k_rows[0] * f[:-2] + k_rows[1] * f[1:-1] + k_rows[2] * f[2:]
    return k_cols[0] * g[:, :-2] + k_cols[1] * g[:, 1:-1] + k_cols[2] * g[:, 2:]


def grid_coefficients(img: Any) -> np.ndarray:
    """(c_checker, c_rows, c_cols): the amplitudes of the image's components at (pi, pi), (pi, 0), (0, pi)."""
    f = as_unit_float(img, "image")
    h, w = f.shape
    if h < 3 or w < 3:
        return np.zeros(3)
    si = 1.0 - 2.0 * (np.arange(1, h - 1) % 2)[:, None]  # (-1)^i on the interior rows
    sj = 1.0 - 2.0 * (np.arange(1, w - 1) % 2)[None, :]
    return np.array([
        (_filter(f, _HIGH, _HIGH) * si * sj).mean(),
        (_filter(f, _HIGH, _LOW) * si).mean(),
        (_filter(f, _LOW, _HIGH) * sj).mean(),
    ])


def grid_amplitude(img: Any) -> float:
    """RMS amplitude of the grid-frequency part of ``img`` on the [0, 1] scale (x 255 = grey levels)."""
    return float(np.sqrt((grid_coefficients(img) ** 2).sum()))


def grid_power_ratio(a: Any, b: Any, fused: Any) -> float:
    """Grid power of ``fused`` over the larger of the two sources' (floored at :data:`GRID_POWER_FLOOR`)."""
    imgs = {"a": as_unit_float(a, "a"), "b": as_unit_float(b, "b"), "fused": as_unit_float(fused, "fused")}
    check_same_shape(imgs)
    p = {k: float((grid_coefficients(v) ** 2).sum()) for k, v in imgs.items()}
    return p["fused"] / max(p["a"], p["b"], GRID_POWER_FLOOR)


def grid_scores(a: Any, b: Any, fused: Any) -> dict[str, float]:
    """``{"grid_ratio", "grid_rms"}``: the power ratio and the fused image's RMS grid amplitude in 8-bit
    grey levels."""
    return {"grid_ratio": grid_power_ratio(a, b, fused), "grid_rms": 255.0 * grid_amplitude(fused)}
