"""fusioninn evaluate --data SPEC --methods fusioninn,average,... --out DIR"""

from __future__ import annotations

import argparse

from ._common import add_cache_arguments, add_slice_arguments, data_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int

    p.add_argument("--data", required=True,
                   help="data spec: phantom:N[:seed[:spread=S]], BraTS folder, file.h5, pairs:A:B, dicom:A:B, "
                        "dicom-studies:ROOT:SERIES_A:SERIES_B (docs/data.md)")
    p.add_argument("--methods", default="fusioninn,average",
                   help="comma-separated: fusioninn, rules (average, maximum, pca, laplacian, dwt, guided), "
                        "CNN baselines (deepfuse, ...), or all")
    p.add_argument("--out", required=True, help="output folder for results.md/csv/json and per_image.csv")
    p.add_argument("--protocol", choices=["full", "reference"], default="full",
                   help="full: published formulas over the whole image; reference: the MATLAB code's numbers")
    p.add_argument("--pair", help="the two sequences of BraTS data (default t1ce,flair; a prepared folder's own)")
    add_slice_arguments(p)
    add_cache_arguments(p)
    p.add_argument("--split", choices=["all", "train", "val"], default="all",
                   help="evaluate on a subject-level split of the data (default all)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                   help="checkpoint for a CNN baseline (repeatable); default: the shipped one")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--model", help="FusionINN checkpoint (default: the shipped weights)")
    p.add_argument("--metrics",
                   help="comma-separated metric keys or groups (paper, vifb, mefb, liu, all, e.g. "
                        "qabf@vifb,mi@qu; see `fusioninn metrics --list`); default: the paper's five "
                        "(evaluate also keeps psnr, mi, en, sd)")
    p.add_argument("--perturb", metavar="LIST",
                   help="also decompose the saved 8-bit fused image after each of these perturbations and score "
                        "it, e.g. jpeg95,jpeg85,blur0.5,shift0.5,noise1 (png = the 8-bit image itself)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=positive_int)


def run(args: argparse.Namespace) -> int:
    from ..atomic import ensure_writable_dir, output_group
    from ..data.dataset import open_slices
    from ..device import configure_threads, resolve_device
    from ..evaluation import evaluate_methods, write_results
    from ..methods import resolve_methods
    from ..metrics import registry
    from ..perturb import parse_perturbations
    from ._common import parse_methods_and_weights

    metrics = None if args.metrics is None else registry.resolve(args.metrics)  # bad names: nothing made
    configure_threads(args.threads)
    perturb = parse_perturbations(args.perturb)  # refuse a bad list before anything is written or loaded
    ensure_writable_dir(args.out)  # before the evaluation, not after it
    names, weights = parse_methods_and_weights(args.methods, args.weights)
    pair = None if args.pair is None else tuple(s.strip() for s in args.pair.split(","))
    split = None if args.split == "all" else args.split
    data = open_slices(args.data, split=split, **data_options(args, pair))
    methods = resolve_methods(names, args.model, resolve_device(args.device), weights)
    result = evaluate_methods(methods, data.batches(args.batch_size, workers=args.workers or 1),
                              protocol=args.protocol, progress=not args.quiet, metrics=metrics,
                              perturb=perturb)
    with output_group():  # all result files or none
        paths = write_results(result, args.out)
    print(paths["markdown"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
