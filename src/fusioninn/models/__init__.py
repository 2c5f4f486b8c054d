"""Networks: FusionINN and the baselines it is compared with, and the factory that builds them."""

from .backends import ExecutionOptions
from .factory import build_model, model_from_checkpoint
from .fusioninn import Decomposition, FusionINN, FusionINNConfig, Latent

__all__ = ["Decomposition", "ExecutionOptions", "FusionINN", "FusionINNConfig", "Latent", "build_model",
           "model_from_checkpoint"]
