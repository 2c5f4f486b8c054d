import pytest
import torch
import torch.nn.functional as F
from _edge_cases import blob_pair, embed

from fusioninn.losses import salience_intensity_loss, salience_target, salience_weights


def test_weights_are_a_partition_of_unity_from_the_local_energy():
    x = blob_pair()
    w = salience_weights(x, window=5, temperature=0.3)
    assert w.shape == x.shape
    torch.testing.assert_close(w.sum(1), torch.ones_like(w[:, 0]))
    # by hand at one interior pixel: softmax of the 5x5 mean energies over tau times their mean
    e = F.avg_pool2d(x * x, 5, stride=1, padding=2, count_include_pad=False)[0, :, 10, 12]
    want = torch.softmax(e / (0.3 * e.mean() + 1e-6), 0)
    torch.testing.assert_close(w[0, :, 10, 12], want)


def test_the_target_follows_the_more_salient_source_and_the_temperature_sets_how_hard():
    bright = torch.zeros(1, 1, 24, 24, dtype=torch.float64)
    bright[..., 6:18, 6:18] = 0.9
    dim = torch.full_like(bright, 0.2)
    x = torch.cat([bright, dim], 1)
    sharp, soft = salience_target(x, temperature=0.05), salience_target(x, temperature=1e4)
    # inside the square the bright source dominates; with a huge temperature the target is the mean
    assert float(sharp[0, 0, 12, 12]) == pytest.approx(0.9, abs=1e-6)
    torch.testing.assert_close(soft, x.mean(1, keepdim=True), atol=2e-3, rtol=0)
    # where both are 0 the weights are equal (no division by zero)
    w = salience_weights(torch.zeros(1, 2, 8, 8))
    torch.testing.assert_close(w, torch.full_like(w, 0.5))


def test_zero_at_the_target_positive_elsewhere():
    x = blob_pair()
    assert float(salience_intensity_loss(salience_target(x), x)) == 0.0
    same = torch.cat([x[:, :1], x[:, :1]], 1)
    assert float(salience_intensity_loss(x[:, :1], same)) == 0.0
    assert float(salience_intensity_loss(x.mean(1, keepdim=True), x)) > 0.0
    assert float(salience_intensity_loss(torch.zeros_like(x[:, :1]), x)) > float(
        salience_intensity_loss(x.mean(1, keepdim=True), x))


def test_scale_flip_and_translation_consistent():
    x = blob_pair(size=24, seed=4)
    fused = x.mean(1, keepdim=True)
    # the weights depend on the sources' relative energy only (exactly without eps's floor, nearly with it)
    lit = x + 0.1
    torch.testing.assert_close(salience_weights(3.0 * lit, eps=0.0), salience_weights(lit, eps=0.0))
    torch.testing.assert_close(salience_weights(3.0 * lit), salience_weights(lit), atol=1e-3, rtol=0)
    ref = salience_intensity_loss(fused, x)
    for dims in ((3,), (2,), (2, 3)):
        torch.testing.assert_close(salience_intensity_loss(fused.flip(dims), x.flip(dims)), ref)
    a = salience_intensity_loss(embed(fused, 48, 5), embed(x, 48, 5))
    b = salience_intensity_loss(embed(fused, 48, 17), embed(x, 48, 17))
    torch.testing.assert_close(a, b)


def test_finite_gradients_and_no_gradient_into_the_sources():
    x = blob_pair(dtype=torch.float32).requires_grad_(True)
    fused = x.detach().mean(1, keepdim=True).requires_grad_(True)
    salience_intensity_loss(fused, x).backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0
    assert x.grad is None  # the target is a fixed function of the sources
    z = torch.zeros(1, 2, 16, 16)
    fz = torch.zeros(1, 1, 16, 16, requires_grad=True)
    salience_intensity_loss(fz, z).backward()
    assert torch.isfinite(fz.grad).all()


def test_argument_errors():
    with pytest.raises(ValueError, match="expected fused"):
        salience_intensity_loss(torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="window"):
        salience_weights(torch.rand(1, 2, 8, 8), window=4)
    with pytest.raises(ValueError, match="temperature"):
        salience_weights(torch.rand(1, 2, 8, 8), temperature=0.0)
