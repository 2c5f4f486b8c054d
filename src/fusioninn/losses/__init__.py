"""Training losses of FusionINN (published weights as defaults)."""

from .fusion import FusionINNLoss, LossWeights, decomposition_loss, fusion_loss
from .mmd import mmd_multiscale

__all__ = ["FusionINNLoss", "LossWeights", "decomposition_loss", "fusion_loss", "mmd_multiscale"]
