import numpy as np
import pytest
import torch
from _edge_cases import blob_pair, embed

from fusioninn.losses import laplacian_detail_loss, laplacian_pyramid_torch
from fusioninn.losses.laplacian_detail import detail_levels
from fusioninn.models.baselines.rules import fuse_average, fuse_laplacian, laplacian_levels, laplacian_pyramid


@pytest.mark.parametrize("shape", [(32, 32), (33, 33), (31, 46), (120, 120), (17, 9)])
def test_torch_pyramid_agrees_with_the_laplacian_rules_numpy_pyramid(shape):
    img = np.random.default_rng(1).random((2, *shape))
    levels = laplacian_levels(shape, 4)
    ref = laplacian_pyramid(img, levels)
    ours = laplacian_pyramid_torch(torch.from_numpy(img)[:, None], levels)
    assert len(ours) == len(ref) == levels + 1
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a[:, 0].numpy(), b, rtol=0, atol=1e-12)


def test_levels_follow_the_rule_and_small_images_are_refused():
    for shape in ((240, 240), (120, 120), (16, 16), (9, 40), (8, 8)):
        assert detail_levels(shape, 4) == laplacian_levels(shape, 4)
    with pytest.raises(ValueError, match="at least 8 x 8"):
        laplacian_detail_loss(torch.rand(1, 1, 7, 7), torch.rand(1, 2, 7, 7))
    with pytest.raises(ValueError, match="expected fused"):
        laplacian_detail_loss(torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16))


def test_zero_when_the_fused_bands_are_the_choose_max_bands():
    x = blob_pair()
    zero = torch.zeros_like(x[:, :1])
    # one source has all the detail (the other is flat: no band-pass coefficient): that source itself
    assert float(laplacian_detail_loss(x[:, :1], torch.cat([x[:, :1], zero], 1))) == 0.0
    assert float(laplacian_detail_loss(x[:, 1:], torch.cat([zero, x[:, 1:]], 1))) == 0.0
    assert float(laplacian_detail_loss(x[:, 1:], torch.cat([x[:, 1:], x[:, 1:]], 1))) == 0.0
    assert float(laplacian_detail_loss(x.mean(1, keepdim=True), x)) > 0.0


def test_the_laplacian_rule_scores_better_than_the_average():
    x = blob_pair(n=3, size=48, seed=5)
    a, b = x[:, 0].numpy(), x[:, 1].numpy()
    lap = torch.from_numpy(fuse_laplacian(a, b)).double()[:, None]
    avg = torch.from_numpy(fuse_average(a, b)).double()[:, None]
    assert float(laplacian_detail_loss(lap, x)) < 0.5 * float(laplacian_detail_loss(avg, x))


def test_flip_and_translation_consistent():
    # 33 = 2^5 + 1: every level keeps its centre sample, so a flip maps the sampling grid onto itself
    x = blob_pair(size=33, seed=2)
    fused = 0.7 * x[:, :1] + 0.2 * x[:, 1:]
    ref = laplacian_detail_loss(fused, x)
    for dims in ((3,), (2,), (2, 3)):
        torch.testing.assert_close(laplacian_detail_loss(fused.flip(dims), x.flip(dims)), ref)
    # a shift by 16 pixels (a multiple of the 4 levels' 2^4) on a zero canvas, far enough from its border
    # for the coarsest level's filters: the same loss
    small = blob_pair(size=24, seed=2)
    f_small = 0.7 * small[:, :1] + 0.2 * small[:, 1:]
    a = laplacian_detail_loss(embed(f_small, 160, 48), embed(small, 160, 48))
    b = laplacian_detail_loss(embed(f_small, 160, 64), embed(small, 160, 64))
    torch.testing.assert_close(a, b)


def test_finite_gradients_that_move_towards_the_target():
    x = blob_pair(dtype=torch.float32)
    for sources in (x, torch.zeros_like(x)):
        fused = sources.mean(1, keepdim=True).clone().requires_grad_(True)
        loss = laplacian_detail_loss(fused, sources)
        loss.backward()
        assert torch.isfinite(fused.grad).all()
    fused = x.mean(1, keepdim=True).clone().requires_grad_(True)
    before = laplacian_detail_loss(fused, x)
    before.backward()
    with torch.no_grad():  # a small step down the gradient lowers the loss
        after = laplacian_detail_loss(fused - 0.02 * fused.grad / fused.grad.abs().max(), x)
    assert float(after) < float(before.detach())
