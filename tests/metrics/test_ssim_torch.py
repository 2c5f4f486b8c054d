import pytest
import torch

from fusioninn.metrics.ssim import ssim


def test_identical_images_score_one():
    a = torch.rand(2, 1, 32, 32)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-6)


def test_agrees_with_pytorch_msssim():
    pm = pytest.importorskip("pytorch_msssim")
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 48, 40, generator=g, dtype=torch.float64)
    b = (a + 0.2 * torch.rand(3, 1, 48, 40, generator=g, dtype=torch.float64)).clamp(0, 1)
    assert float(ssim(a, b)) == pytest.approx(float(pm.ssim(a, b, data_range=1.0)), abs=1e-8)
    a3, b3 = a[:, :, :16, :16, None].expand(-1, -1, -1, -1, 16), b[:, :, :16, :16, None].expand(-1, -1, -1, -1, 16)
    assert float(ssim(a3.contiguous(), b3.contiguous())) == pytest.approx(
        float(pm.ssim(a3.contiguous(), b3.contiguous(), data_range=1.0)), abs=1e-8
    )


def test_gradients_are_finite():
    a = torch.rand(1, 1, 24, 24, requires_grad=True)
    ssim(a, torch.rand(1, 1, 24, 24)).backward()
    assert torch.isfinite(a.grad).all()


def test_bad_reduction_and_shapes():
    a = torch.rand(1, 1, 24, 24)
    with pytest.raises(ValueError):
        ssim(a, a, reduction="sum")
    with pytest.raises(ValueError):
        ssim(a, torch.rand(1, 1, 24, 20))
    with pytest.raises(ValueError):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
