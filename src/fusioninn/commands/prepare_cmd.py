"""fusioninn prepare --data BRATS_DIR|dicom:A:B|dicom-studies:ROOT:A:B --cache DIR [--workers N]: decode a
collection once into shards."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_slice_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int

    p.add_argument("--data", required=True,
                   help="a BraTS folder (subject folders at any depth), or dicom:DIR_A:DIR_B / "
                        "dicom:STUDY:SERIES_A:SERIES_B (two co-registered DICOM series: one subject, --slices all), "
                        "or dicom-studies:ROOT:SERIES_A:SERIES_B (one subject per DICOM study under ROOT)")
    p.add_argument("--cache", required=True, metavar="DIR",
                   help="the prepared folder to write (manifest.json + shards/); pass it as --data to train, "
                        "evaluate and benchmark")
    p.add_argument("--workers", type=positive_int, default=1, help="decoding processes (default 1)")
    p.add_argument("--pair", help="the two sequences (default t1ce,flair)")
    add_slice_arguments(p)
    p.add_argument("--strict", action="store_true",
                   help="an unreadable subject is an error (default: skipped with a warning, listed in the manifest)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..atomic import output_group

    with output_group() as group:
        try:
            return _run(args)
        except KeyboardInterrupt:
            # a prepare stopped (Ctrl-C, SIGTERM, SIGHUP) after finishing subjects is resumable: keep them. Bad
            # input (--strict at a bad subject included) and one stopped before its first subject leave nothing.
            if _has_finished_subjects(Path(args.cache).expanduser()):
                group.keep()
            raise


def _has_finished_subjects(cache: Path) -> bool:
    from ..data.prepared import read_manifest
    from ..errors import DataError

    try:
        return bool(read_manifest(cache)["subjects"])
    except DataError:  # no manifest yet (or not ours): nothing finished to keep
        return False


def _run(args: argparse.Namespace) -> int:
    import json
    import time

    from ..data.memory import format_bytes
    from ..data.prepared import PrepareOptions, is_prepared, prepare
    from ..data.spec import parse_pair
    from ..errors import UserInputError

    if args.workers < 1:
        raise UserInputError(f"--workers must be >= 1, got {args.workers}")
    if args.min_tumour_pixels is not None and args.min_tumour_pixels < 1:
        raise UserInputError(f"--min-tumour-pixels must be >= 1, got {args.min_tumour_pixels}")
    if args.min_brain_fraction is not None and not 0 <= args.min_brain_fraction <= 1:
        raise UserInputError(f"--min-brain-fraction must be between 0 and 1, got {args.min_brain_fraction}")
    src = Path(args.data).expanduser()
    studies = args.data.startswith("dicom-studies:")
    dicom = args.data.startswith("dicom:") or studies
    if args.data.startswith(("phantom:", "pairs:")) or args.data.lower().endswith((".h5", ".hdf5")):
        raise UserInputError(f"prepare decodes BraTS folders and DICOM series; {args.data!r} is read directly by "
                             "train, evaluate and benchmark")
    if dicom:
        from ..data.dicom import parse_dicom_spec, parse_studies_spec

        if studies:
            root = parse_studies_spec(args.data)[0]
            if not root.is_dir():
                raise UserInputError("no such folder (a dicom-studies: spec names a folder of DICOM studies)", root)
        for folder in () if studies else dict.fromkeys(parse_dicom_spec(args.data)[::2]):
            if not folder.is_dir():
                raise UserInputError("no such folder (a dicom: spec names DICOM series folders)", folder)
        kind = "dicom-studies:" if studies else "dicom:"
        if args.slices == "tumour":
            raise UserInputError(f"--slices tumour needs a segmentation, which DICOM series do not carry; a {kind} "
                                 "spec is prepared with --slices all (its default)")
        if args.min_tumour_pixels is not None:
            raise UserInputError(f"--min-tumour-pixels has no effect on a {kind} spec (no segmentation; all slices "
                                 "with --min-brain-fraction brain are kept)")
    elif not src.is_dir():
        raise UserInputError("no such folder (expected a BraTS folder of subject folders)", src)
    elif is_prepared(src):
        raise UserInputError("is already a prepared folder; pass it as --data to train, evaluate or benchmark", src)
    defaults = PrepareOptions()
    options = PrepareOptions(
        names=parse_pair(args.pair) if args.pair else defaults.names,
        slices=args.slices or ("all" if dicom else defaults.slices),
        min_tumour_pixels=defaults.min_tumour_pixels if args.min_tumour_pixels is None else args.min_tumour_pixels,
        min_brain_fraction=defaults.min_brain_fraction if args.min_brain_fraction is None else args.min_brain_fraction,
        clip_negative=defaults.clip_negative if args.clip_negative is None else args.clip_negative,
    )
    t0 = time.perf_counter()
    prepared = prepare(args.data if dicom else src, args.cache, options, workers=args.workers, strict=args.strict,
                       progress=not args.quiet)
    seconds = time.perf_counter() - t0
    size = sum(int(s["bytes"]) for e in prepared.subjects for s in e["shards"].values())
    print(f"prepared {len(prepared.subjects)} subjects, {prepared.n_slices} slices ({options.describe()}) in "
          f"{prepared.folder} ({format_bytes(size)}, {seconds:.1f} s); skipped {len(prepared.skipped)}")
    print(json.dumps({"folder": str(prepared.folder), "subjects": len(prepared.subjects),
                      "slices": prepared.n_slices, "skipped": [s["id"] for s in prepared.skipped],
                      "bytes": size, "seconds": round(seconds, 3)}))
    return 0
