"""High-level entry points: the shipped model, any of our checkpoints, and original-code imports."""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path

import torch

from .errors import CheckpointError
from .models.factory import model_from_checkpoint
from .models.fusioninn import FusionINN, FusionINNConfig
from .training.checkpoint import CheckpointData, load_checkpoint, save_checkpoint

__all__ = ["DEFAULT_WEIGHTS", "NAMED_WEIGHTS", "default_weights_path", "load_pretrained", "load_model",
           "import_original", "named_weights_path", "save_model"]

DEFAULT_WEIGHTS = "fusioninn_default.safetensors"


def default_weights_path() -> Path:
    """Path of the weights shipped inside the package."""
    return Path(str(resources.files("fusioninn") / "weights" / DEFAULT_WEIGHTS))


#: FusionINN weights shipped under a name (``--model NAME``): name -> file in the package's weights/
#: folder (src/fusioninn/weights/MODEL_CARD.md says what each was trained for).
NAMED_WEIGHTS = {
    "fusioninn": DEFAULT_WEIGHTS,
    "fusioninn-v1": "fusioninn_v1.safetensors",
    "fusioninn-clean": "fusioninn_clean.safetensors",
    "fusioninn-robust": "fusioninn_robust.safetensors",
}


def named_weights_path(name: str) -> Path | None:
    """The shipped weights called ``name`` (see :data:`NAMED_WEIGHTS`), or None if there are none."""
    file = NAMED_WEIGHTS.get(str(name))
    if file is None:
        return None
    p = Path(str(resources.files("fusioninn") / "weights" / file))
    return p if p.exists() else None


def load_model(path: str | Path | None = None, device: str | torch.device | None = None) -> torch.nn.Module:
    """Load any fusioninn checkpoint: a FusionINN or a CNN baseline (``path=None``: the shipped FusionINN;
    a name of :data:`NAMED_WEIGHTS` such as ``"fusioninn-v1"``: those shipped weights, unless a file of
    that name exists).

    Returns the model in eval mode on ``device`` (CPU by default).
    """
    if path is not None and not Path(path).exists() and named_weights_path(str(path)) is not None:
        path = named_weights_path(str(path))
    p = default_weights_path() if path is None else Path(path)
    if path is None and not p.exists():
        raise CheckpointError("the shipped weights are missing from this installation", p)
    model = model_from_checkpoint(load_checkpoint(p), p)
    return model.to(device or "cpu").eval()


def load_pretrained(path: str | Path | None = None, device: str | torch.device | None = None) -> FusionINN:
    """Load the shipped FusionINN (``path=None``) or a FusionINN checkpoint (a run's or an imported one).

    Returns the model in eval mode on ``device`` (CPU by default); a CNN baseline's checkpoint is refused
    (:func:`load_model` reads those).
    """
    model = load_model(path, device)
    if not isinstance(model, FusionINN):
        raise CheckpointError("is a fusion-only baseline; fuse/decompose need a FusionINN checkpoint",
                              default_weights_path() if path is None else path)
    return model


def _original_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        raise CheckpointError("is a safetensors file, not an original .pt; fusioninn checkpoints need no import "
                              "(pass them with --model)", path)
    from .atomic import note_input
    from .inputs import check_regular_file

    check_regular_file(path, ".pt file", "is a directory, expected a .pt file")
    note_input(path)
    try:
        with warnings.catch_warnings():  # torch warns on stderr about pickle protocols: one line per error
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError("file not found", path) from None
    except IsADirectoryError:
        raise CheckpointError("is a directory, expected a .pt file", path) from None
    except Exception as err:  # weights_only refuses arbitrary pickles; corrupt files raise various errors
        msg = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise CheckpointError(f"not a loadable weights-only PyTorch checkpoint ({msg})", path) from None
    if isinstance(obj, dict) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("expected {'model_state_dict': state_dict} or a plain state dict", path)
    # DataParallel (the original trained on two GPUs) prefixes every key with "module."
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def import_original(path: str | Path, out: str | Path | None = None) -> FusionINN:
    """Load a checkpoint saved by the original research code (``torch.save({"model_state_dict": ...})`` of
    its FrEIA GraphINN) with ``weights_only=True`` — no arbitrary unpickling — into a published-config
    :class:`FusionINN`; optionally save it as one of our checkpoints at ``out``.
    """
    path = Path(path)
    state = _original_state_dict(path)
    model = FusionINN(FusionINNConfig.paper())
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"not a FusionINN graph of the published architecture (missing {missing[:3]}, unexpected {unexpected[:3]})",
            path,
        )
    for k, v in expected.items():
        t = state[k]
        if t.layout != torch.strided:
            raise CheckpointError(f"{k} is a {t.layout} tensor, expected a dense one", path)
        if tuple(t.shape) != tuple(v.shape):
            raise CheckpointError(f"{k} has shape {tuple(t.shape)}, expected {tuple(v.shape)}", path)
        if v.is_floating_point() and not t.is_floating_point():
            raise CheckpointError(f"{k} holds {t.dtype} values, expected floating-point weights", path)
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{k} holds NaN or infinite values", path)
    try:
        model.load_state_dict({k: state[k].to(v.dtype) for k, v in expected.items()})
    except ValueError as err:  # a non-default iRevNet kernel
        raise CheckpointError(str(err), path) from None
    model.eval()
    if out is not None:
        save_checkpoint(
            out,
            CheckpointData(
                model_state=model.state_dict(),
                meta={"kind": "imported", "model": "fusioninn", "model_config": model.config.to_dict(),
                      "source": path.name},
            ),
        )
    return model


def save_model(model: FusionINN, path: str | Path, **meta) -> Path:
    """Save a FusionINN's weights and config as a fusioninn checkpoint (what ``load_pretrained`` reads)."""
    info = {"kind": "weights", "model": "fusioninn", "model_config": model.config.to_dict(), **meta}
    return save_checkpoint(path, CheckpointData(model_state=model.state_dict(), meta=info))
