"""The optional fusion-loss terms: each alone adds its weight times itself; the three edge/detail terms
together: off by default (the published loss bit for bit), on in both the FusionINN total loss and the CNN
baselines' fusion loss, logged when on."""

import pytest
import torch
from _edge_cases import blob_pair

from fusioninn.losses import (
    OPTIONAL_FUSION_TERMS,
    FusionINNLoss,
    LossWeights,
    fusion_loss,
    laplacian_detail_loss,
    max_gradient_loss,
    multiscale_gradient_loss,
    salience_intensity_loss,
)
from fusioninn.losses.fusion import _two_source_loss

NEW = {"ms_gradient": multiscale_gradient_loss, "laplacian_detail": laplacian_detail_loss,
       "salience_intensity": salience_intensity_loss}


@pytest.mark.parametrize(("name", "weight", "make_sources"), [
    ("gradient", 0.7, lambda: torch.rand(2, 2, 24, 24)),
    ("ms_gradient", 0.7, lambda: blob_pair(dtype=torch.float32)),
    ("laplacian_detail", 2.0, lambda: blob_pair(dtype=torch.float32)),
    ("salience_intensity", 1.5, lambda: blob_pair(dtype=torch.float32)),
])
def test_weight_zero_is_the_published_loss_and_positive_weight_adds_the_term(name, weight, make_sources):
    term = {"gradient": max_gradient_loss, **NEW}[name]
    x = make_sources()
    fused = x.mean(1, keepdim=True)
    base, parts = fusion_loss(fused, x, LossWeights())
    assert name not in parts
    more, parts = fusion_loss(fused, x, LossWeights(**{name: weight}))
    assert float(more - base) == pytest.approx(weight * float(term(fused, x)), rel=1e-5)
    assert float(parts[name]) > 0


def test_defaults_are_zero_and_leave_the_published_loss_bit_identical():
    w = LossWeights()
    assert all(getattr(w, name) == 0.0 for name in NEW)
    x = blob_pair(dtype=torch.float32)
    fused = 0.6 * x[:, :1] + 0.3 * x[:, 1:]
    published, _ = _two_source_loss(fused, x, w)  # w_ssim, w_l2 terms only
    loss, parts = fusion_loss(fused, x, w)
    assert torch.equal(loss, published)
    assert set(parts) == {"ssim_1", "ssim_2", "mse_1", "mse_2"}
    # an explicit 0 is the default, also through the total loss
    zeros = LossWeights(ms_gradient=0.0, laplacian_detail=0.0, salience_intensity=0.0)
    z, dec, target = torch.randn(2, 1, 32, 32), torch.rand(2, 2, 32, 32), torch.randn(2, 32 * 32)
    a, pa = FusionINNLoss(w)(x, fused, z, dec, z_target=target)
    b, pb = FusionINNLoss(zeros)(x, fused, z, dec, z_target=target)
    assert torch.equal(a, b) and set(pa) == set(pb) and not set(pa) & set(NEW)


def test_all_terms_on_add_their_weighted_sum_and_are_logged_by_the_total_loss():
    x = blob_pair(dtype=torch.float32)
    fused = (0.5 * x[:, :1] + 0.4 * x[:, 1:]).requires_grad_(True)
    z, dec, target = torch.randn(2, 1, 32, 32), torch.rand(2, 2, 32, 32), torch.randn(2, 32 * 32)
    weights = {"ms_gradient": 0.7, "laplacian_detail": 3.0, "salience_intensity": 1.3}
    base, _ = fusion_loss(fused, x, LossWeights())
    on, parts = fusion_loss(fused, x, LossWeights(**weights))
    expected = sum(wt * float(NEW[name](fused.detach(), x)) for name, wt in weights.items())
    assert float((on - base).detach()) == pytest.approx(expected, rel=1e-5)
    total_w = LossWeights(**weights)
    total, tparts = FusionINNLoss(total_w)(x, fused, z, dec, z_target=target)
    off, _ = FusionINNLoss(LossWeights())(x, fused, z, dec, z_target=target)
    assert float((total - off).detach()) == pytest.approx(total_w.forward * expected, rel=1e-5)
    for name in NEW:
        assert float(tparts[name]) == pytest.approx(float(parts[name])) and float(parts[name]) > 0
    total.backward()
    assert torch.isfinite(fused.grad).all()


def test_the_terms_are_registered_after_the_older_ones():
    # the summation order of the older terms (gradient, grid) is kept, so their losses do not change
    assert list(OPTIONAL_FUSION_TERMS) == ["gradient", "grid", "ms_gradient", "laplacian_detail", "salience_intensity"]


def test_the_cnn_step_trains_and_logs_the_same_terms():
    from fusioninn.models.factory import build_model
    from fusioninn.training.steps import step_for

    model = build_model("unet")
    x = blob_pair(n=4, size=32, dtype=torch.float32)
    on = step_for(model, LossWeights(ms_gradient=1.0, laplacian_detail=4.0, salience_intensity=1.0), 0.0)
    loss, parts = on.loss(x, 4, 0, 4, 1, 0, torch.Generator())
    assert set(NEW) <= set(parts) and all(float(parts[k]) > 0 for k in NEW)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    _, parts_off = step_for(model, LossWeights(), 0.0).loss(x, 4, 0, 4, 1, 0, torch.Generator())
    assert set(parts_off) == {"loss", "fused_ssim"}
