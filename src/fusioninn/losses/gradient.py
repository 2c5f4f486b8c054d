"""Max-gradient loss: the fused image should carry the stronger source's edge at every pixel.

    L_grad = mean | grad F - grad S* |_1,   S* = the source with the larger Sobel magnitude at that pixel

Gradients are 3x3 Sobel responses over the valid interior, the operator of the Xydeas-Petrovic metric
Q_XY (Electronics Letters 36(4), 2000, doi:10.1049/el:20000267) that this term serves. Targeting the
stronger source's gradient is the max-gradient rule of unsupervised fusion losses (e.g. Zhang et al.,
"Rethinking the image fusion: a fast unified image fusion network based on proportional maintenance of
gradient and intensity", AAAI 2020, doi:10.1609/aaai.v34i07.6975). Comparing the gradient vectors, not
only their magnitudes, also asks for the source's edge orientation and needs no square root (whose
gradient is singular in flat regions). Not part of the published FusionINN loss: weight 0 by default.
"""

from __future__ import annotations

import torch

from ..filters import sobel_gradients
from ._shapes import check_fused_and_sources

__all__ = ["sobel_gradients", "max_gradient_loss"]


def max_gradient_loss(fused: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between the fused image's Sobel gradient (N, 1, H, W) and, per pixel, the gradient
    of whichever source (N, 2, H, W) has the larger Sobel magnitude there."""
    check_fused_and_sources(fused, sources)
    # the sources' responses and the choice of the stronger one outside autograd: backward then runs
    # through the fused image's filter only
    with torch.no_grad():
        sx, sy = sobel_gradients(sources)
        first_stronger = (sx[:, :1] ** 2 + sy[:, :1] ** 2) >= (sx[:, 1:] ** 2 + sy[:, 1:] ** 2)
        tx = torch.where(first_stronger, sx[:, :1], sx[:, 1:])
        ty = torch.where(first_stronger, sy[:, :1], sy[:, 1:])
    fx, fy = sobel_gradients(fused)
    return 0.5 * ((fx - tx).abs() + (fy - ty).abs()).mean()
