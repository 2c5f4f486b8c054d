"""Networks: FusionINN and the baselines it is compared with."""

from .fusioninn import Decomposition, FusionINN, FusionINNConfig, Latent

__all__ = ["Decomposition", "FusionINN", "FusionINNConfig", "Latent"]
