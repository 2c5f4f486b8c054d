"""MATLAB building blocks the MEFB and Liu-toolbox metrics are written in, reproduced in NumPy.

Only what those files rely on, with MATLAB's exact conventions: ``filter2`` is a correlation with zero
padding (``'same'`` keeps the input size, ``'valid'`` only the fully covered part); ``round`` takes halves
away from zero; ``normalize1.m`` rescales to integer grey levels 0..255.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "filter2_same",
    "gaussian_same",
    "gaussian_valid",
    "gaussian_valid_moments",
    "filter2_valid",
    "filter2_valid_at",
    "local_variance_octave",
    "valid_moments",
    "matlab_round",
    "normalize1",
    "joint_histogram",
    "mean_finite",
]


def filter2_same(kernel: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``filter2(kernel, image, 'same')`` for an odd-sized kernel: correlation, zeros outside."""
    return ndimage.correlate(image, kernel, mode="constant", cval=0.0)


def gaussian_same(kernel: np.ndarray, image: np.ndarray) -> np.ndarray:
    """:func:`filter2_same` for a separable (Gaussian) kernel, as two 1-D passes (same values to ~1e-16)."""
    g = _separable(kernel)
    out = ndimage.correlate1d(image, g, axis=-1, mode="constant", cval=0.0)
    return ndimage.correlate1d(out, g, axis=-2, mode="constant", cval=0.0)


def gaussian_valid(kernel: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``filter2(kernel, image, 'valid')`` for a separable (Gaussian) kernel, as two 1-D passes."""
    g = _separable(kernel)
    r = g.size // 2
    out = ndimage.correlate1d(image, g, axis=-1, mode="constant", cval=0.0)
    out = ndimage.correlate1d(out, g, axis=-2, mode="constant", cval=0.0)
    return out[..., r : out.shape[-2] - r, r : out.shape[-1] - r]


def gaussian_valid_moments(
    kernel: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mu_x, mu_y, E[x^2] - mu_x^2, E[y^2] - mu_y^2, E[xy] - mu_x mu_y over valid windows of ``kernel``.

    The five :func:`gaussian_valid` maps the SSIM-based metrics build on (Yang's Q_Y and Cvejic's Q_C
    use the same 7x7 window on the same image pairs); shared within one ``compute`` call.
    """
    return _gaussian_valid_moments(kernel, x, y)


def filter2_valid(kernel: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``filter2(kernel, image, 'valid')``: correlation over the positions where the kernel fits.

    Accumulated in the order Octave's ``conv2`` sums (kernel elements in reverse column-major order, one
    scaled image shift at a time). Where the toolboxes divide round-off by round-off (variances of flat
    windows), this lands within ~1e-5 of Octave's values; a separable filter gives the same maps to 1e-13
    but moves such metrics by up to 2e-3.
    """
    kh, kw = kernel.shape
    h, w = image.shape[-2:]
    oh, ow = h - kh + 1, w - kw + 1
    out = np.zeros(image.shape[:-2] + (oh, ow))
    for j in range(kw - 1, -1, -1):
        for i in range(kh - 1, -1, -1):
            if kernel[i, j] != 0.0:
                out += kernel[i, j] * image[..., i : i + oh, j : j + ow]
    return out


def filter2_valid_at(kernel: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:func:`filter2_valid` evaluated only at the valid positions where ``mask`` is true (1-D result)."""
    windows = np.lib.stride_tricks.sliding_window_view(image, kernel.shape)[mask]
    out = np.zeros(windows.shape[0])
    for j in range(kernel.shape[1] - 1, -1, -1):
        for i in range(kernel.shape[0] - 1, -1, -1):
            if kernel[i, j] != 0.0:
                out += kernel[i, j] * windows[:, i, j]
    return out


def local_variance_octave(kernel: np.ndarray, x: np.ndarray, var: np.ndarray, tiny: float = 1e-7) -> np.ndarray:
    """Replace the near-zero entries of a valid-window variance map E[x^2] - mu^2 by Octave's values.

    On flat windows the toolboxes' variances are round-off (about 1e-12 on the 0..255 scale, of either
    sign) and some of them divide such values by each other. ``var`` comes from a fast separable filter;
    where it is below ``tiny`` (real variances of 8-bit windows are above ~1e-6) it is recomputed with
    :func:`filter2_valid_at`, which sums in Octave's ``conv2`` order.
    """
    mask = np.abs(var) < tiny
    if not mask.any():
        return var
    out = var.copy()
    mu = filter2_valid_at(kernel, x, mask)
    out[mask] = filter2_valid_at(kernel, x * x, mask) - mu * mu
    return out


def valid_moments(
    kernel: np.ndarray, x: np.ndarray, y: np.ndarray, tiny: float = 1e-7
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Means, variances and covariance of two images over valid windows of a normalised ``kernel``.

    As ``filter2(w, x, 'valid')`` etc.: mu_x, mu_y, E[x^2] - mu_x^2, E[y^2] - mu_y^2, E[xy] - mu_x mu_y.
    Computed with a fast filter; where a variance is below ``tiny`` (a flat window, whose moments are
    round-off) all five are recomputed in Octave's ``conv2`` summation order.
    """
    stack = np.stack([x, y, x * x, y * y, x * y])
    m = ndimage.correlate1d(stack, _separable(kernel), axis=-1, mode="constant")
    m = ndimage.correlate1d(m, _separable(kernel), axis=-2, mode="constant")
    r = kernel.shape[0] // 2
    m = m[:, r : m.shape[1] - r, r : m.shape[2] - r]
    mu_x, mu_y = m[0], m[1]
    var_x, var_y, cov = m[2] - mu_x * mu_x, m[3] - mu_y * mu_y, m[4] - mu_x * mu_y
    mask = (np.abs(var_x) < tiny) | (np.abs(var_y) < tiny)
    if mask.any():
        ex, ey = filter2_valid_at(kernel, x, mask), filter2_valid_at(kernel, y, mask)
        mu_x[mask], mu_y[mask] = ex, ey
        var_x[mask] = filter2_valid_at(kernel, x * x, mask) - ex * ex
        var_y[mask] = filter2_valid_at(kernel, y * y, mask) - ey * ey
        cov[mask] = filter2_valid_at(kernel, x * y, mask) - ex * ey
    return mu_x, mu_y, var_x, var_y, cov


def _separable(kernel: np.ndarray) -> np.ndarray:
    """The 1-D factor g of a square Gaussian kernel g g^T."""
    g = kernel.sum(axis=0)
    return g / g.sum()


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB's ``round``: halves away from zero (NumPy rounds halves to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def normalize1(x: np.ndarray) -> np.ndarray:
    """``normalize1.m`` (Liu toolbox, copied into MEFB): min-max to 0..255 and rounded.

    The toolbox returns an all-zero image unchanged and divides by zero for any other constant image (its
    metrics then fail on a NaN index); we map every constant image to zeros, the value it gives at 0.
    """
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.zeros(x.shape, dtype=np.float64)
    return matlab_round((x - lo) / (hi - lo) * 255.0)


def joint_histogram(x: np.ndarray, y: np.ndarray, bins: int = 256) -> np.ndarray:
    """Joint histogram of two images of integers 0..bins-1, normalised to sum 1; rows index ``x``."""
    xi = x.astype(np.int64).ravel()
    yi = y.astype(np.int64).ravel()
    h = np.bincount(xi * bins + yi, minlength=bins * bins).astype(np.float64)
    return (h / h.sum()).reshape(bins, bins)


def mean_finite(x: np.ndarray) -> float:
    """``mean2(x(~isnan(x)))``: the mean of the non-NaN values (NaN if there are none)."""
    keep = ~np.isnan(x)
    return float(x[keep].mean()) if keep.any() else float("nan")


_MEMOS: list[OrderedDict] = []
_SCOPE = threading.local()


def clear_memos() -> None:
    """Forget every :func:`memo_arrays` result."""
    for cache in _MEMOS:
        cache.clear()


@contextlib.contextmanager
def memo_scope() -> Iterator[None]:
    """Let :func:`memo_arrays` functions share results inside this block (one ``compute`` call).

    Outside a scope nothing is cached; leaving the outermost scope forgets everything, so repeated calls
    (benchmarks, other images) never see results of an earlier call. Scopes are per thread.
    """
    depth = getattr(_SCOPE, "depth", 0)
    _SCOPE.depth = depth + 1
    try:
        yield
    finally:
        _SCOPE.depth = depth
        if depth == 0:
            clear_memos()


def _bits(a: np.ndarray) -> np.ndarray:
    """``a`` viewed as unsigned integers of its item size: equality of these is equality of the bytes."""
    return a.view(f"u{a.itemsize}") if a.itemsize in (1, 2, 4, 8) else a.view(np.uint8)


def memo_arrays(maxsize: int = 4) -> Callable:
    """Within a :func:`memo_scope`, remember a function's results by the *content* of its array arguments.

    Several catalogue keys share an expensive intermediate (``qp@liu``/``qp@mefb`` the phase congruency,
    the Piella variants their SSIM maps, the FMI variants their window terms); ``compute(..., names="all")``
    then pays for it once. An entry matches when the non-array arguments, the arrays' dtypes and shapes
    and their bytes are equal: each argument is compared with a stored copy (tens of microseconds for a
    240x240 image; a cryptographic digest or a bytes copy of it costs up to ten times more). Results are
    returned as stored (callers must not modify them).
    """

    def wrap(fn: Callable) -> Callable:
        cache: OrderedDict = OrderedDict()
        _MEMOS.append(cache)
        parameters = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if not getattr(_SCOPE, "depth", 0):
                return fn(*args, **kwargs)
            bound = parameters.bind(*args, **kwargs)  # f(x, flag) and f(x, flag=...) are one entry
            bound.apply_defaults()
            values = tuple(bound.arguments.values())
            signature = tuple((a.dtype.str, a.shape) if isinstance(a, np.ndarray) else a for a in values)
            arrays = [a for a in values if isinstance(a, np.ndarray)]
            for token, (sig, stored, value) in cache.items():
                if sig == signature and all(
                    np.array_equal(_bits(s), _bits(a)) for s, a in zip(stored, arrays, strict=True)
                ):
                    cache.move_to_end(token)
                    return value
            value = fn(*args, **kwargs)
            cache[object()] = (signature, [a.copy() for a in arrays], value)
            if len(cache) > maxsize:
                cache.popitem(last=False)
            return value

        return inner

    return wrap


def flat_window_variance(kernel: np.ndarray, x: np.ndarray, var: np.ndarray, tiny: float = 1e-7) -> np.ndarray:
    """Like :func:`local_variance_octave`, fast for integer-valued images.

    A constant window of value c gets Octave's E[x^2] - mu^2 for c, which depends on c alone: it is
    computed once per distinct c (at most 256 for 8-bit images). Near-zero variances of windows that are
    not constant (none for integer images) fall back to :func:`local_variance_octave`.
    """
    mask = np.abs(var) < tiny
    if not mask.any():
        return var
    kh, kw = kernel.shape
    hi = ndimage.maximum_filter(x, size=(kh, kw), mode="nearest")
    lo = ndimage.minimum_filter(x, size=(kh, kw), mode="nearest")
    rh, rw = kh // 2, kw // 2
    hi = hi[rh : x.shape[0] - rh, rw : x.shape[1] - rw]
    lo = lo[rh : x.shape[0] - rh, rw : x.shape[1] - rw]
    constant = mask & (hi == lo)
    out = var.copy()
    if constant.any():
        values, inverse = np.unique(lo[constant], return_inverse=True)
        mu = np.zeros(values.size)
        e2 = np.zeros(values.size)
        sq = values * values
        for j in range(kw - 1, -1, -1):
            for i in range(kh - 1, -1, -1):
                if kernel[i, j] != 0.0:
                    mu += kernel[i, j] * values
                    e2 += kernel[i, j] * sq
        out[constant] = (e2 - mu * mu)[inverse]
    rest = mask & ~constant
    if rest.any():
        out[rest] = local_variance_octave(kernel, x, np.where(rest, var, 1.0), tiny)[rest]
    return out


@memo_arrays(maxsize=6)
def _gaussian_valid_moments(kernel: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    m = gaussian_valid(kernel, np.stack([x, y, x * x, y * y, x * y]))
    mu_x, mu_y = m[0], m[1]
    return mu_x, mu_y, m[2] - mu_x * mu_x, m[3] - mu_y * mu_y, m[4] - mu_x * mu_y
