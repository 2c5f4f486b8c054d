import numpy as np
import pytest
import torch
from scipy import ndimage

from fusioninn.losses import (
    FusionINNLoss,
    LossWeights,
    decomposition_loss,
    fusion_loss,
    max_gradient_loss,
    mmd_multiscale,
    sobel_gradients,
)


def test_sobel_of_a_ramp_is_eight_times_its_slope():
    ramp = (0.01 * torch.arange(20.0)).expand(1, 1, 16, 20)
    gx, gy = sobel_gradients(ramp)
    assert gx.shape == gy.shape == (1, 1, 14, 18)
    torch.testing.assert_close(gx, torch.full_like(gx, 0.08))
    torch.testing.assert_close(gy, torch.zeros_like(gy))


def test_sobel_matches_scipy():
    img = np.random.default_rng(0).random((12, 15))
    gx, gy = sobel_gradients(torch.from_numpy(img)[None, None])
    # scipy's sobel(axis=1) is the x derivative with the same [1, 2, 1] smoothing, same sign convention
    torch.testing.assert_close(gx[0, 0], torch.from_numpy(ndimage.sobel(img, axis=1)[1:-1, 1:-1]))
    torch.testing.assert_close(gy[0, 0], torch.from_numpy(ndimage.sobel(img, axis=0)[1:-1, 1:-1]))


def test_zero_when_the_fused_image_has_the_stronger_edges():
    edge = torch.zeros(1, 1, 16, 16)
    edge[..., 8:] = 1.0
    flat = torch.full_like(edge, 0.3)
    assert float(max_gradient_loss(edge, torch.cat([edge, flat], 1))) == 0.0
    assert float(max_gradient_loss(edge, torch.cat([flat, edge], 1))) == 0.0
    # averaging halves the edge: penalised
    avg = 0.5 * (edge + flat)
    assert float(max_gradient_loss(avg, torch.cat([edge, flat], 1))) > 0.0
    assert float(max_gradient_loss(avg, torch.cat([edge, flat], 1))) < float(
        max_gradient_loss(flat, torch.cat([edge, flat], 1)))


def test_shape_errors():
    with pytest.raises(ValueError, match="expected fused"):
        max_gradient_loss(torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="expected an"):
        sobel_gradients(torch.rand(8, 8))


def test_one_pass_loss_agrees_with_its_parts_with_the_gradient_term():
    """FusionINNLoss (both SSIM terms from one filtering pass) = the published formula over fusion_loss,
    decomposition_loss (one SSIM pass each) and the MMD."""
    torch.manual_seed(0)
    x, fused, dec = torch.rand(2, 2, 24, 24), torch.rand(2, 1, 24, 24), torch.rand(2, 2, 24, 24)
    z, target = torch.randn(2, 1, 24, 24), torch.randn(2, 24 * 24)
    w = LossWeights(gradient=0.5)
    l_fus, _ = fusion_loss(fused, x, w)
    l_dec, _ = decomposition_loss(dec, x, w)
    ref = w.forward * (l_fus + w.latent * mmd_multiscale(z.reshape(2, -1), target)) + (1 - w.forward) * l_dec
    ours, _ = FusionINNLoss(w)(x, fused, z, dec, z_target=target)
    assert float(ours) == pytest.approx(float(ref), abs=1e-5)


def test_sobel_equals_the_correlation_with_the_shared_kernels():
    """The shifted-view Sobel is the 3x3 correlation with SOBEL_X / SOBEL_Y (what the metrics use)."""
    import torch.nn.functional as F

    from fusioninn.filters import SOBEL_X

    x = torch.rand(3, 2, 13, 17, dtype=torch.float64)
    kx = torch.from_numpy(SOBEL_X)
    k = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(2, 1, 1, 1)
    g = F.conv2d(x, k, groups=2)
    gx, gy = sobel_gradients(x)
    torch.testing.assert_close(gx, g[:, 0::2], rtol=0, atol=1e-13)
    torch.testing.assert_close(gy, g[:, 1::2], rtol=0, atol=1e-13)
    x32 = x.float().requires_grad_(True)
    sum(t.square().sum() for t in sobel_gradients(x32)).backward()
    assert torch.isfinite(x32.grad).all()
