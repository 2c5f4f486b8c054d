"""The one check of array inputs (shape, dtype, finite, range) that models, losses, metrics and the API use.

Images in fusioninn are floats in [0, 1] or, where a caller accepts them, 8-bit integers 0..255. A float
may overshoot [0, 1] by :data:`RANGE_TOLERANCE` (round-off of a normalisation); callers that need the
exact range clip afterwards. Every failure is a :class:`~fusioninn.errors.UserInputError` (a
``ValueError``) whose message names the input, so the CLI prints it as one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserInputError

__all__ = ["RANGE_TOLERANCE", "check_array"]

#: How far a float image may lie outside [0, 1] and still count as normalised.
RANGE_TOLERANCE = 1e-6


def _as_array(x: Any, name: str, path: str | Path | None) -> Any:
    if hasattr(x, "detach") and hasattr(x, "dtype") and hasattr(x, "is_floating_point"):
        return x  # a torch tensor stays one (no copy, no import of torch here)
    try:
        return np.asarray(x)
    except Exception as err:  # noqa: BLE001 - anything that is not array-like
        raise UserInputError(f"{name or 'image'}: not an image array ({type(x).__name__}: {err})", path) from None


def _shape_text(ndims: tuple[int, ...], channels: int | None) -> str:
    names = {2: "(H, W)", 3: "(N, H, W)", 4: "(N, H, W)" if channels is None else f"(N, {channels}, H, W)"}
    parts = [names.get(d, f"{d}-D") for d in ndims]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def check_array(
    x: Any,
    name: str = "image",
    *,
    ndim: Iterable[int] = (2,),
    channels: int | None = None,
    allow_8bit: bool = False,
    unit_range: bool = True,
    path: str | Path | None = None,
    shape_text: str | None = None,
    error: type[UserInputError] = UserInputError,
    range_hint: str = "images must be normalised to [0, 1] first, e.g. per-slice min-max",
) -> tuple[Any, bool]:
    """Validate an image array and return ``(x, is_8bit)`` without changing its values.

    ``x`` is a NumPy array (or array-like) or a torch tensor (returned as it is). ``ndim``: the accepted
    numbers of dimensions; ``channels``: the required size of axis 1 of a 4-D input. Integer arrays are
    accepted only with ``allow_8bit`` and must hold 0..255; floats must be finite and, with
    ``unit_range``, lie in [0, 1] within :data:`RANGE_TOLERANCE`. Booleans and non-numeric dtypes are
    refused. ``path`` prefixes the message (a file the array came from); ``name`` follows it (an empty
    name: the file alone names the input). ``error``: the :class:`UserInputError` kind to raise (a
    reader raises :class:`~fusioninn.errors.DataError`); ``range_hint`` ends the out-of-range message.
    """
    arr = _as_array(x, name, path)
    prefix = f"{name}: " if name else ""
    ndims = tuple(ndim)
    shape = tuple(arr.shape)
    if arr.ndim not in ndims or (arr.ndim == 4 and channels is not None and shape[1] != channels):
        want = shape_text or _shape_text(ndims, channels)
        what = "a 2-D (H, W) image" if ndims == (2,) else want
        raise error(f"{prefix}expected {what}, got shape {shape}", path)
    if 0 in shape:
        raise error(f"{prefix}empty image of shape {shape}", path)
    is_tensor = not isinstance(arr, np.ndarray)
    if is_tensor:
        floating, integer = arr.is_floating_point(), not arr.is_floating_point() and not arr.is_complex() \
            and str(arr.dtype) != "torch.bool"
    else:
        floating, integer = np.issubdtype(arr.dtype, np.floating), np.issubdtype(arr.dtype, np.integer)
    if not (floating or integer):
        expected = "uint8 or float pixels" if allow_8bit else "a float image in [0, 1]"
        raise error(f"{prefix}expected {expected}, got dtype {arr.dtype}", path)
    if integer:
        if not allow_8bit:
            raise error(f"{prefix}expected a float image in [0, 1], got dtype {arr.dtype}", path)
        if str(arr.dtype) not in ("uint8", "torch.uint8"):
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi > 255:
                raise error(f"{prefix}integer images must hold 8-bit values 0..255, got range [{lo}, {hi}]", path)
        return arr, True
    finite = arr.isfinite() if is_tensor else np.isfinite(arr)
    if not finite.all():
        bad = int((~finite).sum())
        raise error(f"{prefix}contains NaN or infinite values ({bad} of {arr.numel() if is_tensor else arr.size} "
                    "pixels)", path)
    if unit_range:
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
            raise error(f"{prefix}float images must lie in [0, 1], got range [{lo:.6g}, {hi:.6g}] ({range_hint})",
                        path)
    return arr, False
