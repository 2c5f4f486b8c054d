"""Helpers shared by the commands."""

from __future__ import annotations

import argparse


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="a fusioninn checkpoint (.safetensors); default: the shipped weights")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads (default: $OMP_NUM_THREADS or all cores)")


def load_model(args: argparse.Namespace):
    """The FusionINN of ``--model`` (a baseline's checkpoint is refused) on ``--device``."""
    from ..api import load_pretrained
    from ..device import configure_threads, resolve_device

    configure_threads(args.threads)
    return load_pretrained(args.model, device=resolve_device(args.device))


def parse_names(text: str | None) -> tuple[str, str] | None:
    from ..errors import UserInputError

    if text is None:
        return None
    names = tuple(s.strip() for s in text.split(","))
    if len(names) != 2 or not all(names) or any("/" in n for n in names):
        raise UserInputError(f"--names takes two names separated by a comma, got {text!r}")
    return names  # type: ignore[return-value]


def check_inputs_exist(*paths: str | None) -> None:
    """Name a missing input file before anything slow happens."""
    from pathlib import Path

    from ..errors import DataError

    for p in paths:
        if p is not None and not Path(p).exists():
            raise DataError("file not found", p)


def parse_methods_and_weights(methods: str, weights: list[str]) -> tuple[list[str], dict[str, str]]:
    """``--methods a,b,c`` and repeated ``--weights NAME=PATH`` as a name list and a dict."""
    from ..errors import UserInputError

    names = [n.strip() for n in methods.split(",") if n.strip()]
    if not names:
        raise UserInputError("--methods is empty")
    paths = {}
    for item in weights:
        if "=" not in item:
            raise UserInputError(f"--weights takes NAME=PATH, got {item!r}")
        k, v = item.split("=", 1)
        paths[k.strip()] = v.strip()
    return names, paths
