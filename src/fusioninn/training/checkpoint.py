"""Checkpoints: one safetensors file holding the weights (and, for training runs, the optimizer and RNG
state), with a JSON document in the safetensors metadata (config, versions, training state, checksum).

Never pickled. One file means one atomic rename: a killed write leaves the previous checkpoint intact.
The SHA-256 of the model weights is stored and checked on load, so a tampered or corrupted file is
refused with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..errors import CheckpointError

__all__ = ["CheckpointData", "save_checkpoint", "load_checkpoint", "weights_sha256", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_META_KEY = "fusioninn"
_MODEL_PREFIX = "model."
_OPTIM_PREFIX = "optim."
_RNG_PREFIX = "rng."


@dataclass
class CheckpointData:
    """What a checkpoint holds. ``meta`` has at least ``kind`` and ``config``."""

    model_state: dict[str, torch.Tensor]
    meta: dict[str, Any]
    optimizer_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    rng_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """Checksum over names, dtypes, shapes and bytes of the tensors, in sorted order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        # reshape(-1): a 0-d tensor (BatchNorm's num_batches_tracked) cannot be viewed as bytes; same bytes otherwise
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    try:
        freia = version("FrEIA")
    except PackageNotFoundError:  # FrEIA imported from a source tree
        freia = "unknown"

    return {
        "fusioninn": __version__,
        "torch": torch.__version__,
        "freia": freia,
        "python": platform.python_version(),
    }


def save_checkpoint(path: str | Path, data: CheckpointData) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    model_state = {k: v.detach().to("cpu").contiguous() for k, v in data.model_state.items()}
    tensors: dict[str, torch.Tensor] = {_MODEL_PREFIX + k: v for k, v in model_state.items()}
    tensors.update({_OPTIM_PREFIX + k: v.detach().to("cpu").contiguous() for k, v in data.optimizer_tensors.items()})
    tensors.update({_RNG_PREFIX + k: v.detach().to("cpu").contiguous() for k, v in data.rng_tensors.items()})
    meta = dict(data.meta)
    meta["format_version"] = FORMAT_VERSION
    meta.setdefault("versions", _versions())
    meta["weights_sha256"] = weights_sha256(model_state)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={_META_KEY: json.dumps(meta, sort_keys=True)})
    return path


def load_checkpoint(path: str | Path, verify: bool = True) -> CheckpointData:
    """Read a checkpoint written by :func:`save_checkpoint`; refuses anything else with a clear error."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", path)
    if path.is_dir():
        raise CheckpointError("is a directory, expected a .safetensors checkpoint file", path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as err:  # safetensors raises its own error types for malformed files
        if path.suffix in (".pt", ".pth", ".ckpt"):
            raise CheckpointError(
                "not a fusioninn checkpoint (a PyTorch pickle?); convert it with `fusioninn import-original`", path
            ) from None
        raise CheckpointError(f"not a readable safetensors checkpoint ({type(err).__name__})", path) from None
    if _META_KEY not in metadata:
        raise CheckpointError("safetensors file without fusioninn metadata (not one of our checkpoints)", path)
    try:
        meta = json.loads(metadata[_META_KEY])
    except json.JSONDecodeError:
        raise CheckpointError("checkpoint metadata is not valid JSON (file damaged?)", path) from None
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format {meta.get('format_version')} is newer than this fusioninn understands", path
        )
    data = CheckpointData(model_state={}, meta=meta)
    for k, v in tensors.items():
        if k.startswith(_MODEL_PREFIX):
            data.model_state[k[len(_MODEL_PREFIX):]] = v
        elif k.startswith(_OPTIM_PREFIX):
            data.optimizer_tensors[k[len(_OPTIM_PREFIX):]] = v
        elif k.startswith(_RNG_PREFIX):
            data.rng_tensors[k[len(_RNG_PREFIX):]] = v
    if verify and weights_sha256(data.model_state) != meta.get("weights_sha256"):
        raise CheckpointError("weights checksum mismatch: the file was modified or damaged", path)
    return data
