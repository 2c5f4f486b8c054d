import pytest
import torch

from fusioninn.losses import FusionINNLoss, LossWeights, decomposition_loss, fusion_loss, mmd_multiscale


def test_mmd_is_zero_for_identical_batches_and_positive_otherwise():
    x = torch.randn(6, 50)
    assert float(mmd_multiscale(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(mmd_multiscale(x, x + 3.0)) > 0.1


def test_mmd_shape_errors():
    with pytest.raises(ValueError):
        mmd_multiscale(torch.randn(4, 5), torch.randn(4, 6))


def test_fusion_loss_zero_when_both_sources_equal_the_fused_image():
    img = torch.rand(2, 1, 32, 32)
    loss, parts = fusion_loss(img, torch.cat([img, img], 1))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    assert float(parts["ssim_1"]) == pytest.approx(1.0, abs=1e-6)


def test_source_weights_follow_the_formula():
    x = torch.rand(2, 2, 32, 32)
    fused = x[:, :1].clone()  # perfect for source 1
    w = LossWeights(source_1=1.0)
    loss, _ = fusion_loss(fused, x, w)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    loss2, _ = decomposition_loss(x.flip(1), x)
    assert float(loss2) > 0


def test_total_loss_combines_parts_with_published_weights():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 32, 32)
    fused, z, dec = torch.rand(3, 1, 32, 32), torch.randn(3, 1, 32, 32), torch.rand(3, 2, 32, 32)
    total, parts = FusionINNLoss()(x, fused, z, dec)
    expected = 0.5 * (parts["fusion"] + parts["latent"]) + 0.5 * parts["decomposition"]
    assert float(total) == pytest.approx(float(expected), rel=1e-5)
