"""The grid-frequency penalty (fusioninn.losses.grid)."""

import pytest
import torch
import torch.nn.functional as F

from fusioninn.losses.fusion import LossWeights, fusion_loss
from fusioninn.losses.grid import grid_loss, grid_patterns


def _smooth(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, size + 6, size + 6, generator=g)
    for _ in range(6):  # binomial smoothing: no response at the grid frequencies (a box of odd width has)
        x = F.avg_pool2d(x, 2, stride=1)
    return (x - x.amin()) / (x.amax() - x.amin())


def test_patterns_are_the_three_grid_patterns():
    m = grid_patterns(4, 6)
    assert m.shape == (3, 4, 6)
    assert m[0, 0, 0] == 1 and m[0, 0, 1] == -1 and m[0, 1, 1] == 1
    assert (m[1, 1] == -1).all() and (m[2, :, 1] == -1).all()


def test_zero_for_a_source_and_large_for_an_interleave():
    x = _smooth()
    assert float(grid_loss(x[:, :1], x)) < 0.01  # a source: no excess, and a global grid under 0.1 grey level
    i, j = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    interleave = torch.where(((i + j) % 2 == 0), x[:, 0], x[:, 1]).unsqueeze(1)  # pixel interleave
    assert float(grid_loss(interleave, x)) > 10 * float(grid_loss(x.mean(1, keepdim=True), x)) + 1.0


def test_known_amplitude_and_gradient():
    x = _smooth()
    m = grid_patterns(32, 32)
    fused = (x.mean(1, keepdim=True) + 2.0 / 255 * m[0]).requires_grad_(True)
    loss = grid_loss(fused, x)
    assert float(loss.detach()) > 4.0  # the global part alone is (2 grey levels)^2
    loss.backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0


def test_weight_zero_is_the_published_loss():
    x = _smooth()
    f = x.mean(1, keepdim=True)
    base, parts = fusion_loss(f, x, LossWeights())
    assert "grid" not in parts
    with_grid, parts = fusion_loss(f, x, LossWeights(grid=0.5))
    assert float(with_grid - base) == pytest.approx(float(0.5 * parts["grid"]), rel=1e-5)
