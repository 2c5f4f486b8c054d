"""Training: configuration and recipes, the trainer, checkpoints."""

from .checkpoint import CheckpointData, load_checkpoint, save_checkpoint
from .config import RECIPES, TrainConfig
from .trainer import Trainer, TrainResult, build_model, model_from_checkpoint

__all__ = [
    "RECIPES",
    "CheckpointData",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_model",
    "load_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
]
