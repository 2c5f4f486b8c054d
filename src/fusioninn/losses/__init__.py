"""Training losses of FusionINN (published weights as defaults)."""

from .fusion import FusionINNLoss, LossWeights, decomposition_loss, fusion_loss
from .gradient import max_gradient_loss, sobel_gradients
from .grid import grid_loss, grid_patterns
from .mmd import mmd_multiscale

__all__ = ["FusionINNLoss", "LossWeights", "decomposition_loss", "fusion_loss", "grid_loss", "grid_patterns",
           "max_gradient_loss", "mmd_multiscale",
           "sobel_gradients"]
