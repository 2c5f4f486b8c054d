"""``fusioninn metrics A B FUSED``: the fusion scores of one (source, source, fused) triplet.

Images: PNG/TIFF/JPEG/BMP/GIF via Pillow or 2-D ``.npy``. 8-bit grey images are used as they are;
RGB images with three equal channels are grey; other RGB images are reduced to their luma
(0.299 R + 0.587 G + 0.114 B, ITU-R BT.601); 16-bit images are divided by 65535; float images must
already lie in [0, 1]. See docs/metrics.md for what each score means and the two protocols.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run", "read_metric_image"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="first source image (e.g. T1ce)")
    parser.add_argument("b", help="second source image (e.g. FLAIR)")
    parser.add_argument("fused", help="fused image")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--protocol",
        choices=("full", "reference"),
        default="full",
        help="full: published formulas over the whole image (default); reference: what the MATLAB "
        "evaluation code computes (centre-only SSIM/Q_XY/Q_P)",
    )


def read_metric_image(path: str | Path) -> Any:
    """Read one image for the metrics: uint8 (H, W) for 8-bit files, else float64 in [0, 1].

    Raises :class:`~fusioninn.errors.UserInputError` naming the file for anything unusable.
    """
    import numpy as np

    from ..data.pairs import _check_npy_size, _open_checked
    from ..errors import UserInputError
    from ..inputs import check_regular_file

    path = Path(path)
    check_regular_file(path, "image file", "is a directory, expected an image file")
    if path.suffix.lower() == ".npy":
        _check_npy_size(path)
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise UserInputError(f"not a readable .npy array ({err})", path) from None
    else:
        from PIL import UnidentifiedImageError

        try:
            with _open_checked(path) as im:
                frames = int(getattr(im, "n_frames", 1) or 1)
                if frames > 1:
                    raise UserInputError(f"holds {frames} frames (multi-page or animated); save one frame as its "
                                         "own file", path)
                im.seek(0)
                im.load()
                if im.mode in ("P", "PA", "CMYK", "YCbCr"):
                    im = im.convert("RGB")
                elif im.mode == "LA":
                    im = im.convert("L")
                arr = np.asarray(im)
        except UserInputError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise UserInputError(f"not a readable image ({err})", path) from None
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and path.suffix.lower() != ".npy":
        rgb = arr[..., :3]
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            arr = rgb[..., 0]
        elif rgb.dtype == np.uint8:
            arr = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0
        else:
            raise UserInputError(f"unsupported colour sample type {rgb.dtype}", path)
    if arr.ndim != 2:
        raise UserInputError(f"expected a 2-D grey image, got shape {tuple(arr.shape)}", path)
    if arr.size == 0:
        raise UserInputError(f"empty image (shape {tuple(arr.shape)})", path)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise UserInputError(f"complex samples ({arr.dtype}): the imaginary part would be lost", path)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise UserInputError(f"unsupported sample type {arr.dtype}", path)
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 255 and path.suffix.lower() == ".npy":
            return arr.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return arr.astype(np.float64) / 65535.0
        raise UserInputError(f"integer samples out of range [{lo}, {hi}]", path)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise UserInputError(f"contains {int((~np.isfinite(arr)).sum())} NaN or infinite pixel(s)", path)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise UserInputError(f"float images must lie in [0, 1], got [{lo:.6g}, {hi:.6g}]", path)
    return arr


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import UserInputError
    from ..metrics import METRIC_KEYS, compute_all

    images = [read_metric_image(p) for p in (args.a, args.b, args.fused)]
    for path, img in zip((args.a, args.b, args.fused), images, strict=True):
        if img.shape != images[0].shape:
            raise UserInputError(
                f"size {img.shape[0]}x{img.shape[1]} differs from {args.a} ({images[0].shape[0]}x"
                f"{images[0].shape[1]})",
                path,
            )
    try:
        scores = compute_all(*images, protocol=args.protocol)
    except UserInputError as err:  # e.g. too small: say which files
        raise UserInputError(f"{err} ({args.a}, {args.b}, {args.fused})") from None
    if args.json:
        print(json.dumps({k: scores[k] for k in METRIC_KEYS}, allow_nan=False))
        return 0
    labels = {
        "q_ssim": "Q_SSIM",
        "q_fmi": "Q_FMI",
        "q_ncie": "Q_NCIE",
        "q_xy": "Q_XY (Q^AB/F)",
        "q_p": "Q_P (Piella)",
        "psnr": "PSNR (dB)",
        "mi": "MI (bits)",
        "en": "EN (bits)",
        "sd": "SD (0..255)",
    }
    print(f"protocol: {args.protocol}")
    for key in METRIC_KEYS:
        print(f"{labels[key]:<14} {scores[key]:10.4f}")
    return 0
