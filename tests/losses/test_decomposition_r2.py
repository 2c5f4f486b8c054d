"""The decomposition R² loss (fusioninn.losses.decomposition_r2) against the R² metric."""

import numpy as np
import pytest
import torch

from fusioninn.losses.decomposition_r2 import decomposition_r2_loss
from fusioninn.losses.fusion import FusionINNLoss, LossWeights
from fusioninn.metrics.decomposition_r2 import pooled_r2, r2_parts


def test_the_loss_is_one_minus_the_pooled_r2_per_source():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 16, 16, generator=g, dtype=torch.float64)
    fused = x.mean(1, keepdim=True)
    dec = (x + 0.05 * torch.randn(3, 2, 16, 16, generator=g, dtype=torch.float64)).clamp(0, 1)
    loss = decomposition_r2_loss(dec, x, fused, source_1=0.5, eps=0.0)
    want = [1 - pooled_r2([r2_parts(x[i, k].numpy(), dec[i, k].numpy(), fused[i, 0].numpy()) for i in range(3)])
            for k in (0, 1)]
    assert float(loss) == pytest.approx(0.5 * want[0] + 0.5 * want[1], rel=1e-9)
    assert float(decomposition_r2_loss(x, x, fused)) == 0.0
    assert float(decomposition_r2_loss(fused.expand_as(x), x, fused, eps=0.0)) == pytest.approx(1.0)


def test_gradient_flows_to_the_decomposition_only_and_weight_zero_is_published():
    x = torch.rand(2, 2, 16, 16)
    fused = x.mean(1, keepdim=True).requires_grad_(True)
    dec = (x * 0.9).requires_grad_(True)
    decomposition_r2_loss(dec, x, fused).backward()
    assert dec.grad.abs().sum() > 0 and fused.grad is None
    z = torch.zeros(2, 1, 16, 16)
    target = torch.randn(2, 256)  # the same MMD target for both
    base, parts = FusionINNLoss(LossWeights())(x, fused.detach(), z, dec.detach(), z_target=target)
    more, parts2 = FusionINNLoss(LossWeights(dec_r2=0.3))(x, fused.detach(), z, dec.detach(), z_target=target)
    assert "dec_r2_loss" not in parts and "dec_r2_loss" in parts2
    assert float(more - base) == pytest.approx(0.5 * 0.3 * float(parts2["dec_r2_loss"]), rel=1e-5)
    with pytest.raises(ValueError):
        decomposition_r2_loss(dec[:, :1], x, fused)
    assert np.isfinite(float(parts2["loss"]))
