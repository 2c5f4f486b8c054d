"""fusioninn demo --out DIR: the main job on the embedded default (no data needed)."""

from __future__ import annotations

import argparse

from ._common import add_model_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int, seed_int

    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--cases", type=positive_int, default=24, help="phantom test slices (default 24)")
    p.add_argument("--seed", type=seed_int, default=2026, help="phantom seed; the shipped model never saw 2026")
    p.add_argument("--samples", type=positive_int, default=8,
                   help="latent samples for the uncertainty maps (default 8)")
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..errors import UserInputError
    from ._common import load_model

    if args.cases < 1 or args.samples < 1:
        raise UserInputError("--cases and --samples must be at least 1")
    model = load_model(args)
    summary = run_demo(model, args.out, cases=args.cases, seed=args.seed, samples=args.samples,
                       model_path=args.model)
    print(summary)
    return 0
