"""Multi-scale max-gradient loss: the max-gradient rule of :mod:`.gradient` at several scales.

    L_msgrad = (1 / S) sum_{s=0}^{S-1} L_grad(P_s F, P_s S_1, P_s S_2),   P_s = s times 2x2 average pooling

At each level of an average-pooled image pyramid the fused image's Sobel gradient is pulled (L1) towards
that of the source with the larger Sobel magnitude there, as in :func:`.gradient.max_gradient_loss` (which
is level 0). A 3x3 Sobel operator at full resolution only sees edges a pixel or two wide; the pooled levels
ask for the wider, low-contrast boundaries (oedema against white matter) too. The max-gradient rule is
that of Zhang et al., PMGI (AAAI 2020, doi:10.1609/aaai.v34i07.6975); measuring gradients at several
scales follows U2Fusion (Xu et al., IEEE TPAMI 44(1), 2022, doi:10.1109/TPAMI.2020.3012548), whose
information measure sums gradient energies of feature maps from several depths of a VGG network - here
plain image pyramids stand in for the feature depths. Levels are averaged, not summed, so the weight does
not grow with the number of scales.
Not part of the published FusionINN loss: weight 0 by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._shapes import check_fused_and_sources
from .gradient import max_gradient_loss

__all__ = ["multiscale_gradient_loss"]


def multiscale_gradient_loss(fused: torch.Tensor, sources: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Mean over ``scales`` pyramid levels (2x average pooling between them) of the max-gradient L1 loss of
    a fused batch (N, 1, H, W) against its sources (N, 2, H, W). Levels whose image would be smaller than
    the 3x3 Sobel window are left out (a 16-pixel crop keeps three)."""
    check_fused_and_sources(fused, sources)
    if scales < 1:
        raise ValueError(f"scales must be >= 1, got {scales}")
    losses = []
    for s in range(scales):
        if s:
            if min(fused.shape[2:]) < 6:  # the next level would be under 3 pixels
                break
            fused, sources = F.avg_pool2d(fused, 2), F.avg_pool2d(sources, 2)
        losses.append(max_gradient_loss(fused, sources))
    return torch.stack(losses).mean()
