"""``fusioninn info``: what will run on this machine and why.

Versions (fusioninn, torch, FrEIA, Python), the device ``--device`` resolves to, threads, the allocator
tuning, whether the native subnet kernels are compiled, loaded or disabled (and the reason), and the
backend each coupling subnet of a FusionINN uses with its default options; and a model's network
(``--model``, default the shipped weights): subnet widths, extra couplings, initial mixing and parameters.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_arguments", "run", "collect"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="CPU threads (default: $OMP_NUM_THREADS or all cores)")
    parser.add_argument("--model", help="weights whose network to describe (a checkpoint, or a shipped name such as "
                                        "fusioninn-v1; default: the shipped weights)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def describe_model(model) -> dict:
    """A model's network as ``fusioninn info`` lists it: for a FusionINN its capacity and initialisation
    fields and the parameters of each block (the published network: 17,648)."""
    config = getattr(model, "config", None)
    out: dict = {"parameters": int(model.parameter_count())}
    if hasattr(model, "module_list"):
        c = model.config
        out.update({"widths": list(c.widths), "extra_couplings": c.extra_couplings, "init_mixing": c.init_mixing,
                    "permutation_seeds": list(c.permutation_seeds),
                    "parameters_per_block": {f"{idx} {type(mod).__name__}": sum(p.numel() for p in mod.parameters())
                                             for idx, mod in enumerate(model.module_list)}})
    elif isinstance(config, dict):
        out["config"] = config
    return out


def collect(device: str = "auto", threads: int | None = None, model_path: str | None = None) -> dict:
    """Everything ``fusioninn info`` prints, as a dict."""
    import platform

    import torch

    from .. import __version__
    from ..device import allocator_state, configure_threads, resolve_device
    from ..models import ExecutionOptions, FusionINN, native
    from ..models.backends import subnet_backend

    dev = resolve_device(device)
    n_threads = configure_threads(threads)
    model = FusionINN().to(dev)
    options = ExecutionOptions()
    backends = {}
    for idx, size in ((1, 1), (4, 4), (7, 1)):  # full-resolution, half-resolution, full-resolution couplings
        block = model.module_list[idx]
        x = torch.zeros(1, size, 8, 8, device=dev)
        with torch.no_grad():
            infer = subnet_backend(block.subnet1, x, options)
        train = subnet_backend(block.subnet1, x, options)
        backends[f"coupling {idx} ({block.subnet1[0].in_channels} -> {block.subnet1[2].out_channels} channels)"] = {
            "training": train, "inference": infer}
    return {
        "versions": {"fusioninn": __version__, "torch": torch.__version__, "freia": _version("FrEIA"),
                     "python": platform.python_version()},
        "device": str(dev),
        "cuda_available": torch.cuda.is_available(),
        "threads": n_threads,
        "allocator": allocator_state(),
        "native_kernels": native.status(),
        "default_options": {k: getattr(options, k) for k in ("native", "channels_last", "fused_conv",
                                                             "contiguous_coupling", "memory_saving")},
        "subnet_backends": backends,
        "model": {"weights": model_path or "shipped default", **describe_model(_load(model_path))},
    }


def _load(model_path: str | None):
    from ..api import load_model

    return load_model(model_path)


def run(args: argparse.Namespace) -> int:
    info = collect(args.device, args.threads, args.model)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    v = info["versions"]
    nk = info["native_kernels"]
    lines = [
        f"fusioninn {v['fusioninn']}  torch {v['torch']}  FrEIA {v['freia']}  Python {v['python']}",
        f"device: {info['device']} (CUDA {'available' if info['cuda_available'] else 'not available'})",
        f"threads: {info['threads']}",
        f"allocator: {info['allocator']}",
        f"native kernels: {nk['state']}: {nk['reason']}",
    ]
    lines += [f"  {k}: {nk[k]}" for k in ("compiler", "library") if k in nk]
    lines.append("default options: " + ", ".join(f"{k}={val}" for k, val in info["default_options"].items()))
    lines.append("subnet backends (training / inference):")
    lines += [f"  {name}: {b['training']} / {b['inference']}" for name, b in info["subnet_backends"].items()]
    m = info["model"]
    if "widths" in m:
        lines.append(f"model {m['weights']}: FusionINN, widths {','.join(map(str, m['widths']))}, "
                     f"{m['extra_couplings']} extra couplings, init mixing {m['init_mixing']}, "
                     f"{m['parameters']:,} parameters")
        lines += [f"  {name}: {n:,}" for name, n in m["parameters_per_block"].items() if n]
    else:
        lines.append(f"model {m['weights']}: {m['parameters']:,} parameters")
    print("\n".join(lines))
    return 0
