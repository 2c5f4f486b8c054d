"""``fusioninn metrics``: fusion scores of one (source, source, fused) triplet, or of folders of them.

- ``fusioninn metrics A B FUSED [--json] [--protocol P]``: the nine historical scores (the paper's five,
  PSNR, MI, EN, SD) of one triplet, colour reduced to luma as before.
- ``fusioninn metrics A B FUSED --metrics vifb,qabf@liu [--colour RULE] [--json]``: any keys or groups
  of the catalogue (``fusioninn metrics --list``); colour images are kept and reduced by each variant's
  own rule unless ``--colour`` names one for all.
- ``fusioninn metrics --sources DIR_A DIR_B --fused DIR_F [--fused DIR_G ...] --metrics ... --out T.csv``:
  folder mode, as VIFB lays its results out. ``DIR_F/<stem>.<ext>`` (method = the folder's name) or
  ``DIR_F/<stem>_<method>.<ext>`` is matched to ``DIR_A/<stem>.*`` and ``DIR_B/<stem>.*``; one row per
  fused image and a mean row per method, written atomically; a progress bar on stderr.

Images are read by :func:`fusioninn.data.pairs.read_image` with ``exact=True``: PNG/TIFF/JPEG/BMP/GIF via
Pillow or 2-D ``.npy``; 8-bit grey images are used as they are (uint8); 16-bit images are divided by
65535; float images must already lie in [0, 1]. Without ``--metrics``, RGB images with three equal
channels are grey and other RGB images are reduced to their luma (0.299 R + 0.587 G + 0.114 B, ITU-R
BT.601). See docs/metrics.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", nargs="?", help="first source image (e.g. T1ce, or visible)")
    parser.add_argument("b", nargs="?", help="second source image (e.g. FLAIR, or infrared)")
    parser.add_argument("fused", nargs="?", help="fused image")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--metrics",
        help="comma-separated metric keys and groups: paper, vifb, mefb, liu, all, or keys such as "
        "qabf@vifb,mi@qu (see --list); default: the nine historical scores",
    )
    parser.add_argument(
        "--colour",
        choices=("source", "mean", "grey", "concat"),
        default="source",
        help="how colour images are reduced with --metrics: source = each variant's own rule (VIFB: "
        "per-channel mean; Liu toolbox and ours: grey), or one rule for all (default source)",
    )
    parser.add_argument("--list", action="store_true", help="list every metric key with its provenance")
    parser.add_argument("--sources", nargs=2, metavar=("DIR_A", "DIR_B"), help="folder mode: the source folders")
    parser.add_argument(
        "--fused", dest="fused_dirs", action="append", metavar="DIR_F", help="folder mode: fused folder (repeatable)"
    )
    parser.add_argument("--out", help="folder mode: the CSV table to write")
    parser.add_argument("--quiet", action="store_true", help="folder mode: no progress bar")
    parser.add_argument(
        "--protocol",
        choices=("full", "reference"),
        default="full",
        help="full: published formulas over the whole image (default); reference: what the MATLAB "
        "evaluation code computes (centre-only SSIM/Q_XY/Q_P)",
    )


def _metric_image(path: str | Path, keep_colour: bool) -> Any:
    """One image for the metrics: the data reader's exact reading (8-bit files as their uint8 values,
    else float64 in [0, 1]; ``keep_colour``: 8-bit colour files as their uint8 (H, W, 3) channels)."""
    from ..data.pairs import read_image

    img = read_image(path, exact=True, keep_rgb=keep_colour)
    return img.rgb if img.rgb is not None else img.grey


def run(args: argparse.Namespace) -> int:
    from ..errors import UserInputError

    if args.list:
        return _list_metrics(args.json)
    folder_mode = args.sources is not None or args.fused_dirs or args.out is not None
    if folder_mode:
        if args.a is not None:
            raise UserInputError("give either A B FUSED or --sources/--fused/--out, not both")
        if args.sources is None or not args.fused_dirs or args.out is None:
            raise UserInputError("folder mode needs --sources DIR_A DIR_B, at least one --fused DIR and --out FILE")
        return _run_folders(args)
    if args.fused is None:
        raise UserInputError("give three images A B FUSED (or --sources/--fused/--out for folders, --list)")
    if args.metrics is None:
        if args.colour != "source":
            raise UserInputError("--colour applies to --metrics keys; add e.g. --metrics paper")
        return _run_historical(args)
    from ..metrics import compute, registry

    keys = registry.resolve(args.metrics)
    images = _read_triplet((args.a, args.b, args.fused), keep_colour=True)
    try:
        scores = compute(*images, names=keys, colour=args.colour, protocol=args.protocol)
    except UserInputError as err:
        raise UserInputError(f"{err} ({args.a}, {args.b}, {args.fused})") from None
    if args.json:
        print(_json(scores))
        return 0
    width = max(len(k) for k in keys)
    print(f"protocol: {args.protocol}, colour: {args.colour}")
    for key in keys:
        arrow = "higher is better" if registry.get(key).higher_is_better else "lower is better"
        print(f"{key:<{width}} {scores[key]:14.6f}   ({arrow})")
    return 0


def _json(obj: Any) -> str:
    """JSON with NaN/inf written as ``null`` (a variant undefined for the images, e.g. the Liu toolbox's
    Q_C on a zero background, as its MATLAB file gives NaN); the keys concerned are named on stderr."""
    import json
    import math
    import sys

    undefined: list[str] = []

    def clean(x: Any, path: str) -> Any:
        if isinstance(x, dict):
            return {k: clean(v, k if not path else f"{path}.{k}") for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v, path) for v in x]
        if isinstance(x, float) and not math.isfinite(x):
            undefined.append(path)
            return None
        return x

    text = json.dumps(clean(obj, ""), allow_nan=False)
    if undefined:
        print(f"fusioninn metrics: undefined (NaN or infinite) for these images, written as null: "
              f"{', '.join(undefined)}", file=sys.stderr)
    return text


def _read_triplet(paths: tuple[str, str, str], keep_colour: bool) -> list[Any]:
    from ..errors import UserInputError

    images = [_metric_image(p, keep_colour=keep_colour) for p in paths]
    for path, img in zip(paths, images, strict=True):
        if img.shape[:2] != images[0].shape[:2]:
            raise UserInputError(
                f"size {img.shape[0]}x{img.shape[1]} differs from {paths[0]} ({images[0].shape[0]}x"
                f"{images[0].shape[1]})",
                path,
            )
    return images


def _run_historical(args: argparse.Namespace) -> int:
    from ..errors import UserInputError
    from ..metrics import METRIC_KEYS, compute_all

    images = _read_triplet((args.a, args.b, args.fused), keep_colour=False)
    try:
        scores = compute_all(*images, protocol=args.protocol)
    except UserInputError as err:  # e.g. too small: say which files
        raise UserInputError(f"{err} ({args.a}, {args.b}, {args.fused})") from None
    if args.json:
        print(_json({k: scores[k] for k in METRIC_KEYS}))
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


def _list_metrics(as_json: bool) -> int:
    from ..metrics import registry

    specs = registry.catalogue()
    if as_json:
        print(_json({
            k: {
                "formula": s.formula,
                "reference": s.reference,
                "inputs": s.inputs,
                "colour": s.colour,
                "higher_is_better": s.higher_is_better,
                "note": s.note,
            }
            for k, s in specs.items()
        }))
        return 0
    width = max(len(k) for k in specs)
    print(f"{'key':<{width}}  better  inputs  colour  reference")
    for key, spec in specs.items():
        better = "higher" if spec.higher_is_better else "lower"
        print(f"{key:<{width}}  {better:<6}  {spec.inputs:<6}  {spec.colour:<6}  {spec.reference}")
    print(f"groups: {', '.join(registry.GROUPS)}; `--list --json` adds formulas (DOIs) and notes")
    return 0


def _images_by_stem(folder: Path) -> dict[str, Path]:
    from ..data.pairs import IMAGE_EXTENSIONS
    from ..errors import UserInputError

    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("."):
            if path.stem in found:
                raise UserInputError(f"two images with the stem {path.stem!r} ({found[path.stem].name})", path)
            found[path.stem] = path
    return found


def _check_folder(path: str) -> Path:
    from ..errors import UserInputError

    folder = Path(path)
    if not folder.exists():
        raise UserInputError("folder not found", folder)
    if not folder.is_dir():
        raise UserInputError("is not a folder", folder)
    return folder


def match_fused(
    sources: set[str], fused_dirs: list[Path]
) -> tuple[list[tuple[str, str, Path]], list[Path]]:
    """Pair fused files with source stems: ``(method, stem, path)`` rows and the unmatched files.

    ``<stem>.<ext>`` belongs to the method named by its folder; ``<stem>_<method>.<ext>`` to ``method``
    (the longest source stem that fits wins, so stems may contain underscores).
    """
    from ..errors import UserInputError

    rows: list[tuple[str, str, Path]] = []
    unmatched: list[Path] = []
    seen: dict[tuple[str, str], Path] = {}
    for folder in fused_dirs:
        for name, path in _images_by_stem(folder).items():
            if name in sources:
                method, stem = folder.resolve().name, name
            else:
                cut = [i for i, ch in enumerate(name) if ch == "_" and name[:i] in sources and i < len(name) - 1]
                if not cut:
                    unmatched.append(path)
                    continue
                stem, method = name[: max(cut)], name[max(cut) + 1 :]
            if (method, stem) in seen:
                raise UserInputError(
                    f"method {method!r} has two fused images for {stem!r} ({seen[(method, stem)]})", path
                )
            seen[(method, stem)] = path
            rows.append((method, stem, path))
    return rows, unmatched


def _run_folders(args: argparse.Namespace) -> int:
    import csv
    import io
    import sys

    import numpy as np
    from tqdm import tqdm

    from ..atomic import atomic_write_text, check_output_folder
    from ..errors import UserInputError
    from ..metrics import compute, registry

    keys = registry.resolve(args.metrics or "paper")
    dir_a, dir_b = (_check_folder(p) for p in args.sources)
    fused_dirs = [_check_folder(p) for p in args.fused_dirs]
    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise UserInputError("the table must be a .csv file", out)
    if out.is_dir():
        raise UserInputError("is a folder, expected a .csv file to write", out)
    check_output_folder(out)
    src_a, src_b = _images_by_stem(dir_a), _images_by_stem(dir_b)
    common = set(src_a) & set(src_b)
    if not common:
        raise UserInputError(f"no image stem is in both {dir_a} and {dir_b}", dir_a)
    rows, unmatched = match_fused(common, fused_dirs)
    out_resolved = out.resolve()
    inputs = {p.resolve() for p in [*src_a.values(), *src_b.values()]} | {p.resolve() for _, _, p in rows}
    if out_resolved in inputs:
        raise UserInputError("would overwrite one of the input images", out)
    if not rows:
        raise UserInputError(
            "no fused image matches a source stem (expected <stem>.<ext> or <stem>_<method>.<ext>)", fused_dirs[0]
        )
    if unmatched:
        listed = ", ".join(p.name for p in unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
        print(f"fusioninn metrics: skipped {len(unmatched)} fused file(s) without a matching source: {listed}",
              file=sys.stderr)
    rows.sort(key=lambda r: (r[0], r[1]))
    cache: dict[str, list[Any]] = {}
    table: list[list[Any]] = []
    by_method: dict[str, list[dict[str, float]]] = {}
    for method, stem, path in tqdm(rows, unit="image", desc="metrics", file=sys.stderr, disable=args.quiet):
        if stem not in cache:
            cache = {stem: [_metric_image(src_a[stem], keep_colour=True),
                            _metric_image(src_b[stem], keep_colour=True)]}
        a, b = cache[stem]
        f = _metric_image(path, keep_colour=True)
        for src, img in ((src_a[stem], a), (src_b[stem], b)):
            if img.shape[:2] != f.shape[:2]:
                raise UserInputError(f"size {f.shape[0]}x{f.shape[1]} differs from {src} ({img.shape[0]}x"
                                     f"{img.shape[1]})", path)
        try:
            scores = compute(a, b, f, names=keys, colour=args.colour, protocol=args.protocol)
        except UserInputError as err:
            raise UserInputError(str(err), path) from None
        by_method.setdefault(method, []).append(scores)
        table.append([method, stem, str(path), "1", *(repr(scores[k]) for k in keys)])
    means = {m: {k: float(np.mean([s[k] for s in v])) for k in keys} for m, v in by_method.items()}
    for method, values in means.items():
        table.append([method, "mean", "", str(len(by_method[method])), *(repr(values[k]) for k in keys)])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["method", "image", "file", "n", *keys])
    writer.writerows(table)
    atomic_write_text(out, buf.getvalue())
    if args.json:
        print(_json({m: {"n": len(by_method[m]), **v} for m, v in means.items()}))
    else:
        width = max(len(m) for m in means)
        print(f"{'method':<{width}}  {'n':>4}  " + "  ".join(f"{k:>14}" for k in keys))
        for method, values in means.items():
            cells = "  ".join(f"{values[k]:14.6f}" for k in keys)
            print(f"{method:<{width}}  {len(by_method[method]):>4}  {cells}")
        print(f"wrote {out} ({len(rows)} fused images, {len(means)} methods; a row per image, then image = "
              "'mean' rows)")
    return 0
