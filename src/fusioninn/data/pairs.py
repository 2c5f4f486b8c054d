"""2-D images: single PNG/TIFF/JPEG/GIF/.npy files and folder pairs matched by file name.

Grey levels. 8-bit images are divided by 255, 16-bit by 65535; float images (TIFF mode F, ``.npy``) are
kept if they lie in [0, 1] and min-max normalised otherwise. RGB images whose three channels are equal
are grey. Other colour images (pseudo-colour PET/SPECT) are split the way fusion papers do it: the luma
Y of ITU-R BT.601 YCbCr (Y = 0.299 R + 0.587 G + 0.114 B) is fused, and the chroma (Cb, Cr) is kept so
that :func:`to_colour` can put it back on the fused luma. ``read_image(exact=True)`` is the same reader
for the metrics: 8-bit samples stay uint8 (their reference implementations quantise), nothing is
rescaled, and values that would need rescaling are refused.

Sizes. The invertible network halves the image once (2 × 2 space-to-depth), so sides must be even
(other models may need another multiple). :func:`pad_to_multiple` pads the bottom and right edges —
by reflection by default (no artificial edge for the metrics), or with zeros — and :func:`unpad` cuts the
padding off the output again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..validation import check_array

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageData",
    "PairImages",
    "read_image",
    "write_image",
    "rgb_to_ycbcr",
    "to_colour",
    "pad_to_multiple",
    "unpad",
    "read_pairs",
]

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".gif", ".bmp", ".npy")


@dataclass
class ImageData:
    """One image read for fusion.

    Attributes:
        grey: float32 (H, W) in [0, 1] (the luma for colour images); with ``read_image(exact=True)``
            uint8 0..255 for 8-bit samples, else float64 in [0, 1].
        chroma: float32 (2, H, W) Cb, Cr in [0, 1] (0.5 = no colour) for colour images, else None.
        dtype: the stored sample type (``"uint8"``, ``"uint16"``, ``"float32"``, ...).
        value_range: (lo, hi) of the stored values mapped to 0 and 1.
        mode: the Pillow mode (or ``"npy"``).
        path: the file read.
        rgb: the stored uint8 (H, W, 3) channels of a colour file, with ``read_image(keep_rgb=True)``.
    """

    grey: np.ndarray
    chroma: np.ndarray | None
    dtype: str
    value_range: tuple[float, float]
    mode: str
    path: Path | None = None
    rgb: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.grey.shape)  # type: ignore[return-value]


def rgb_to_ycbcr(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) RGB in [0, 1] → luma (H, W) and chroma (2, H, W), ITU-R BT.601 (full range)."""
    r, g, b = (rgb[..., k].astype(np.float32) for k in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 0.5 + (b - y) * (0.5 / 0.886)
    cr = 0.5 + (r - y) * (0.5 / 0.701)
    return y.astype(np.float32), np.stack([cb, cr]).astype(np.float32)


def to_colour(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Put the chroma (2, H, W) back on a (fused) luma (H, W): RGB float32 (H, W, 3) in [0, 1]."""
    luma = np.asarray(luma, dtype=np.float32)
    chroma = np.asarray(chroma, dtype=np.float32)
    if chroma.shape != (2, *luma.shape):
        raise DataError(f"chroma shape {tuple(chroma.shape)} does not match the luma {tuple(luma.shape)}")
    cb, cr = chroma[0] - 0.5, chroma[1] - 0.5
    r = luma + (2 * 0.701) * cr
    b = luma + (2 * 0.886) * cb
    g = (luma - 0.299 * r - 0.114 * b) / 0.587
    return np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0).astype(np.float32)


def _scale_float(arr: np.ndarray, path: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """Float (or raw integer) samples as float32 in [0, 1]: kept if already there, else min-max mapped."""
    if np.issubdtype(arr.dtype, np.floating):
        check_array(arr, "", unit_range=False, path=path, error=DataError)  # finite
    wide = arr.astype(np.float64)  # range and scaling in float64: float64 values beyond float32 stay finite
    lo, hi = float(wide.min()), float(wide.max())
    if lo >= 0.0 and hi <= 1.0:
        return arr.astype(np.float32), (0.0, 1.0)
    if hi == lo:
        return np.zeros(arr.shape, np.float32), (lo, hi)
    if not np.isfinite(hi - lo):
        raise DataError(f"sample range [{lo:.3g}, {hi:.3g}] is too wide to scale (its span overflows float64)", path)
    return ((wide - lo) / (hi - lo)).astype(np.float32), (lo, hi)


def read_image(path: str | Path, *, exact: bool = False, keep_rgb: bool = False) -> ImageData:
    """Read a PNG/TIFF/JPEG/GIF/BMP image or a 2-D ``.npy`` array as grey [0, 1] (+ chroma if colour).

    ``exact=False`` (fusion): ``grey`` is float32 in [0, 1]; 8-bit samples are divided by 255, 16-bit by
    65535, 1-bit images give 0/1, and float images (or raw ``.npy`` integers) outside [0, 1] are min-max
    normalised (``value_range`` records the mapping).

    ``exact=True`` (the metrics, whose reference implementations quantise 8-bit data): nothing is
    rescaled. 8-bit grey images (and ``.npy`` integers within 0..255) stay ``uint8`` 0..255, 16-bit
    samples become float64 / 65535, colour luma is float64, and float samples must already lie in
    [0, 1] (within :data:`~fusioninn.validation.RANGE_TOLERANCE`, then clipped); anything else (other
    integer ranges, 1-bit images) is refused.

    ``keep_rgb=True`` also returns the stored 8-bit RGB channels of a colour file as ``rgb`` (uint8
    (H, W, 3), even when the three channels are equal: some toolbox rules read each channel).

    Raises:
        DataError: naming the file, for anything unreadable or unusable.
    """
    from ..atomic import note_input
    from ..inputs import check_regular_file

    path = Path(path)
    check_regular_file(path, "image file", "is a directory, expected an image file")
    note_input(path)  # an output of the same command must never replace an image it read
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise DataError(f"unsupported image type {ext!r} (use {', '.join(IMAGE_EXTENSIONS)})", path)
    arr, mode = (_load_npy(path), "npy") if ext == ".npy" else _load_picture(path)
    if arr.ndim == 3 and mode != "npy":
        return _colour_image(arr, mode, path, exact, keep_rgb)
    if arr.ndim != 2:
        raise DataError(f"expected a 2-D grey image, got {arr.dtype} of shape {tuple(arr.shape)}", path)
    if arr.size == 0:
        raise DataError(f"empty image (shape {tuple(arr.shape)})", path)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"complex samples ({arr.dtype}): the imaginary part would be lost; store magnitudes", path)
    if arr.dtype == np.bool_ and not exact:
        return ImageData(arr.astype(np.float32), None, "bool", (0.0, 1.0), mode, path)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"unsupported sample type {arr.dtype} (expected numeric grey levels)", path)
    if exact:
        return _exact_grey(arr, mode, path)
    return _unit_grey(arr, mode, path)


def _load_npy(path: Path) -> np.ndarray:
    _check_npy_size(path)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"not a readable .npy array ({err})", path) from None


def _load_picture(path: Path) -> tuple[np.ndarray, str]:
    """The first and only frame of a Pillow-readable file as stored: grey, or RGB(A) for colour modes."""
    from PIL import UnidentifiedImageError

    try:
        with _open_checked(path) as im:
            frames = int(getattr(im, "n_frames", 1) or 1)
            if frames > 1:
                raise DataError(f"holds {frames} frames (a multi-page TIFF or an animated image); fusioninn reads "
                                "single images: save the frame you mean as its own file", path)
            im.seek(0)
            im.load()
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode in ("PA", "CMYK", "YCbCr"):
                im = im.convert("RGB")  # a palette may be colour: the luma/chroma split below decides
            elif mode == "LA":
                im = im.convert("L")
            return np.asarray(im), mode
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"not a readable image ({err})", path) from None


def _colour_image(arr: np.ndarray, mode: str, path: Path, exact: bool, keep_rgb: bool) -> ImageData:
    stored = arr[..., :3]  # drop alpha
    if stored.dtype != np.uint8:
        raise DataError(f"unsupported colour sample type {stored.dtype}", path)
    rgb = np.ascontiguousarray(stored) if keep_rgb else None
    if np.array_equal(stored[..., 0], stored[..., 1]) and np.array_equal(stored[..., 0], stored[..., 2]):
        grey = stored[..., 0]
        grey = np.ascontiguousarray(grey) if exact else grey.astype(np.float32) / 255.0
        return ImageData(grey, None, "uint8", (0.0, 255.0), mode, path, rgb)
    y, chroma = rgb_to_ycbcr(stored.astype(np.float32) / 255.0)
    if exact:  # BT.601 luma in float64 (the metrics' reading)
        y = (0.299 * stored[..., 0] + 0.587 * stored[..., 1] + 0.114 * stored[..., 2]) / 255.0
    return ImageData(y, chroma, "uint8", (0.0, 255.0), mode, path, rgb)


def _unit_grey(arr: np.ndarray, mode: str, path: Path) -> ImageData:
    """exact=False: float32 in [0, 1] by the stored bit depth; raw .npy values and floats by their range."""
    if mode != "npy" and arr.dtype == np.uint8:
        return ImageData(arr.astype(np.float32) / 255.0, None, "uint8", (0.0, 255.0), mode, path)
    if mode != "npy" and np.issubdtype(arr.dtype, np.integer):
        sixteen_bit = arr.dtype.kind == "u" and arr.dtype.itemsize == 2 or mode.startswith("I;16")
        if sixteen_bit or (arr.min() >= 0 and arr.max() <= 65535):  # Pillow mode I holding 16-bit samples
            return ImageData(arr.astype(np.float32) / 65535.0, None, "uint16", (0.0, 65535.0), mode, path)
    grey, rng = _scale_float(arr, path)
    return ImageData(grey, None, str(arr.dtype), rng, mode, path)


def _exact_grey(arr: np.ndarray, mode: str, path: Path) -> ImageData:
    """exact=True: 8-bit values kept as uint8, 16-bit / 65535 in float64, floats checked, never rescaled."""
    if arr.dtype == np.uint8:
        return ImageData(arr, None, "uint8", (0.0, 255.0), mode, path)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 255 and mode == "npy":
            return ImageData(arr.astype(np.uint8), None, str(arr.dtype), (0.0, 255.0), mode, path)
        if lo >= 0 and hi <= 65535:
            return ImageData(arr.astype(np.float64) / 65535.0, None, str(arr.dtype), (0.0, 65535.0), mode, path)
        raise DataError(f"integer samples out of range [{lo}, {hi}]", path)
    grey, _ = check_array(arr.astype(np.float64), "", path=path, error=DataError)
    return ImageData(np.clip(grey, 0.0, 1.0), None, str(arr.dtype), (0.0, 1.0), mode, path)


# Bytes per pixel while reading and fusing one image: float32 grey, chroma and RGB copies.
_READ_BYTES_PER_PIXEL = 32


def _check_npy_size(path: Path) -> None:
    """Refuse a ``.npy`` whose header announces more data than memory can hold (before reading it)."""
    from .memory import check_memory

    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception:  # an unreadable header is reported by np.load itself
        return
    n = int(np.prod(shape, dtype=np.float64)) if shape else 1
    dims = "x".join(str(s) for s in shape) or "scalar"
    check_memory(int(n * max(dtype.itemsize, 4) * 2), f"array of {dims} {dtype}", path)


def _open_checked(path: Path):
    """``Image.open`` with our own memory check in place of Pillow's fixed decompression-bomb limit.

    Pillow refuses images above 2 x 89 Mpixel with an error that does not say what memory they would
    need, and warns (on stderr) above 89 Mpixel; we read the header size and refuse only what does not
    fit in the memory available now.
    """
    import warnings

    from PIL import Image

    from .memory import check_memory

    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    w, h = im.size
    try:
        check_memory(w * h * _READ_BYTES_PER_PIXEL, f"image of {w}x{h} pixels", path)
    except DataError:
        im.close()
        raise
    return im


def write_image(path: str | Path, array: np.ndarray, chroma: np.ndarray | None = None, bits: int = 8) -> Path:
    """Write a [0, 1] image atomically; the extension picks the format.

    ``.png``/``.tif``/``.tiff``: 8-bit (default) or 16-bit (``bits=16``; colour is always 8-bit RGB);
    ``.jpg``: 8-bit; ``.npy``: float32 values as given. With ``chroma`` the image is written in colour
    (:func:`to_colour`). Values are clipped to [0, 1]; NaN raises.
    """
    from ..atomic import atomic_path

    path = Path(path)
    ext = path.suffix.lower()
    arr = np.asarray(array, dtype=np.float32)
    if arr.ndim != 2:
        raise DataError(f"expected a 2-D image, got shape {tuple(arr.shape)}", path)
    if not np.isfinite(arr).all():
        raise DataError("refusing to write NaN or infinite values", path)
    if bits not in (8, 16):
        raise DataError(f"bits must be 8 or 16, got {bits}", path)
    if ext == ".npy":
        if chroma is not None:
            raise DataError("a colour image cannot be written as .npy; use .png", path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr)
        return path
    if ext not in (".png", ".tif", ".tiff", ".jpg", ".jpeg"):
        raise DataError(f"unsupported output type {ext!r} (use .png, .tif, .jpg or .npy)", path)
    from PIL import Image

    arr = np.clip(arr, 0.0, 1.0)
    if chroma is not None:
        rgb = np.rint(to_colour(arr, chroma) * 255.0).astype(np.uint8)
        im = Image.fromarray(rgb, mode="RGB")
    elif bits == 16 and ext != ".jpg" and ext != ".jpeg":
        im = Image.fromarray(np.rint(arr * 65535.0).astype(np.uint16))
    else:
        im = Image.fromarray(np.rint(arr * 255.0).astype(np.uint8))
    fmt = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG"}[ext]
    with atomic_path(path) as tmp:
        im.save(tmp, format=fmt)
    return path


def pad_to_multiple(
    image: np.ndarray, multiple: int = 2, mode: str = "reflect"
) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the last two axes at the bottom and right up to a multiple of ``multiple``.

    Returns the padded array and the original (H, W) for :func:`unpad`. ``mode`` is ``"reflect"`` or
    ``"zero"``.
    """
    if mode not in ("reflect", "zero"):
        raise DataError(f"padding mode must be 'reflect' or 'zero', got {mode!r}")
    if multiple < 1:
        raise DataError(f"multiple must be >= 1, got {multiple}")
    image = np.asarray(image)
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return image, (h, w)
    pad = [(0, 0)] * (image.ndim - 2) + [(0, ph), (0, pw)]
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "zero"  # reflection needs more pixels than the padding
    out = np.pad(image, pad, mode="reflect" if mode == "reflect" else "constant")
    return out, (h, w)


def unpad(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Remove the padding of :func:`pad_to_multiple`: keep the top-left ``size`` of the last two axes."""
    h, w = size
    return np.asarray(image)[..., :h, :w]


@dataclass
class PairImages:
    """Matched image pairs from two folders.

    Attributes:
        names: the matched file-name stems, sorted.
        a, b: :class:`ImageData` of each pair (folder A, folder B).
    """

    names: list[str]
    a: list[ImageData]
    b: list[ImageData]

    def __len__(self) -> int:
        return len(self.names)


def _image_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError("image folder not found", folder)
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."):
            if p.stem in out:
                raise DataError(f"two images named {p.stem!r} ({out[p.stem].name}, {p.name})", folder)
            out[p.stem] = p
    if not out:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder", folder)
    return out


def _listed(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def read_pairs(dir_a: str | Path, dir_b: str | Path) -> PairImages:
    """Read the images of two folders, pairing them by file-name stem (``a/x.png`` with ``b/x.tif``).

    Raises:
        DataError: a folder is missing or empty, names do not match (listing the unmatched ones), or the
            two images of a pair differ in size (naming both files).
    """
    fa, fb = _image_files(Path(dir_a)), _image_files(Path(dir_b))
    only_a = sorted(set(fa) - set(fb))
    only_b = sorted(set(fb) - set(fa))
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"only in {dir_a}: {_listed(only_a)}")
        if only_b:
            parts.append(f"only in {dir_b}: {_listed(only_b)}")
        raise DataError("unmatched image names; " + "; ".join(parts), dir_a)
    names = sorted(fa)
    a_list, b_list = [], []
    for n in names:
        ia, ib = read_image(fa[n]), read_image(fb[n])
        if ia.shape != ib.shape:
            raise DataError(f"size {ia.shape[0]}x{ia.shape[1]} differs from {ib.shape[0]}x{ib.shape[1]} of {fb[n]}",
                            fa[n])
        a_list.append(ia)
        b_list.append(ib)
    return PairImages(names=names, a=a_list, b=b_list)
