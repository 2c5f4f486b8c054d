"""``fusioninn bench``: speed of the fast path against the published FrEIA graph on this machine.

Runs ``benchmarks/speed.py`` of a source checkout (the reference graph and its pytorch-msssim loss live
there, not in the installed package): training images/s, fuse+decompose pairs/s, peak memory, GFLOP/s
and the ratios, optionally written as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from ..errors import UserInputError

__all__ = ["add_arguments", "run"]

_SPEED = Path(__file__).resolve().parents[3] / "benchmarks" / "speed.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int

    parser.add_argument("--batch-sizes", default="1,8,64", help="comma-separated batch sizes (default 1,8,64)")
    parser.add_argument("--repeats", type=positive_int, default=5, help="interleaved timed runs per workload (median)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads for both implementations")
    parser.add_argument("--size", type=positive_int, default=240, help="image side, even (default 240)")
    parser.add_argument("--json", default=None, metavar="FILE", help="write all figures as JSON")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--volume", action="store_true", help="also time a whole 240x240x155 volume pair")
    parser.add_argument("--levers", action="store_true", help="measure each speed lever alone")


def _load_speed_module():
    if not _SPEED.is_file():
        raise UserInputError("benchmark script not found; `fusioninn bench` runs from a source checkout", _SPEED)
    if importlib.util.find_spec("pytorch_msssim") is None:
        raise UserInputError("the reference loss needs pytorch-msssim: pip install 'fusioninn[test]'", _SPEED)
    spec = importlib.util.spec_from_file_location("fusioninn_bench_speed", _SPEED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(args: argparse.Namespace) -> int:
    speed = _load_speed_module()
    try:
        speed.run_from_args(args)
    except ValueError as err:
        raise UserInputError(str(err), "fusioninn bench") from None
    return 0
