"""Build a model by name, or rebuild the one a checkpoint describes (refusing weights that do not fit).

Lives with the models so that loading weights (``fusioninn.load_pretrained``, the commands) needs neither
the trainer nor the training package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UserInputError
from .fusioninn import FusionINN, FusionINNConfig

__all__ = ["build_model", "fusioninn_config", "model_from_checkpoint"]


def _cnn_baselines() -> dict:
    from .baselines.registry import CNN_BASELINES

    return CNN_BASELINES


def fusioninn_config(recipe: str = "fast", **overrides: Any) -> FusionINNConfig:
    """The ``recipe``'s FusionINN network (``"paper"`` or ``"fast"``) with ``overrides`` of
    :class:`FusionINNConfig` fields (e.g. ``widths``, ``extra_couplings``, ``init_mixing``); ValueError
    for a combination the config refuses."""
    return FusionINNConfig(**overrides) if recipe == "paper" else FusionINNConfig.fast(**overrides)


def build_model(name: str = "fusioninn", recipe: str = "fast", **fusioninn_overrides: Any) -> torch.nn.Module:
    """A fresh model: ``"fusioninn"`` with the ``recipe``'s network (``"paper"`` or ``"fast"``) and
    ``fusioninn_overrides`` (see :func:`fusioninn_config`), or a CNN baseline by name."""
    if name == "fusioninn":
        return FusionINN(fusioninn_config(recipe, **fusioninn_overrides))
    if fusioninn_overrides:
        raise UserInputError(f"{', '.join(sorted(fusioninn_overrides))}: FusionINN options, not for model {name!r}")
    baselines = _cnn_baselines()
    if name not in baselines:
        raise UserInputError(f"unknown model {name!r}; choose fusioninn or one of {sorted(baselines)}")
    return baselines[name]()


def model_from_checkpoint(data: Any, path: str | Path = "") -> torch.nn.Module:
    """Rebuild the model a checkpoint describes (``data.meta``, ``data.model_state``, as
    :class:`fusioninn.training.checkpoint.CheckpointData` holds them) and load its weights, in eval mode."""
    meta = data.meta
    kind = meta.get("model", "fusioninn")
    if kind == "fusioninn":
        try:
            model = FusionINN(FusionINNConfig.from_dict(meta["model_config"]))
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"invalid FusionINN config in checkpoint ({err})", path) from None
    else:
        baselines = _cnn_baselines()
        if kind not in baselines:
            raise CheckpointError(f"checkpoint of unknown architecture {kind!r}", path)
        model = baselines[kind]()
    expected = model.state_dict()
    got = data.model_state
    missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"weights do not fit the {kind} architecture (missing {missing[:3]}, unexpected {unexpected[:3]})", path
        )
    for k, v in expected.items():
        if tuple(v.shape) != tuple(got[k].shape):
            raise CheckpointError(
                f"weights do not fit the {kind} architecture ({k}: {tuple(got[k].shape)} vs {tuple(v.shape)})", path
            )
    try:
        model.load_state_dict(got)
    except ValueError as err:  # e.g. a non-default iRevNet kernel
        raise CheckpointError(f"weights do not fit the {kind} architecture ({err})", path) from None
    return model.eval()
