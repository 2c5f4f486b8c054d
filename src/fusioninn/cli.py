"""The ``fusioninn`` command line. Each command lives in ``fusioninn.commands.<name>`` and imports its
heavy libraries inside ``run`` so that ``fusioninn --help`` stays instant.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback), 1 internal error
(traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

# name -> module in fusioninn.commands providing `add_arguments(parser)` and `run(args) -> int`
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo_cmd", "fuse and decompose a phantom test set with the shipped weights; write a report"),
    "train": ("train_cmd", "train a FusionINN model"),
    "prepare": ("prepare_cmd", "decode a BraTS collection once into checksummed shards for streaming"),
    "fuse": ("fuse_cmd", "fuse two images or NIfTI volumes"),
    "decompose": ("decompose_cmd", "decompose a fused image or volume back into its two sources"),
    "import-original": ("import_cmd", "convert a checkpoint of the original research code"),
    "phantom": ("phantom_cmd", "write synthetic brain-tumour phantom subjects"),
    "metrics": ("metrics_cmd", "fusion metrics of one (A, B, FUSED) triplet"),
    "evaluate": ("evaluate_cmd", "evaluate fusion methods on a data set"),
    "benchmark": ("benchmark_cmd", "paper-style comparison of all methods"),
    "bench": ("bench_cmd", "speed benchmark against the reference FrEIA graph"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_text) in COMMANDS.items():
        if importlib.util.find_spec(f"fusioninn.commands.{module}") is not None:
            out[name] = (module, help_text)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fusioninn", description="Decomposable brain-MRI image fusion (FusionINN).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in _available().items():
        module = importlib.import_module(f"fusioninn.commands.{module_name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        # SUPPRESS: without --debug here, `fusioninn --debug COMMAND` keeps the top-level value
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from .device import tune_cpu_allocator
    from .errors import UserInputError

    # Reuse freed memory instead of returning it to the kernel after every large array: 1.4-1.7x less
    # time in training steps and metrics (docs/performance.md, docs/metrics.md). Process-wide, so only here.
    tune_cpu_allocator(True)
    try:
        return int(args._module.run(args) or 0)
    except UserInputError as err:
        if args.debug:
            raise
        print(f"fusioninn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fusioninn {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if args.debug:
            raise
        print(f"fusioninn {args.command}: error: out of memory", file=sys.stderr)
        return 2
    except Exception as err:  # internal error: exit 1, traceback only on request
        if args.debug:
            raise
        print(
            f"fusioninn {args.command}: internal error: {type(err).__name__}: {err} (rerun with --debug)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
