"""Images shared by the edge/detail loss tests: smooth blobs with edges, so every term has something to do."""

from __future__ import annotations

import torch


def blob_pair(n: int = 2, size: int = 32, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(n, 2, size, size): two different sources of discs and soft blobs in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=dtype), torch.arange(size, dtype=dtype), indexing="ij")
    out = torch.zeros(n, 2, size, size, dtype=dtype)
    for i in range(n):
        for c in range(2):
            for _ in range(3):
                cy, cx = (torch.rand(2, generator=g, dtype=dtype) * 0.6 + 0.2) * size
                r = (0.1 + 0.15 * torch.rand((), generator=g, dtype=dtype)) * size
                disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).to(dtype)
                soft = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
                out[i, c] += (0.5 if c == 0 else 0.2) * disc + 0.3 * soft * torch.rand((), generator=g, dtype=dtype)
    return out.clamp(0, 1)


def embed(small: torch.Tensor, size: int, offset: int) -> torch.Tensor:
    """``small`` (N, C, h, w) on a zero canvas of ``size`` at (offset, offset): content away from the border."""
    out = small.new_zeros(*small.shape[:2], size, size)
    h, w = small.shape[2:]
    out[:, :, offset:offset + h, offset:offset + w] = small
    return out
