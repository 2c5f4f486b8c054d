"""Checkpoints: one safetensors file holding the weights (and, for training runs, the optimizer and RNG
state), with a JSON document in the safetensors metadata (config, versions, training state, checksum).

Never pickled. One file means one atomic rename: a killed write leaves the previous checkpoint intact.

Integrity (format 2). Everything that determines behaviour is checksummed and verified on every load:
the SHA-256 of the model weights, of the optimiser tensors, of the RNG tensors and of the metadata
document itself (model and training config, epoch and step counters, scheduler, running sums, ...; all of
it but the checksums) are stored, and a file whose part does not verify is refused naming that part
("optimiser state checksum mismatch"). ``weights_sha256`` alone also identifies a model (latents record
it). Format-1 files (written before format 2) carry the weights checksum only; they still load, verified
on their weights, and are re-written as format 2 the next time a run saves them.
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

__all__ = ["CheckpointData", "save_checkpoint", "load_checkpoint", "weights_sha256", "meta_sha256", "FORMAT_VERSION",
           "average_weights"]

FORMAT_VERSION = 2
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


# the parts of a checkpoint, each with its own checksum (so a failure can say which part is damaged)
_PARTS = (("weights", _MODEL_PREFIX, "weights_sha256"), ("optimiser state", _OPTIM_PREFIX, "optimizer_sha256"),
          ("RNG state", _RNG_PREFIX, "rng_sha256"))
_CHECKSUM_KEYS = tuple(key for _, _, key in _PARTS) + ("meta_sha256",)


def meta_sha256(meta: dict[str, Any]) -> str:
    """Checksum of the metadata document without its checksum fields (canonical JSON: sorted keys)."""
    body = {k: v for k, v in meta.items() if k not in _CHECKSUM_KEYS}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: str | Path, data: CheckpointData) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename), checksummed throughout."""
    from safetensors.torch import save_file

    path = Path(path)
    parts = {
        _MODEL_PREFIX: {k: v.detach().to("cpu").contiguous() for k, v in data.model_state.items()},
        _OPTIM_PREFIX: {k: v.detach().to("cpu").contiguous() for k, v in data.optimizer_tensors.items()},
        _RNG_PREFIX: {k: v.detach().to("cpu").contiguous() for k, v in data.rng_tensors.items()},
    }
    tensors: dict[str, torch.Tensor] = {prefix + k: v for prefix, part in parts.items() for k, v in part.items()}
    meta = {k: v for k, v in data.meta.items() if k not in _CHECKSUM_KEYS}
    meta["format_version"] = FORMAT_VERSION
    meta.setdefault("versions", _versions())
    for _, prefix, key in _PARTS:
        meta[key] = weights_sha256(parts[prefix])
    meta["meta_sha256"] = meta_sha256(meta)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={_META_KEY: json.dumps(meta, sort_keys=True)})
    return path


def load_checkpoint(path: str | Path, verify: bool = True) -> CheckpointData:
    """Read a checkpoint written by :func:`save_checkpoint`; refuses anything else, and anything that does
    not verify, with a one-line :class:`CheckpointError` naming the file and the damaged part."""
    from safetensors import safe_open

    from ..inputs import check_regular_file

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise CheckpointError("checkpoint not found", path)
    check_regular_file(path, ".safetensors checkpoint file")
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
    if not isinstance(meta, dict):
        raise CheckpointError("checkpoint metadata is not a JSON object (file damaged?)", path)
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"checkpoint format_version {version!r} is not a number (file damaged?)", path)
    if version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format {version} is newer than this fusioninn understands", path)
    data = CheckpointData(model_state={}, meta=meta)
    parts = {_MODEL_PREFIX: data.model_state, _OPTIM_PREFIX: data.optimizer_tensors, _RNG_PREFIX: data.rng_tensors}
    for k, v in tensors.items():
        for prefix, part in parts.items():
            if k.startswith(prefix):
                part[k[len(prefix):]] = v
                break
        else:
            if verify and version >= 2:
                raise CheckpointError(f"tensor {k!r} belongs to no part of a fusioninn checkpoint (file damaged?)",
                                      path)
    if verify:
        _verify(path, meta, parts, version)
    return data


def _verify(path: Path, meta: dict, parts: dict, version: int) -> None:
    checked = _PARTS if version >= 2 else _PARTS[:1]  # format 1 carried the weights checksum only
    for what, prefix, key in checked:
        if weights_sha256(parts[prefix]) != meta.get(key):
            detail = "the file was modified or damaged"
            raise CheckpointError(f"{what} checksum mismatch: {detail}", path)
    if version >= 2 and meta_sha256(meta) != meta.get("meta_sha256"):
        raise CheckpointError("metadata checksum mismatch (config, epoch or other settings were edited): the file "
                              "was modified or damaged", path)
    state = parts[_MODEL_PREFIX]
    for name in sorted(state):
        t = state[name]
        if t.layout != torch.strided:
            raise CheckpointError(f"weight {name} is a {t.layout} tensor, expected a dense one", path)
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"weight {name} holds NaN or infinite values (a diverged run?)", path)


#: Metadata a weights-only file keeps from a training checkpoint (scripts/package_weights.py, average_weights).
WEIGHTS_META_KEYS = ("model", "model_config", "train_config", "epoch", "global_step", "minutes", "metrics", "data",
                     "versions")


def _normalised(meta: dict, key: str) -> Any:
    """``meta[key]``; a FusionINN config with its defaults filled in, so that one written before a field existed
    compares equal to the same architecture written after."""
    value = meta.get(key)
    if key == "model_config" and meta.get("model") == "fusioninn" and isinstance(value, dict):
        from ..models.fusioninn import FusionINNConfig

        try:
            return FusionINNConfig.from_dict(value).to_dict()
        except (TypeError, ValueError):
            return value
    return value


def average_weights(checkpoints: list[tuple[str, CheckpointData]]) -> CheckpointData:
    """Uniform average of the model weights of several checkpoints of one architecture (stochastic weight
    averaging over snapshots of a run, Izmailov et al., UAI 2018), as a weights-only checkpoint.

    ``checkpoints`` are ``(name, data)`` pairs in training order; the metadata is the last one's, plus
    ``averaged_from`` (name, step and weights checksum of each). Refused with a :class:`CheckpointError`
    naming the file: fewer than two, another model or model configuration, other tensor names, shapes or
    dtypes, or integer tensors (permutation buffers) that differ.
    """
    if len(checkpoints) < 2:
        raise CheckpointError("averaging needs at least two checkpoints", checkpoints[0][0] if checkpoints else "-")
    first_name, first = checkpoints[0]
    for name, data in checkpoints[1:]:
        for key in ("model", "model_config"):
            if _normalised(data.meta, key) != _normalised(first.meta, key):
                raise CheckpointError(f"its {key} differs from {first_name}'s: only weights of one architecture "
                                      "can be averaged", name)
        if set(data.model_state) != set(first.model_state):
            raise CheckpointError(f"its weight names differ from {first_name}'s", name)
        for k, v in data.model_state.items():
            ref = first.model_state[k]
            if v.shape != ref.shape or v.dtype != ref.dtype:
                raise CheckpointError(f"weight {k} is {v.dtype} {tuple(v.shape)}, {first_name} has "
                                      f"{ref.dtype} {tuple(ref.shape)}", name)
            if not v.is_floating_point() and not torch.equal(v, ref):
                raise CheckpointError(f"integer tensor {k} differs from {first_name}'s (another permutation?)", name)
    state = {}
    for k, ref in first.model_state.items():
        if ref.is_floating_point():
            # float64 accumulation: the mean does not depend on the order of the checkpoints beyond round-off
            total = sum(d.model_state[k].to(torch.float64) for _, d in checkpoints)
            state[k] = (total / len(checkpoints)).to(ref.dtype)
        else:
            state[k] = ref.clone()
    last = checkpoints[-1][1].meta
    meta = {k: last[k] for k in WEIGHTS_META_KEYS if k in last}
    meta["kind"] = "weights"
    meta["averaged_from"] = [{"file": str(name), "global_step": d.meta.get("global_step"),
                              "weights_sha256": weights_sha256(d.model_state)} for name, d in checkpoints]
    return CheckpointData(model_state=state, meta=meta)
