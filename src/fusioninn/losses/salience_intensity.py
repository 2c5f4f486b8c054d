"""Salience-weighted intensity loss: the fused brightness should follow the locally more salient source.

    L_sal = mean | F - (w_1 S_1 + w_2 S_2) |,   w_i = softmax_i( E_i / (tau * (E_1 + E_2) / 2 + eps) ),
    E_i = box_r(S_i^2)   (local energy of source i in an r x r window)

The target is a soft per-pixel maximum: where one source has clearly more local energy (a bright lesion in
FLAIR, enhancing rim in T1ce) the fused intensity is pulled towards that source, where both are alike
towards their mean. Dividing by the mean energy makes the weights depend on the sources' relative energy
only (the same weights for a pair of images scaled alike; equal weights where both are 0, e.g. outside
a skull-stripped brain); ``tau`` sets how hard the choice is (tau -> 0: the more energetic source, tau -> inf: the
average). Weights from a window-averaged activity map, normalised over the sources, are the weighted-
average rule of DenseFuse's fusion layer (Li & Wu, "DenseFuse: a fusion approach to infrared and visible
images", IEEE TIP 28(5), 2019, doi:10.1109/TIP.2018.2887342: l1-norm activity of the features, averaged
over a small block); U2Fusion (Xu et al., IEEE TPAMI 44(1), 2022, doi:10.1109/TPAMI.2020.3012548) turns
per-source information measures into loss weights through a softmax with a temperature, as here
(per image there, per pixel here). The published FusionINN loss pulls towards both sources equally
(a = 0.5, 0.5), a washed-out average where they disagree. L1, so it does not fight the L2 term where the
two agree. Not part of the published FusionINN loss: weight 0 by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._shapes import check_fused_and_sources

__all__ = ["salience_weights", "salience_target", "salience_intensity_loss"]


def salience_weights(sources: torch.Tensor, window: int = 7, temperature: float = 0.25,
                     eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel weights (N, 2, H, W), summing to 1 over the two sources (N, 2, H, W). ``eps`` is a floor
    on the energy scale: where both sources are darker than ~sqrt(eps / tau) (a few 1/1000 for the
    defaults) the weights tend to equal, so that noise in a dark background does not pick a source."""
    if sources.ndim != 4 or sources.shape[1] != 2:
        raise ValueError(f"expected sources (N, 2, H, W), got {tuple(sources.shape)}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd size, got {window}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    # count_include_pad=False: at the border the window's mean is over the pixels inside the image, so a
    # flipped image gets flipped weights and a border pixel is not darkened by padding
    # separably (rows, then columns): the same means over the window's part inside the image, 2r instead
    # of r^2 additions per pixel
    r = window // 2
    energy = F.avg_pool2d(sources * sources, (window, 1), stride=1, padding=(r, 0), count_include_pad=False)
    energy = F.avg_pool2d(energy, (1, window), stride=1, padding=(0, r), count_include_pad=False)
    scale = temperature * energy.mean(1, keepdim=True) + eps
    return torch.softmax(energy / scale, dim=1)


def salience_target(sources: torch.Tensor, window: int = 7, temperature: float = 0.25) -> torch.Tensor:
    """The salience-weighted mean of the two sources (N, 2, H, W): (N, 1, H, W)."""
    return (salience_weights(sources, window, temperature) * sources).sum(1, keepdim=True)


def salience_intensity_loss(fused: torch.Tensor, sources: torch.Tensor, window: int = 7,
                            temperature: float = 0.25) -> torch.Tensor:
    """Mean L1 distance between a fused batch (N, 1, H, W) and the salience-weighted mean of its sources."""
    check_fused_and_sources(fused, sources)
    with torch.no_grad():  # the target depends on the sources only
        target = salience_target(sources, window, temperature)
    return (fused - target).abs().mean()
