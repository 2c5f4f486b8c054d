"""Grid-frequency penalty: keep the fused image free of a pattern that repeats every two pixels.

The three grid patterns m_k - the checkerboard (-1)^(i+j) and the line patterns (-1)^i, (-1)^j - carry
the frequencies (pi, pi), (pi, 0), (0, pi). As in :mod:`fusioninn.metrics.grid`, the image is filtered
with a 3x3 filter of gain 1 at frequency k (and none at 0 or the other two, so borders and smooth trends
do not leak in), demodulated by m_k and averaged over a window: the local amplitude of that pattern.
The penalty, in squared 8-bit grey levels, has two parts:

    L_grid = sum_k mean_batch (255 c_k(F))^2                                      (whole crop, the metric)
           + sum_k mean_pixels relu((255 A_k(F))^2 - max_i (255 A_k(S_i))^2)      (local, window w)

with c_k the crop's grid coefficient and A_k = box_w(image * m_k) the local amplitude: the first drives
the measured grid power towards zero, the second forbids, anywhere in the image, more local grid energy
than the stronger source has there (sources carry some: scanner noise is white). Our term, not part of
the published FusionINN loss; weight 0 by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._shapes import check_fused_and_sources

__all__ = ["grid_patterns", "grid_loss"]


def grid_patterns(h: int, w: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The three +-1 grid patterns (3, H, W): checkerboard, rows, columns."""
    i = 1.0 - 2.0 * (torch.arange(h, device=device) % 2).to(dtype)
    j = 1.0 - 2.0 * (torch.arange(w, device=device) % 2).to(dtype)
    return torch.stack([i[:, None] * j[None, :], i[:, None].expand(h, w), j[None, :].expand(h, w)])


def _grid_filters(dtype: torch.dtype, device) -> torch.Tensor:
    """(3, 1, 3, 3): the filters of :mod:`fusioninn.metrics.grid` (gain 1 at each grid frequency)."""
    hi = torch.tensor([-0.25, 0.5, -0.25], dtype=dtype, device=device)
    lo = torch.tensor([0.25, 0.5, 0.25], dtype=dtype, device=device)
    return torch.stack([torch.outer(hi, hi), torch.outer(hi, lo), torch.outer(lo, hi)]).unsqueeze(1)


def _demodulated(img: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, 3, H - 2, W - 2): local grid amplitudes, 8-bit grey levels, before averaging."""
    n, c, h, w = img.shape
    g = F.conv2d(img.reshape(n * c, 1, h, w), _grid_filters(img.dtype, img.device))
    m = grid_patterns(h, w, img.dtype, img.device)[:, 1:-1, 1:-1]
    return 255.0 * (g * m).view(n, c, 3, h - 2, w - 2)


def grid_loss(fused: torch.Tensor, sources: torch.Tensor, window: int = 16) -> torch.Tensor:
    """The grid penalty of a fused batch (N, 1, H, W) against its sources (N, 2, H, W), in grey levels^2."""
    check_fused_and_sources(fused, sources)
    if min(fused.shape[2:]) < 4:
        raise ValueError(f"the grid penalty needs images of at least 4 x 4 pixels, got {tuple(fused.shape[2:])}")
    demod_f = _demodulated(fused)[:, 0]  # (N, 3, H-2, W-2)
    global_term = (demod_f.mean((2, 3)) ** 2).sum(1).mean()
    win = min(window, *demod_f.shape[2:])
    stride = max(1, win // 2)
    local_f = F.avg_pool2d(demod_f, win, stride=stride)
    with torch.no_grad():
        demod_s = _demodulated(sources)  # (N, 2, 3, H-2, W-2)
        local_s = F.avg_pool2d(demod_s.flatten(1, 2), win, stride=stride)
        local_s = local_s.view(sources.shape[0], 2, 3, *local_s.shape[2:]).pow(2).amax(1)
    local_term = F.relu(local_f.pow(2) - local_s).sum(1).mean()
    return global_term + local_term
