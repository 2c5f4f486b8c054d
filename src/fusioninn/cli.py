"""The ``fusioninn`` command line. Each command lives in ``fusioninn.commands.<name>`` and imports its
heavy libraries inside ``run`` so that ``fusioninn --help`` stays instant.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback), 1 internal error
(traceback only with ``--debug``), 128 + N after stop signal N, 141 when the reader of stdout went away.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

# name -> module in fusioninn.commands providing `add_arguments(parser)` and `run(args) -> int`
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo_cmd", "fuse and decompose a phantom test set with the shipped weights; write a report"),
    "train": ("train_cmd", "train a FusionINN model"),
    "prepare": ("prepare_cmd", "decode a BraTS collection or a dicom: pair once into checksummed shards"),
    "fuse": ("fuse_cmd", "fuse two images or NIfTI volumes"),
    "decompose": ("decompose_cmd", "decompose a fused image or volume back into its two sources"),
    "import-original": ("import_cmd", "convert a checkpoint of the original research code"),
    "phantom": ("phantom_cmd", "write synthetic brain-tumour phantom subjects"),
    "metrics": ("metrics_cmd", "fusion metrics of one (A, B, FUSED) triplet"),
    "evaluate": ("evaluate_cmd", "evaluate fusion methods on a data set"),
    "benchmark": ("benchmark_cmd", "paper-style comparison of all methods"),
    "bench": ("bench_cmd", "speed benchmark against the reference FrEIA graph"),
    "explain": ("explain_cmd", "contribution maps: how much of each fused value came from each source"),
    "view": ("view_cmd", "write a self-contained HTML case viewer (sources, fused, decomposed, uncertainty, share)"),
    "info": ("info_cmd", "versions, device, threads, allocator and native-kernel status: what will run and why"),
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
    from .atomic import output_group
    from .device import tune_cpu_allocator
    from .errors import UserInputError
    from .signals import Interrupted, stop_signals_raise

    # Reuse freed memory instead of returning it to the kernel after every large array: 1.4-1.7x less
    # time in training steps and metrics (docs/performance.md, docs/metrics.md). Process-wide, so only here.
    tune_cpu_allocator(True)
    group = None
    try:
        # one output group per command: a failure or a stop signal removes what the command created
        # and restores what it replaced (fusioninn.atomic), unless the command kept its resumable
        # progress (train's checkpoint, prepare's finished subjects); SIGTERM and SIGHUP are handled like Ctrl-C
        with stop_signals_raise(), _quiet_warnings(args.debug), output_group() as group:
            code = int(args._module.run(args) or 0)
            sys.stdout.flush()  # a closed pipe fails here, handled below, not at interpreter exit
            return code
    except UserInputError as err:
        if args.debug:
            raise
        print(f"fusioninn {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        signum = err.signum if isinstance(err, Interrupted) else 2
        name = err.args[0] if isinstance(err, Interrupted) else "SIGINT"
        kept = group is not None and group.kept
        what = "resumable progress kept" if kept else "partial outputs removed"
        print(f"fusioninn {args.command}: interrupted ({name}); {what}", file=sys.stderr)
        return 128 + signum
    except MemoryError:
        if args.debug:
            raise
        print(f"fusioninn {args.command}: error: out of memory", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of stdout went away (``fusioninn metrics ... | head``): stop quietly like other
        # command-line tools; stdout goes to /dev/null so that flushing it at exit cannot fail again
        _silence_stdout()
        return 128 + 13  # SIGPIPE
    except Exception as err:  # internal error: exit 1, traceback only on request
        if args.debug:
            raise
        print(
            f"fusioninn {args.command}: internal error: {type(err).__name__}: {_one_line(err)} (rerun with --debug)",
            file=sys.stderr,
        )
        return 1


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout already closed or not a file descriptor
        pass


def _one_line(err: BaseException) -> str:
    """The message on one line (library errors sometimes span several)."""
    return " ".join(str(err).split())


class _quiet_warnings:
    """Python warnings never reach stderr on their own (the one-line rule): libraries' warnings are
    dropped (the readers turn the ones that matter into errors themselves), and fusioninn's own (e.g.
    ``--skip-bad``'s skipped subjects) are printed as ``warning:`` lines after a command that succeeds.
    ``--debug`` shows everything as it happens."""

    def __init__(self, debug: bool) -> None:
        import warnings

        self._debug = debug
        self._ctx = warnings.catch_warnings(record=not debug)
        self.records: list = []

    def __enter__(self):
        import warnings

        got = self._ctx.__enter__()
        if not self._debug:
            self.records = got
            warnings.simplefilter("always")
        return self

    def __exit__(self, exc_type, *exc):
        out = self._ctx.__exit__(exc_type, *exc)
        if exc_type is None:
            import os

            own = os.sep + "fusioninn" + os.sep
            said = set()  # once each: train reads each --data spec twice (its train and validation side)
            for rec in self.records:
                line = f"fusioninn: warning: {_one_line(rec.message)}"
                if own in str(rec.filename) and issubclass(rec.category, UserWarning) and line not in said:
                    said.add(line)
                    print(line, file=sys.stderr)
        return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
