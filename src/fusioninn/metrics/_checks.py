"""Input checking and the two image scales every metric works on.

All metrics accept 2-D (H, W) images as NumPy arrays or torch tensors:

- ``uint8`` (or any integer dtype holding values 0..255) is an 8-bit image;
- floating point images must be finite and lie in [0, 1] (a round-off overshoot of 1e-6 is clipped).

Two views of the same image are used:

- :func:`as_unit_float` gives float64 in [0, 1] (8-bit images divided by 255). Q_SSIM under the
  ``full`` protocol, PSNR and the decomposition scores use it, as the published evaluation did
  (pytorch-msssim on the float images).
- :func:`as_8bit` gives float64 holding the integers 0..255 (float images quantised with
  ``floor(255 * x + 0.5)``, i.e. rounding halves up). The MATLAB-derived metrics (FMI, NCIE, Q^AB/F,
  Piella, the toolbox SSIM) and MI / EN / SD use it, because the reference evaluation read 8-bit PNGs and
  converted them to double without rescaling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserInputError
from ..validation import RANGE_TOLERANCE, check_array

__all__ = ["as_8bit", "as_unit_float", "check_image", "check_same_shape", "MIN_SIDE"]

#: The smallest side the window metrics accept (the 11x11 SSIM window must fit once).
MIN_SIDE = 11
_OVERSHOOT = RANGE_TOLERANCE  # the one tolerance of fusioninn.validation


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as err:  # noqa: BLE001 - anything that is not array-like
        raise UserInputError(f"{name}: not an image array ({type(x).__name__}: {err})") from None
    return arr


def check_image(x: Any, name: str = "image", min_side: int = 1) -> tuple[np.ndarray, bool]:
    """Validate one image; return ``(array, is_8bit)`` without changing its values.

    Raises :class:`~fusioninn.errors.UserInputError` (a ``ValueError``) when the image is not 2-D, is
    empty or too small, has a non-numeric or boolean dtype, holds NaN/inf, has integer values outside
    0..255, or float values outside [0, 1].
    """
    arr = _to_numpy(x, name)
    if arr.ndim != 2:
        raise UserInputError(f"{name}: expected a 2-D (H, W) image, got shape {tuple(arr.shape)}")
    if arr.shape[0] < min_side or arr.shape[1] < min_side:
        raise UserInputError(
            f"{name}: image is {arr.shape[0]}x{arr.shape[1]}, the metrics need at least {min_side}x{min_side}"
        )
    return check_array(arr, name, ndim=(2,), allow_8bit=True)  # dtype, 0..255, finite, [0, 1]


def check_same_shape(named: dict[str, np.ndarray]) -> None:
    """Raise a ``UserInputError`` naming the images when their shapes differ."""
    shapes = {k: tuple(v.shape) for k, v in named.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {s[0]}x{s[1]}" for k, s in shapes.items())
        raise UserInputError(f"images must have the same size, got {listed}")


def as_unit_float(x: Any, name: str = "image", min_side: int = 1) -> np.ndarray:
    """The image as float64 in [0, 1] (8-bit images are divided by 255)."""
    arr, is_8bit = check_image(x, name, min_side)
    if is_8bit:
        return arr.astype(np.float64) / 255.0
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


def as_8bit(x: Any, name: str = "image", min_side: int = 1) -> np.ndarray:
    """The image as float64 holding integers 0..255 (floats quantised by ``floor(255 x + 0.5)``)."""
    arr, is_8bit = check_image(x, name, min_side)
    if is_8bit:
        return arr.astype(np.float64)
    return np.floor(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5)


def triplet(
    a: Any, b: Any, fused: Any, scale: str, min_side: int = MIN_SIDE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a (source, source, fused) triplet and convert it to ``scale`` ("8bit" or "unit")."""
    conv = as_8bit if scale == "8bit" else as_unit_float
    out = conv(a, "a", min_side), conv(b, "b", min_side), conv(fused, "fused", min_side)
    check_same_shape({"a": out[0], "b": out[1], "fused": out[2]})
    return out


def check_protocol(protocol: str) -> str:
    """Return ``protocol`` if it is "full" or "reference", else raise a ``ValueError``."""
    if protocol not in ("full", "reference"):
        raise UserInputError(f"protocol must be 'full' or 'reference', got {protocol!r}")
    return protocol


def as_255(x: Any, name: str = "image", min_side: int = 1) -> tuple[np.ndarray, bool]:
    """A grey (H, W) or colour (H, W, 3|4) image as float64 on the 0..255 scale, and whether it is 8-bit.

    8-bit images keep their integer values; float images in [0, 1] are multiplied by 255 (unrounded).
    A fourth (alpha) channel is dropped. Errors as :func:`check_image`, naming ``name``.
    """
    arr = _to_numpy(x, name)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3]
        channels = [check_image(arr[..., c], name, min_side) for c in range(3)]
        is_8bit = channels[0][1]
        values = arr.astype(np.float64)
        if not is_8bit:
            values = np.clip(values, 0.0, 1.0) * 255.0
        return values, is_8bit
    if arr.ndim == 3:
        raise UserInputError(
            f"{name}: expected a grey (H, W) or colour (H, W, 3) image, got shape {tuple(arr.shape)}"
        )
    arr, is_8bit = check_image(arr, name, min_side)
    values = arr.astype(np.float64)
    if not is_8bit:
        values = np.clip(values, 0.0, 1.0) * 255.0
    return values, is_8bit
