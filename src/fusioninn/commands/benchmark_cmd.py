"""fusioninn benchmark --data SPEC --out DIR: every method, the paper's table, one command."""

from __future__ import annotations

import argparse

from ._common import add_cache_arguments, add_slice_arguments, data_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int

    p.add_argument("--data", default="phantom:50:4242", help="data spec (default phantom:50:4242, held out)")
    p.add_argument("--out", required=True, help="output folder: benchmark.md/json, results.*, comparison.png")
    p.add_argument("--methods", default="all", help="comma-separated method names, or all (default)")
    p.add_argument("--pair", help="the two sequences of BraTS data (default t1ce,flair; a prepared folder's own)")
    add_slice_arguments(p)
    add_cache_arguments(p)
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--protocol", choices=["full", "reference"], default="full")
    p.add_argument("--model", help="FusionINN checkpoint (default: the shipped weights)")
    p.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                   help="checkpoint for a CNN baseline (repeatable); default: the shipped one")
    p.add_argument("--metrics",
                   help="comma-separated metric keys or groups (paper, vifb, mefb, liu, all, e.g. "
                        "qabf@vifb,mi@qu; see `fusioninn metrics --list`); default: the paper's five "
                        "(evaluate also keeps psnr, mi, en, sd)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=positive_int)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--perturb", metavar="LIST",
                   help="also decompose the saved 8-bit fused image after each of these perturbations and score "
                        "it, e.g. jpeg95,jpeg85,blur0.5,shift0.5,noise1 (png = the 8-bit image itself)")


def run(args: argparse.Namespace) -> int:
    from ..benchmark import run_benchmark
    from ..data.dataset import open_slices
    from ..device import configure_threads, resolve_device
    from ..methods import resolve_methods
    from ..metrics import registry
    from ..perturb import parse_perturbations
    from ._common import parse_methods_and_weights

    metrics = None if args.metrics is None else registry.resolve(args.metrics)  # bad names: nothing made
    configure_threads(args.threads)
    names, weights = parse_methods_and_weights(args.methods, args.weights)
    parse_perturbations(args.perturb)  # refuse a bad list before loading anything
    pair = None if args.pair is None else tuple(s.strip() for s in args.pair.split(","))
    data = open_slices(args.data, **data_options(args, pair))
    methods = resolve_methods(names, args.model, resolve_device(args.device), weights)
    summary = run_benchmark(methods, data, args.out, args.data, protocol=args.protocol, batch_size=args.batch_size,
                            progress=not args.quiet, metrics=metrics, workers=args.workers or 1,
                            perturb=args.perturb)
    from pathlib import Path

    print((Path(args.out) / "benchmark.md").read_text())
    print(f"wrote {args.out}/benchmark.md, benchmark.json, results.*, comparison.png "
          f"({summary['wall_seconds']:.1f} s)")
    return 0
