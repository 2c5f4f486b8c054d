"""``fusioninn phantom``: write synthetic brain-tumour phantom subjects in BraTS layout.

Example:
    fusioninn phantom --out phantoms --cases 4 --seed 0 --png
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]

_SEQUENCES = ("t1", "t1ce", "t2", "flair", "adc")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y,Z (three integers), got {text!r}") from None
    if len(parts) != 3 or min(parts) < 8:
        raise argparse.ArgumentTypeError(f"expected three sides >= 8 as X,Y,Z, got {text!r}")
    return parts  # type: ignore[return-value]


def _sequences(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [n for n in names if n not in _SEQUENCES]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"sequences must be names from {','.join(_SEQUENCES)}, got {text!r}")
    return names


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _spread(text: str) -> float:
    from ..data.phantom import check_contrast_spread
    from ..errors import DataError

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    try:
        return check_contrast_spread(value)
    except DataError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..inputs import seed_int

    parser.add_argument("--out", required=True, help="output folder (one sub-folder per subject)")
    parser.add_argument("--cases", type=_non_negative, default=1, help="number of subjects (default 1)")
    parser.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--shape", type=_shape, default=(240, 240, 155), help="volume size X,Y,Z (default 240,240,155)"
    )
    parser.add_argument(
        "--sequences",
        type=_sequences,
        default=("t1", "t1ce", "t2", "flair"),
        help="comma-separated sequences to write, from t1,t1ce,t2,flair,adc (default t1,t1ce,t2,flair)",
    )
    parser.add_argument(
        "--naming",
        choices=("brats2020", "brats2023"),
        default="brats2020",
        help="file naming: brats2020 (<id>_t1ce.nii.gz, 2018-2021) or brats2023 (<id>-t1c.nii.gz)",
    )
    parser.add_argument(
        "--contrast-spread",
        type=_spread,
        default=None,
        metavar="S",
        help="per-subject factor on each tissue's contrast, uniform in 1 +- S (default 0.07); e.g. 0.2 for a "
        "cohort whose subjects differ in contrast like patients from different scanners",
    )
    parser.add_argument("--png", action="store_true", help="also write PNGs of a tumour and a middle slice")
    parser.add_argument("--no-compress", action="store_true", help="write .nii instead of .nii.gz")


def run(args: argparse.Namespace) -> int:
    import time

    from ..atomic import output_group
    from ..data.phantom import CONTRAST_SPREAD, write_phantom_subjects

    start = time.perf_counter()
    with output_group():  # a failure part-way removes the files already written
        folders = write_phantom_subjects(
            args.out,
            cases=args.cases,
            seed=args.seed,
            shape=args.shape,
            naming=args.naming,
            sequences=args.sequences,
            png=args.png,
            compress=not args.no_compress,
            contrast_spread=CONTRAST_SPREAD if args.contrast_spread is None else args.contrast_spread,
        )
    seconds = time.perf_counter() - start
    for folder in folders:
        print(folder)
    print(f"wrote {len(folders)} phantom subject(s) to {args.out} in {seconds:.1f} s")
    return 0
