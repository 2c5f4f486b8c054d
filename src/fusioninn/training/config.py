"""Training configuration and the two recipes (published and our CPU recipe).

``TrainConfig(recipe=...)`` and ``TrainConfig.from_recipe(recipe, **overrides)`` take every hyper-parameter
the caller does not give from :data:`RECIPES` [recipe] (default recipe: "fast"); the other fields have one
default for both recipes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..losses.fusion import OPTIONAL_FUSION_TERMS, LossWeights

__all__ = ["TrainConfig", "RECIPES", "recipe_defaults", "FROM_RECIPE"]


FROM_RECIPE: Any = object()  # marks a field whose value __post_init__ takes from the recipe

# The hyper-parameters each recipe sets (the rest of TrainConfig is common to both).
RECIPES: dict[str, dict] = {
    # Kumar et al.: Adam 3e-4, batch 64, 400 epochs, full 240x240 slices, ReduceLROnPlateau(0.95, 8).
    "paper": {"lr": 3e-4, "batch_size": 64, "epochs": 400, "crop": None, "warmup_steps": 0, "grad_clip": None,
              "fused_noise": 0.0},
    # Ours, for a CPU budget (docs/training.md explains each difference).
    "fast": {"lr": 1e-3, "batch_size": 8, "epochs": 60, "crop": 120, "warmup_steps": 20, "grad_clip": 1.0,
             "fused_noise": 1.0 / 255},
}


@dataclass
class TrainConfig:
    data: str = "phantom:256"
    val_data: str | None = None
    pair: tuple[str, str] = ("t1ce", "flair")
    val_fraction: float = 0.2
    model: str = "fusioninn"  # or a baseline name (deepfuse, unet, ...)
    recipe: str = "fast"
    # FusionINN capacity and initialisation (FusionINNConfig fields; defaults = the published network)
    widths: tuple[int, int, int] = (32, 64, 32)
    extra_couplings: int = 0
    init_mixing: str = "interleave"
    # from RECIPES[recipe] unless given
    epochs: int = FROM_RECIPE
    batch_size: int = FROM_RECIPE
    lr: float = FROM_RECIPE
    crop: int | None = FROM_RECIPE
    warmup_steps: int = FROM_RECIPE
    grad_clip: float | None = FROM_RECIPE
    # amplitude of uniform noise on the fused image the training decomposition sees (1/255: 8-bit rounding)
    fused_noise: float = FROM_RECIPE
    # perturbations of the fused image before the training reverse pass (fusioninn.perturb): a
    # comma-separated subset of jpeg,blur,shift,noise applied to a share of the images; None = none
    fused_perturb: str | None = None
    perturb_share: float = 0.5
    # augmentation of the source pairs (fusioninn.training.augment): "dihedral", "gamma[:S]" or both; None = none
    augment: str | None = None
    plateau_factor: float = 0.95
    plateau_patience: int = 8
    weight_decay: float = 0.0
    loss: LossWeights = field(default_factory=LossWeights)
    seed: int = 0
    memory_saving: bool = False  # FusionINN: recompute coupling activations in backward instead of storing
    init_weights: str | None = None  # start from these weights (fine-tuning) instead of a fresh model
    max_minutes: float | None = None
    max_steps: int | None = None  # stop (with a resumable checkpoint) after this many optimiser steps
    data_workers: int = 0  # DataLoader processes reading lazily read data (in-memory data is read in-process)
    checkpoint_minutes: float = 10.0
    val_max_images: int | None = 256
    device: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):
            self.loss = LossWeights(**{**self.loss, "mmd_scales": tuple(self.loss.get("mmd_scales", (0.05, 0.2, 0.9)))})
        self.pair = tuple(self.pair)
        self.widths = tuple(int(w) for w in self.widths)
        for key, value in recipe_defaults(self.recipe).items():
            if getattr(self, key) is FROM_RECIPE:
                setattr(self, key, value)
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs, batch size and learning rate must be positive")
        self._check_loss_weights()
        if self.fused_perturb is not None:
            from ..perturb import FusedPerturbation

            FusedPerturbation.from_spec(self.fused_perturb, self.perturb_share)  # raises ValueError if bad
        if self.augment is not None:
            from .augment import SourceAugmentation

            SourceAugmentation.from_spec(self.augment)  # raises ValueError if bad
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max steps must be >= 1, got {self.max_steps}")
        if self.data_workers < 0:
            raise ValueError(f"data workers must be >= 0, got {self.data_workers}")
        if self.crop is not None and (self.crop < 16 or self.crop % 2):
            raise ValueError(f"crop must be an even size >= 16, got {self.crop}")
        if self.model == "fusioninn":
            self.model_config()  # raises ValueError for widths/couplings/mixing the network refuses
        elif self.model_overrides():
            raise ValueError(f"{', '.join(sorted(self.model_overrides()))}: FusionINN options, not for model "
                             f"{self.model!r}")

    def _check_loss_weights(self) -> None:
        w = self.loss
        for name in ("ssim", "l2", "latent", "dec_r2", *OPTIONAL_FUSION_TERMS):
            if not (math.isfinite(getattr(w, name)) and getattr(w, name) >= 0):  # refuses NaN and inf too
                raise ValueError(f"loss weight {name} must be a finite number >= 0, got {getattr(w, name)}")
        for name in ("forward", "source_1"):
            if not 0 <= getattr(w, name) <= 1:
                raise ValueError(f"loss weight {name} must be between 0 and 1, got {getattr(w, name)}")

    def model_overrides(self) -> dict:
        """The FusionINN fields this config sets away from the recipe's network (what ``build_model`` gets);
        empty for the published capacity and initialisation, so such a run builds exactly the recipe's model."""
        out: dict = {}
        if self.widths != (32, 64, 32):
            out["widths"] = self.widths
        if self.extra_couplings:
            out["extra_couplings"] = self.extra_couplings
        if self.init_mixing != "interleave":
            out["init_mixing"] = self.init_mixing
        return out

    def model_config(self):
        """The :class:`~fusioninn.models.fusioninn.FusionINNConfig` this run trains (FusionINN only)."""
        from ..models.factory import fusioninn_config

        return fusioninn_config(self.recipe, **self.model_overrides())

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["loss"] = self.loss.to_dict()
        d["pair"] = list(self.pair)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_recipe(cls, recipe: str = "fast", **overrides: Any) -> TrainConfig:
        """The ``recipe``'s configuration ("paper": Kumar et al.; "fast": our CPU recipe) with ``overrides``."""
        return cls(recipe=recipe, **overrides)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def recipe_defaults(recipe: str) -> dict:
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
    return dict(RECIPES[recipe])
