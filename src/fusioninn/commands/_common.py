"""Helpers shared by the commands."""

from __future__ import annotations

import argparse


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int

    p.add_argument("--model", help="a fusioninn checkpoint (.safetensors); default: the shipped weights")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: $OMP_NUM_THREADS or all cores)")


def add_dicom_arguments(p: argparse.ArgumentParser, twice: bool, output_format: bool = True) -> None:
    """``--series`` (pick a series in a DICOM folder of several) and, with ``output_format``, ``--format``
    (volume output kind)."""
    how = (" (once: for every DICOM input; twice: the first for A, the second for B; '' for none)"
           if twice else "")
    p.add_argument("--series", action="append", metavar="UID|NUMBER|DESCRIPTION",
                   help=f"select one series of a DICOM folder holding several{how}")
    if not output_format:
        return
    p.add_argument("--format", choices=("nifti", "dicom"),
                   help="volume output: nifti (by the -o name, default) or dicom (a derived DICOM series in the "
                        "new folder -o, from DICOM inputs)")


def check_series_option(series: list[str] | None, most: int):
    """``--series`` given at most ``most`` times; returns None, one selector, or a tuple of them."""
    from ..errors import UserInputError

    if not series:
        return None
    if len(series) > most:
        raise UserInputError(f"--series is given at most {most} time{'s' if most > 1 else ''}, got {len(series)}")
    return series[0] if most == 1 else tuple(series)


def load_model(args: argparse.Namespace):
    """The FusionINN of ``--model`` (a baseline's checkpoint is refused) on ``--device``."""
    from ..api import load_pretrained
    from ..atomic import note_input
    from ..device import configure_threads, resolve_device

    configure_threads(args.threads)
    model = load_pretrained(args.model, device=resolve_device(args.device))
    note_input(args.model)  # no output of this command may replace the checkpoint it runs
    return model


def parse_names(text: str | None) -> tuple[str, str] | None:
    from ..errors import UserInputError

    if text is None:
        return None
    names = tuple(s.strip() for s in text.split(","))
    if len(names) != 2 or not all(names) or any("/" in n or "\\" in n or n in (".", "..") for n in names):
        raise UserInputError(f"--names takes two names separated by a comma, got {text!r}")
    if names[0] == names[1]:
        raise UserInputError(f"--names gives the same name twice ({text!r}): both outputs would be one file")
    return names  # type: ignore[return-value]


def check_inputs_exist(*paths: str | None, dicom_folders: bool = False) -> None:
    """Name a missing input file before anything slow happens. With ``dicom_folders``, a folder (read as
    a DICOM series) is an input too."""
    from ..inputs import check_regular_file

    for p in paths:
        if p is None:
            continue
        if dicom_folders:
            from ..data.dicom import is_dicom_folder

            if is_dicom_folder(p):
                continue
        check_regular_file(p, "file", "is a directory, expected a file")


def parse_methods_and_weights(methods: str, weights: list[str]) -> tuple[list[str], dict[str, str]]:
    """``--methods a,b,c`` and repeated ``--weights NAME=PATH`` as a name list and a dict."""
    from ..errors import UserInputError

    names = [n.strip() for n in methods.split(",") if n.strip()]
    if not names:
        raise UserInputError("--methods is empty")
    from ..inputs import check_regular_file
    from ..models.baselines.registry import CNN_BASELINES

    paths = {}
    for item in weights:
        if "=" not in item:
            raise UserInputError(f"--weights takes NAME=PATH, got {item!r}")
        k, v = (part.strip() for part in item.split("=", 1))
        if k not in CNN_BASELINES:
            raise UserInputError(f"--weights {item!r}: {k!r} is not a CNN baseline (one of {sorted(CNN_BASELINES)})")
        if k not in names and "all" not in names:
            raise UserInputError(f"--weights {item!r}: {k!r} is not among --methods (these weights would go unused)")
        if k in paths:
            raise UserInputError(f"--weights names {k!r} twice")
        check_regular_file(v, "checkpoint file")
        paths[k] = v
    return names, paths


def add_slice_arguments(p: argparse.ArgumentParser) -> None:
    """--slices, --min-tumour-pixels, --min-brain-fraction, --no-clip-negative (BraTS slice selection)."""
    from ..inputs import fraction, positive_int

    p.add_argument("--slices", choices=["tumour", "all"],
                   help="BraTS slices: with tumour labels (the paper's rule, default) or all with enough brain "
                        "(needs no segmentation); a prepared folder keeps its own")
    p.add_argument("--min-tumour-pixels", type=positive_int, help="tumour pixels for a slice to count (default 50)")
    p.add_argument("--min-brain-fraction", type=fraction, help="brain share for --slices all (default 0.1)")
    p.add_argument("--no-clip-negative", dest="clip_negative", action="store_const", const=False, default=None,
                   help="keep negative intensities before min-max (default: clip them to 0, see docs/data.md)")


def add_cache_arguments(p: argparse.ArgumentParser) -> None:
    """--cache DIR, --workers N, --skip-bad."""
    from ..inputs import non_negative_int

    p.add_argument("--cache", metavar="DIR",
                   help="prepare a BraTS folder into DIR once (see `fusioninn prepare`) and stream slices from it; "
                        "without it a BraTS folder is read into memory")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="(in-memory reading) keep decoded BraTS slices in DIR as .npy files for the next run")
    p.add_argument("--workers", type=non_negative_int,
                   help="processes decoding subjects (with --cache) and reading slices from disk (default 1)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable subjects with a warning")


def data_options(args: argparse.Namespace, pair) -> dict:
    """Keyword arguments of :func:`fusioninn.data.dataset.open_slices` from the arguments above."""
    from ..errors import UserInputError

    if args.workers is not None and args.workers < 0:
        raise UserInputError(f"--workers must be >= 0, got {args.workers}")
    if args.min_tumour_pixels is not None and args.min_tumour_pixels < 1:
        raise UserInputError(f"--min-tumour-pixels must be >= 1, got {args.min_tumour_pixels}")
    if args.min_brain_fraction is not None and not 0 <= args.min_brain_fraction <= 1:
        raise UserInputError(f"--min-brain-fraction must be between 0 and 1, got {args.min_brain_fraction}")
    if args.cache and args.cache_dir:
        raise UserInputError("--cache (prepare and stream) and --cache-dir (in-memory reading) exclude each other")
    return dict(pair=pair, cache=args.cache, cache_dir=args.cache_dir, workers=max(1, args.workers or 1),
                strict=not args.skip_bad, skip_bad=args.skip_bad, slices=args.slices,
                min_tumour_pixels=args.min_tumour_pixels, min_brain_fraction=args.min_brain_fraction,
                clip_negative=args.clip_negative, progress=not getattr(args, "quiet", False))
