"""Training losses of FusionINN (published weights as defaults)."""

from .fusion import OPTIONAL_FUSION_TERMS, FusionINNLoss, LossWeights, decomposition_loss, fusion_loss
from .gradient import max_gradient_loss, sobel_gradients
from .grid import grid_loss, grid_patterns
from .laplacian_detail import laplacian_detail_loss, laplacian_pyramid_torch
from .mmd import mmd_multiscale
from .multiscale_gradient import multiscale_gradient_loss
from .salience_intensity import salience_intensity_loss, salience_target, salience_weights

__all__ = ["OPTIONAL_FUSION_TERMS", "FusionINNLoss", "LossWeights", "decomposition_loss", "fusion_loss",
           "grid_loss", "grid_patterns", "laplacian_detail_loss", "laplacian_pyramid_torch", "max_gradient_loss",
           "mmd_multiscale", "multiscale_gradient_loss", "salience_intensity_loss", "salience_target",
           "salience_weights", "sobel_gradients"]
