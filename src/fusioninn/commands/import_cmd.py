"""fusioninn import-original inn.pt -o OUT.safetensors"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint saved by the original research code (inn.pt)")
    p.add_argument("-o", "--out", required=True, help="output .safetensors file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..api import import_original
    from ..errors import UserInputError

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UserInputError("output must end in .safetensors", out)
    model = import_original(args.checkpoint, out)
    print(f"imported {args.checkpoint} -> {out} ({model.parameter_count()} parameters, published config)")
    return 0
