"""Fusion, decomposition and total losses of FusionINN (Kumar et al., arXiv:2403.15769, Sec. 3).

    L_fusion = w_ssim * sum_i a_i (1 - SSIM(x_i, y)) + w_l2 * sum_i a_i MSE(y, x_i)
    L_dec    = w_ssim * sum_i a_i (1 - SSIM(x^_i, x_i)) + w_l2 * sum_i a_i MSE(x^_i, x_i)
    L        = w_fwd * (L_fusion + w_latent * L_latent) + (1 - w_fwd) * L_dec

with published weights w_ssim 0.8, w_l2 0.2, a = (0.5, 0.5), w_fwd 0.5, w_latent 1. Our option, not in
the paper: ``gradient`` > 0 adds w_grad * L_grad (:mod:`.gradient`, max-gradient edge term) to L_fusion,
``grid`` > 0 adds w_grid * L_grid (:mod:`.grid`, grid-frequency penalty), ``ms_gradient``,
``laplacian_detail`` and ``salience_intensity`` > 0 add the edge/detail terms of :mod:`.multiscale_gradient`,
:mod:`.laplacian_detail` and :mod:`.salience_intensity` (the same for FusionINN and the CNN baselines, since
they live in the fusion loss both train with), ``dec_r2`` > 0 adds
w_R2 * (1 - decomposition R²) (:mod:`.decomposition_r2`) to L_dec.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..filters import gaussian_window_1d, separable_filter, ssim_from_moments
from .decomposition_r2 import decomposition_r2_loss
from .gradient import max_gradient_loss
from .grid import grid_loss
from .laplacian_detail import laplacian_detail_loss
from .mmd import mmd_multiscale
from .multiscale_gradient import multiscale_gradient_loss
from .salience_intensity import salience_intensity_loss

__all__ = ["LossWeights", "fusion_loss", "decomposition_loss", "FusionINNLoss", "OPTIONAL_FUSION_TERMS"]


@dataclass
class LossWeights:
    ssim: float = 0.8
    l2: float = 0.2
    source_1: float = 0.5
    forward: float = 0.5
    latent: float = 1.0
    gradient: float = 0.0  # max-gradient edge term in the fusion loss; 0 = the published loss
    grid: float = 0.0  # grid-frequency penalty on the fused image (losses/grid.py); 0 = the published loss
    dec_r2: float = 0.0  # 1 - decomposition R² added to the decomposition loss (losses/decomposition_r2.py)
    ms_gradient: float = 0.0  # max-gradient rule on a 3-level pyramid (losses/multiscale_gradient.py)
    laplacian_detail: float = 0.0  # choose-max Laplacian-pyramid detail bands (losses/laplacian_detail.py)
    salience_intensity: float = 0.0  # intensity towards a local-energy-weighted mean (losses/salience_intensity.py)
    mmd_scales: tuple[float, ...] = (0.05, 0.2, 0.9)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mmd_scales"] = list(self.mmd_scales)
        return d


#: the optional fusion-loss terms: LossWeights field -> loss function (fused, sources) -> scalar. A term
#: with weight 0 is not computed at all (the published loss stays bit-identical) and not logged.
OPTIONAL_FUSION_TERMS = {
    "gradient": max_gradient_loss,
    "grid": grid_loss,
    "ms_gradient": multiscale_gradient_loss,
    "laplacian_detail": laplacian_detail_loss,
    "salience_intensity": salience_intensity_loss,
}


def _mean_per_channel(t: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) -> (C,): mean over the pixels, then over the batch."""
    return t.flatten(2).mean(-1).mean(0)


def _ssim_per_source(pred: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """SSIM (pytorch-msssim's conventions: 11-tap Gaussian, sigma 1.5, data range 1, valid windows) of
    ``pred`` (N, 1 or 2, H, W) against each source of ``x`` (N, 2, H, W), averaged: (2,)."""
    s_fus, _ = _ssim_fused_and_decomposed(x, pred, None)
    return s_fus


def _ssim_fused_and_decomposed(x: torch.Tensor, fused: torch.Tensor, dec: torch.Tensor | None
                               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-source SSIM of ``fused`` and of ``dec`` against ``x`` from ONE filtering pass: the source
    moments are shared by both terms (11 filtered maps instead of 20 for a fused image and a
    decomposition). ``fused`` may have one channel (compared with both sources) or two."""
    window = gaussian_window_1d(11, 1.5, dtype=x.dtype, device=x.device)
    cf, maps = fused.shape[1], [x, x * x, fused, fused * fused, fused * x]
    sizes = [2, 2, cf, cf, 2]
    if dec is not None:
        maps += [dec, dec * dec, dec * x]
        sizes += [2, 2, 2]
    # one split (one backward node) rather than slices, each of which would zero-fill a gradient
    m = separable_filter(torch.cat(maps, 1), window).split(sizes, 1)
    mu_x, e_xx = m[0], m[1]
    s_fus = _mean_per_channel(ssim_from_moments(m[2], mu_x, m[3], e_xx, m[4]))
    s_dec = None if dec is None else _mean_per_channel(ssim_from_moments(m[5], mu_x, m[6], e_xx, m[7]))
    return s_fus, s_dec


def _weighted(s: torch.Tensor, mse: torch.Tensor, w: LossWeights) -> torch.Tensor:
    a = torch.tensor([w.source_1, 1 - w.source_1], dtype=s.dtype, device=s.device)
    return w.ssim * (a * (1 - s)).sum() + w.l2 * (a * mse).sum()


def _two_source_loss(pred: torch.Tensor, target: torch.Tensor, w: LossWeights,
                     s: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """pred (N, 1 or 2, H, W) against target (N, 2, H, W); ``s``: the per-source SSIM if known."""
    s = _ssim_per_source(pred, target) if s is None else s
    mse = _mean_per_channel((pred - target) ** 2)
    loss = _weighted(s, mse, w)
    return loss, {"ssim_1": s[0].detach(), "ssim_2": s[1].detach(), "mse_1": mse[0].detach(), "mse_2": mse[1].detach()}


def fusion_loss(
    fused: torch.Tensor, x: torch.Tensor, weights: LossWeights | None = None, ssim: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict]:
    """Fusion loss of a fused batch (N, 1, H, W) against both sources (N, 2, H, W)."""
    w = weights or LossWeights()
    loss, parts = _two_source_loss(fused, x, w, ssim)
    for name, term in OPTIONAL_FUSION_TERMS.items():  # in this order, so the sum is that of earlier versions
        weight = getattr(w, name)
        if weight:
            value = term(fused, x)
            loss = loss + weight * value
            parts[name] = value.detach()
    return loss, parts


def decomposition_loss(
    decomposed: torch.Tensor, x: torch.Tensor, weights: LossWeights | None = None, ssim: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict]:
    """Decomposition loss of x^ (N, 2, H, W) against x (N, 2, H, W)."""
    return _two_source_loss(decomposed, x, weights or LossWeights(), ssim)


class FusionINNLoss(torch.nn.Module):
    """Total FusionINN loss from ``(x, fused, z, decomposed)``; returns the loss and its parts.

    The trainer's loss. Both SSIM terms come from one filtering pass (the sources' moments are shared),
    the same numbers as :func:`fusion_loss` + :func:`decomposition_loss` to float rounding."""

    def __init__(self, weights: LossWeights | None = None) -> None:
        super().__init__()
        self.weights = weights or LossWeights()

    def forward(
        self,
        x: torch.Tensor,
        fused: torch.Tensor,
        z: torch.Tensor,
        decomposed: torch.Tensor,
        z_target: torch.Tensor | None = None,
        z_peers: tuple[torch.Tensor, torch.Tensor] | None = None,
        latent_scale: float = 1.0,
        data_scale: float = 1.0,
    ) -> tuple[torch.Tensor, dict]:
        """``z_target``: the N(0, I) batch the MMD compares with (drawn here if None). For data-parallel
        training, ``z_peers`` = (latents of the ranks before, after this one), detached, so the MMD is that
        of the global batch; ``latent_scale`` (world size) and ``data_scale`` (local share of the global
        batch x world size) make the rank-averaged gradient equal to the single-process one."""
        w = self.weights
        s_fus, s_dec = _ssim_fused_and_decomposed(x, fused, decomposed)
        l_fus, fus_parts = fusion_loss(fused, x, w, s_fus)
        zf = z.reshape(z.shape[0], -1)
        if z_peers is not None:
            zf = torch.cat([z_peers[0].reshape(-1, zf.shape[1]), zf, z_peers[1].reshape(-1, zf.shape[1])])
        if w.latent:
            target = torch.randn_like(zf) if z_target is None else z_target.reshape(zf.shape)
            l_lat = mmd_multiscale(zf, target, w.mmd_scales)
        else:
            l_lat = zf.new_zeros(())
        l_lat_value = l_lat.detach()
        l_lat = l_lat * latent_scale
        l_dec, dec_parts = decomposition_loss(decomposed, x, w, s_dec)
        if w.dec_r2:
            l_r2 = decomposition_r2_loss(decomposed, x, fused.detach(), w.source_1)
            l_dec = l_dec + w.dec_r2 * l_r2
            dec_parts["r2_loss"] = l_r2.detach()
        if latent_scale == 1.0 and data_scale == 1.0:
            total = w.forward * (l_fus + w.latent * l_lat) + (1 - w.forward) * l_dec
        else:
            total = data_scale * (w.forward * l_fus + (1 - w.forward) * l_dec) + w.forward * w.latent * l_lat
        parts = {
            "loss": total.detach(),
            "fusion": l_fus.detach(),
            "latent": l_lat_value,
            "decomposition": l_dec.detach(),
            "fused_ssim": 0.5 * (fus_parts["ssim_1"] + fus_parts["ssim_2"]),
            "dec_ssim_1": dec_parts["ssim_1"],
            "dec_ssim_2": dec_parts["ssim_2"],
        }
        optional = [(name, fus_parts.get(name)) for name in OPTIONAL_FUSION_TERMS]
        for key, value in (*optional, ("dec_r2_loss", dec_parts.get("r2_loss"))):
            if value is not None:  # only when the term is on, so the published loss logs what it did
                parts[key] = value
        return total, parts
