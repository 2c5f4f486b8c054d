"""Laplacian-pyramid detail loss: the fused image's band-pass coefficients should be the choose-max of
the sources', level by level.

    L_lap = (1 / K) sum_{k=0}^{K-1} mean | L_k(F) - T_k |,   T_k = L_k(S_1) where |L_k(S_1)| >= |L_k(S_2)|,
                                                                   L_k(S_2) elsewhere

with L_k the k-th detail band of the Burt-Adelson Laplacian pyramid (Burt & Adelson, "The Laplacian
pyramid as a compact image code", IEEE Trans. Commun. 31(4), 1983, doi:10.1109/TCOM.1983.1095851). The
per-coefficient larger-magnitude selection is the detail rule of Laplacian-pyramid fusion (Burt &
Kolczynski, ICCV 1993; our ``laplacian`` baseline, :func:`fusioninn.models.baselines.rules.fuse_laplacian`),
so this term asks a learned model for the detail that rule keeps, while the base (low-pass residual) is
left to the SSIM/L2 terms. The pyramid here is a differentiable torch version of that baseline's NumPy one
(same 5-tap kernel, same half-sample symmetric borders, same odd-size handling; tests check they agree),
which cannot be reused directly because it runs in NumPy. Not part of the published FusionINN loss:
weight 0 by default.
"""

from __future__ import annotations

import torch

from ._shapes import check_fused_and_sources

__all__ = ["laplacian_pyramid_torch", "laplacian_detail_loss"]

_BURT = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)


def _symmetric_pad2(x: torch.Tensor) -> torch.Tensor:
    """Pad H and W by 2 with the edge sample repeated (d c b a | a b c d), SciPy's ``reflect`` mode that
    the NumPy pyramid uses; torch's own ``reflect`` leaves the edge sample out."""
    x = torch.cat([x[..., :2].flip(-1), x, x[..., -2:].flip(-1)], -1)
    return torch.cat([x[..., :2, :].flip(-2), x, x[..., -2:, :].flip(-2)], -2)


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Separable 5-tap Burt-Adelson low-pass of every channel of (N, C, H, W), same size.

    As weighted sums of shifted views rather than convolutions: for one or a few channels the 1-D
    convolutions (and their backward) cost several times more on the CPU than these few elementwise ops."""
    k = [t * gain for t in _BURT]
    y = _symmetric_pad2(x)
    w = x.shape[-1]
    y = k[0] * (y[..., 0:w] + y[..., 4:w + 4]) + k[1] * (y[..., 1:w + 1] + y[..., 3:w + 3]) + k[2] * y[..., 2:w + 2]
    h = x.shape[-2]
    return (k[0] * (y[..., 0:h, :] + y[..., 4:h + 4, :]) + k[1] * (y[..., 1:h + 1, :] + y[..., 3:h + 3, :])
            + k[2] * y[..., 2:h + 2, :])


def _expand(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Zero insertion up to ``shape`` then low-pass with gain 2 per axis (the NumPy rule's ``_expand``)."""
    up = x.new_zeros(*x.shape[:2], *shape)
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=2.0)


def laplacian_pyramid_torch(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of every channel of (N, C, H, W): ``levels`` detail bands, finest first, then the
    base; band k = G_k - expand(G_{k+1}), G_{k+1} = blur(G_k)[::2, ::2]. Differentiable."""
    if x.ndim != 4:
        raise ValueError(f"expected an (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    bands, g = [], x
    for _ in range(levels):
        if min(g.shape[2:]) < 2:
            raise ValueError(f"image side {min(g.shape[2:])} is too small for another pyramid level")
        smaller = _blur(g)[:, :, ::2, ::2]
        bands.append(g - _expand(smaller, tuple(g.shape[2:])))
        g = smaller
    bands.append(g)
    return bands


def detail_levels(shape: tuple[int, int], levels: int = 4) -> int:
    """``levels``, lowered so that the base keeps at least 4 pixels on its short side (as the baseline)."""
    n, h, w = 0, shape[0], shape[1]
    while n < levels and min(h, w) >= 8:
        h, w, n = (h + 1) // 2, (w + 1) // 2, n + 1
    return n


def laplacian_detail_loss(fused: torch.Tensor, sources: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Mean over the detail bands of the L1 distance between the fused batch's (N, 1, H, W) Laplacian
    coefficients and the larger-magnitude coefficient of its two sources (N, 2, H, W)."""
    check_fused_and_sources(fused, sources)
    n = detail_levels(tuple(fused.shape[2:]), levels)
    if n == 0:
        raise ValueError(f"the Laplacian detail loss needs images of at least 8 x 8 pixels, got "
                         f"{tuple(fused.shape[2:])}")
    # the sources' pyramid without autograd: backward then runs through the fused image's filters only
    # (a third of the work of one three-channel pyramid)
    with torch.no_grad():
        source_bands = laplacian_pyramid_torch(sources, n)[:-1]
    fused_bands = laplacian_pyramid_torch(fused, n)[:-1]
    losses = []
    for f, s in zip(fused_bands, source_bands, strict=True):
        a, b = s[:, :1], s[:, 1:]
        target = torch.where(a.abs() >= b.abs(), a, b)
        losses.append((f - target).abs().mean())
    return torch.stack(losses).mean()
