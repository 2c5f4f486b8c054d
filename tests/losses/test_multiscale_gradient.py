import pytest
import torch
import torch.nn.functional as F
from _edge_cases import blob_pair, embed

from fusioninn.losses import max_gradient_loss, multiscale_gradient_loss


def test_one_scale_is_the_max_gradient_loss_and_each_level_is_averaged():
    x = blob_pair()
    fused = x.mean(1, keepdim=True)
    torch.testing.assert_close(multiscale_gradient_loss(fused, x, scales=1), max_gradient_loss(fused, x))
    level = torch.cat([fused, x], 1)
    by_hand = []
    for _ in range(3):
        by_hand.append(max_gradient_loss(level[:, :1], level[:, 1:]))
        level = F.avg_pool2d(level, 2)
    torch.testing.assert_close(multiscale_gradient_loss(fused, x), torch.stack(by_hand).mean())


def test_zero_when_the_fused_image_carries_the_stronger_edges_at_every_scale():
    x = blob_pair()
    flat = torch.zeros_like(x[:, :1])  # 0 pools to exactly 0 (0.3 would leave rounding-sized gradients)
    for k in (0, 1):  # one source has all the edges; the other is flat
        sources = torch.cat([x[:, :1], flat] if k == 0 else [flat, x[:, :1]], 1)
        assert float(multiscale_gradient_loss(x[:, :1], sources)) == 0.0
    same = torch.cat([x[:, 1:], x[:, 1:]], 1)
    assert float(multiscale_gradient_loss(x[:, 1:], same)) == 0.0
    # the average of two different sources softens both sets of edges: penalised, more than an edge-rich image
    avg = x.mean(1, keepdim=True)
    assert float(multiscale_gradient_loss(avg, x)) > 0.0
    assert float(multiscale_gradient_loss(torch.full_like(avg, 0.3), x)) > float(multiscale_gradient_loss(avg, x))


def test_coarse_levels_ignore_a_pixel_grid_and_weigh_wide_structure_more():
    x = blob_pair(seed=3)
    sources = torch.cat([x[:, :1], torch.zeros_like(x[:, :1])], 1)
    ii, jj = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = (1.0 - 2.0 * ((ii + jj) % 2)).to(x.dtype)
    # a checkerboard error is seen at full resolution only (2x2 pooling cancels it): a third of the
    # single-scale loss
    fine = x[:, :1] + 0.05 * checker
    torch.testing.assert_close(multiscale_gradient_loss(fine, sources), max_gradient_loss(fine, sources) / 3)
    # a wide, smooth brightness error grows per pixel of the pooled levels (their pixels are larger)
    bump = torch.exp(-((ii - 16.0) ** 2 + (jj - 16.0) ** 2) / (2 * 8.0**2)).to(x.dtype)
    wide = x[:, :1] + 0.2 * bump
    assert float(multiscale_gradient_loss(wide, sources)) > 1.5 * float(max_gradient_loss(wide, sources))


def test_flip_and_translation_consistent():
    x = blob_pair(size=24, seed=1)
    fused = 0.6 * x[:, :1] + 0.3 * x[:, 1:]
    ref = multiscale_gradient_loss(fused, x)
    for dims in ((3,), (2,), (2, 3)):
        torch.testing.assert_close(multiscale_gradient_loss(fused.flip(dims), x.flip(dims)), ref)
    # a shift by a multiple of the coarsest pooling (4 pixels) on a zero canvas: the same loss
    a = multiscale_gradient_loss(embed(fused, 64, 8), embed(x, 64, 8))
    b = multiscale_gradient_loss(embed(fused, 64, 28), embed(x, 64, 28))
    torch.testing.assert_close(a, b)


def test_finite_gradients_also_on_flat_images_and_small_crops():
    for x in (blob_pair(size=16, dtype=torch.float32), torch.zeros(2, 2, 16, 16)):
        fused = x.mean(1, keepdim=True).clone().requires_grad_(True)
        multiscale_gradient_loss(fused, x).backward()
        assert torch.isfinite(fused.grad).all()
    assert float(multiscale_gradient_loss(torch.rand(1, 1, 5, 5), torch.rand(1, 2, 5, 5))) >= 0  # one level only


def test_shape_errors():
    with pytest.raises(ValueError, match="expected fused"):
        multiscale_gradient_loss(torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="scales"):
        multiscale_gradient_loss(torch.rand(1, 1, 8, 8), torch.rand(1, 2, 8, 8), scales=0)
