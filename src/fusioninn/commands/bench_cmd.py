"""``fusioninn bench``: speed of FusionINN against the published FrEIA graph on this machine.

Runs :mod:`fusioninn.bench.speed` (shipped in the package, so it works from an installed copy): training
images/s, fuse+decompose pairs/s, peak memory, GFLOP/s and the ratios, optionally written as JSON. The
reference loss needs pytorch-msssim (``pip install 'fusioninn[bench]'``).
"""

from __future__ import annotations

import argparse
import importlib.util

from ..errors import UserInputError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..bench.speed import build_parser

    build_parser(parser)


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("pytorch_msssim") is None:
        raise UserInputError("the reference loss needs pytorch-msssim: pip install 'fusioninn[bench]'",
                             "fusioninn bench")
    from ..bench.speed import run_from_args

    try:
        run_from_args(args)
    except ValueError as err:
        raise UserInputError(str(err), "fusioninn bench") from None
    return 0
