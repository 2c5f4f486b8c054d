"""Networks: FusionINN and the baselines it is compared with."""

from .fusioninn import FusionINN, FusionINNConfig, Latent

__all__ = ["FusionINN", "FusionINNConfig", "Latent"]
