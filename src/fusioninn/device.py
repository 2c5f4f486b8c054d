"""Device and thread selection: CUDA when present, CPU otherwise, always overridable."""

from __future__ import annotations

import os

import torch

from .allocator import allocator_state, tune_cpu_allocator
from .errors import UserInputError

__all__ = ["resolve_device", "configure_threads", "tune_cpu_allocator", "allocator_state"]


def resolve_device(name: str | None = None) -> torch.device:
    """``None``/"auto" picks CUDA if available, else CPU; "cpu", "cuda", "cuda:1" are taken as given."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserInputError(f"unknown device {name!r} (expected auto, cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise UserInputError(f"unsupported device {name!r} (fusioninn runs on cpu, cuda or cuda:N)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"device {name!r} requested but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserInputError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} CUDA "
                             "device(s)")
    return device


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads: ``threads``, else $OMP_NUM_THREADS, else the usable cores."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS")
        if env and env.isdigit() and int(env) > 0:
            threads = int(env)
        else:
            try:
                threads = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                threads = os.cpu_count() or 1
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
