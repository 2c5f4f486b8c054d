"""The fast path computes the same network as the FrEIA modules: outputs, losses, gradients, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusioninn.errors import UserInputError
from fusioninn.losses import FusionINNLoss
from fusioninn.models import fast_path as fp
from fusioninn.models import native
from fusioninn.models.fusioninn import FusionINN, FusionINNConfig

CONFIGS = {"paper": FusionINNConfig.paper, "fast": FusionINNConfig.fast}


def _model(name: str, jitter: float = 0.02) -> FusionINN:
    """A model whose weights are moved off their initialisation (zero-init couplings would be trivial)."""
    torch.manual_seed(1)
    model = FusionINN(CONFIGS[name]())
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(jitter * torch.randn_like(p))
    return model


def _images(n: int, h: int, w: int) -> torch.Tensor:
    x = torch.nn.functional.avg_pool2d(torch.rand(n, 2, h + 2, w + 2), 3, stride=1)
    lo, hi = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    return (x - lo) / (hi - lo)


@pytest.fixture(autouse=True)
def _restore_switches():
    yield
    fp.set_channels_last(True)
    fp.set_inference_kernels(True)
    fp.set_native_training(True)
    native.set_enabled(True)


@pytest.mark.parametrize("name", ["paper", "fast"])
@pytest.mark.parametrize("size", [(16, 16), (26, 34)])
def test_forward_inverse_match_freia(name, size):
    model = _model(name)
    x = _images(2, *size)
    with torch.no_grad():
        y_ref, z_ref = model.forward_freia(x)
        y, z = fp.fast_forward(model, x)
    scale = max(1.0, float(y_ref.abs().max()), float(z_ref.abs().max()))
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(z, z_ref, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(model.fused_image(y), model.fused_image(y_ref), rtol=0, atol=1e-5)
    z_new = torch.randn_like(z)
    with torch.no_grad():
        torch.testing.assert_close(fp.fast_inverse(model, y_ref, z_new), model.inverse_freia(y_ref, z_new),
                                   rtol=0, atol=1e-4)
        # exact round trip
        torch.testing.assert_close(fp.fast_inverse(model, y, z), x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["paper", "fast"])
def test_inference_kernels_match_freia(name):
    """The native fused subnet, fused conv+ReLU and the tap-GEMM convolution (inference only) give the
    FrEIA results."""
    model = _model(name)
    x = _images(2, 24, 32)
    z = torch.randn(2, 1, 24, 32)
    with torch.no_grad():
        fused_ref, _ = model.fuse_tensor(x)
        dec_ref = model.decompose_tensor(fused_ref, z)
    for kernels, native_kernel in ((True, True), (True, False), (False, False)):
        fp.set_inference_kernels(kernels)
        native.set_enabled(native_kernel)
        fused, y_raw, z_out = fp.fast_fuse(model, x)
        torch.testing.assert_close(fused, fused_ref, rtol=0, atol=1e-5)
        torch.testing.assert_close(fp.fast_decompose(model, fused, z), dec_ref, rtol=0, atol=1e-5)
        assert fused.shape == (2, 1, 24, 32) and fused.dtype == torch.float32


@pytest.mark.parametrize("name", ["paper", "fast"])
@pytest.mark.parametrize(("channels_last", "native_training"), [(True, True), (True, False), (False, False)])
def test_loss_and_gradients_match_freia(name, channels_last, native_training):
    fp.set_channels_last(channels_last)
    fp.set_native_training(native_training)
    model = _model(name)
    x = _images(2, 24, 24)
    z_fresh = torch.randn(2, 1, 24, 24)
    params = [p for p in model.parameters() if p.requires_grad]

    torch.manual_seed(7)
    model.use_fast_path = False
    loss_ref, parts_ref = FusionINNLoss()(x, *model.fused_and_decomposed_for_training(x, z_fresh))
    model.use_fast_path = True
    grads_ref = torch.autograd.grad(loss_ref, params)
    torch.manual_seed(7)
    loss, parts = fp.fast_loss(x, *fp.fast_training_pass(model, x, z_fresh))
    grads = torch.autograd.grad(loss, params)

    assert abs(loss.item() - loss_ref.item()) < 1e-4
    for key in ("fusion", "latent", "decomposition", "fused_ssim", "dec_ssim_1", "dec_ssim_2"):
        assert abs(float(parts[key]) - float(parts_ref[key])) < 1e-4, key
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-3, atol=1e-5 * max(1.0, float(g_ref.abs().max())))


def test_loss_matches_original_training_step():
    """Same batch, same weights, same noise: the original GraphINN + pytorch-msssim loss (published config)."""
    pytest.importorskip("pytorch_msssim")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from reference_graph import reference_from_model, reference_fuse_decompose, reference_training_loss

    model = _model("paper")
    x = _images(2, 32, 32)
    model.initialise_actnorm(x)
    graph = reference_from_model(model, 32)
    z_target, z_fresh = torch.randn(2, 32 * 32), torch.randn(2, 1, 32, 32)
    ref = reference_training_loss(graph, x, z_target, z_fresh)
    ours, _ = fp.fast_loss(x, *fp.fast_training_pass(model, x, z_fresh), z_target=z_target)
    assert abs(ref.item() - ours.item()) < 1e-4
    fused_ref, dec_ref = reference_fuse_decompose(graph, x, z_fresh)
    fused, _y, _z = fp.fast_fuse(model, x)
    torch.testing.assert_close(fused, fused_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(fp.fast_decompose(model, fused, z_fresh), dec_ref, rtol=0, atol=1e-5)


def test_actnorm_initialised_on_first_fast_forward():
    torch.manual_seed(0)
    a, b = FusionINN(), FusionINN()
    x = _images(2, 16, 16)
    assert not b.actnorm_initialised
    fp.fast_forward(b, x)
    a(x)
    assert b.actnorm_initialised
    torch.testing.assert_close(b.module_list[0].scale, a.module_list[0].scale)


def test_state_dict_unchanged_by_fast_path():
    model = _model("paper")
    x = _images(2, 16, 16)
    model(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp.fast_fuse(model, x)
    fp.fast_training_pass(model, x)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_input_errors():
    model = _model("paper")
    with pytest.raises(ValueError, match="even"):
        fp.fast_forward(model, torch.rand(1, 2, 15, 16))
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        fp.fast_forward(model, torch.rand(1, 3, 16, 16))
    with pytest.raises(RuntimeError, match="ActNorm is not initialised"):
        fp.fast_inverse(FusionINN(), torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="one shape"):
        fp.fast_inverse(model, torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 18))


def _volume(h: int, w: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((h, w, d), dtype=np.float32)


def test_volume_fuse_decompose_matches_slices():
    model = _model("paper")
    v1, v2 = _volume(24, 32, 7, 0), _volume(24, 32, 7, 1)
    fused, latent = fp.fuse_volume(model, v1, v2, batch_slices=3)
    assert fused.shape == (24, 32, 7) and latent.shape == (24, 32, 7, 2) and fused.dtype == np.float32
    # slice 4 through the FrEIA path
    x = torch.from_numpy(np.stack([v1[:, :, 4], v2[:, :, 4]])[None])
    with torch.no_grad():
        f_ref, lat_ref = model.fuse_tensor(x)
    np.testing.assert_allclose(fused[:, :, 4], f_ref[0, 0].numpy(), atol=1e-5)
    # exact decomposition with the latent
    r1, r2 = fp.decompose_volume(model, fused, latent, batch_slices=4)
    np.testing.assert_allclose(r1, v1, atol=1e-4)
    np.testing.assert_allclose(r2, v2, atol=1e-4)
    # clinical decomposition: seeded, repeatable, in [0, 1]
    c1, c2 = fp.decompose_volume(model, fused, None, batch_slices=5, seed=3)
    d1, _ = fp.decompose_volume(model, fused, None, batch_slices=5, seed=3)
    np.testing.assert_array_equal(c1, d1)
    assert 0.0 <= c1.min() and c2.max() <= 1.0


def test_volume_errors():
    model = _model("paper")
    v = _volume(16, 16, 3, 0)
    with pytest.raises(UserInputError, match="differ in shape"):
        fp.fuse_volume(model, v, v[:, :, :2])
    with pytest.raises(UserInputError, match=r"\[0, 1\]"):
        fp.fuse_volume(model, v, v + 1)
    with pytest.raises(UserInputError, match="even"):
        fp.fuse_volume(model, v[:15], v[:15])
    with pytest.raises(UserInputError, match=r"\(H, W, D\)"):
        fp.fuse_volume(model, v[..., 0], v[..., 0])
    bad = v.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(UserInputError, match="NaN"):
        fp.fuse_volume(model, bad, v)
    with pytest.raises(UserInputError, match="does not match"):
        fp.decompose_volume(model, v, np.zeros((16, 16, 3, 1), np.float32))


def test_allocator_switch_is_reversible():
    assert fp.tune_cpu_allocator(True) in (True, False)
    assert fp.tune_cpu_allocator(False) in (True, False)


def _saved_bytes_and_grads(model, x, z_fresh):
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    params = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(3)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = fp.fast_loss(x, *fp.fast_training_pass(model, x, z_fresh))
    return total, loss, torch.autograd.grad(loss, params)


@pytest.mark.parametrize("name", ["paper", "fast"])
@pytest.mark.parametrize("native_training", [False, True])
def test_memory_saving_backprop_gives_the_same_gradients_from_far_fewer_stored_activations(name, native_training):
    fp.set_native_training(native_training)
    model = _model(name)
    x = _images(2, 32, 32)
    z_fresh = torch.randn(2, 1, 32, 32)
    stored, loss, grads = _saved_bytes_and_grads(model, x, z_fresh)
    model.memory_saving = True
    stored_ms, loss_ms, grads_ms = _saved_bytes_and_grads(model, x, z_fresh)
    assert loss_ms.item() == loss.item()
    for g, g_ref in zip(grads_ms, grads, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-7)
    # the 32- and 64-channel hidden maps are no longer stored; what is left are block inputs and the loss
    # (the native training kernels already keep no full-resolution hidden map, so the gain is smaller there)
    assert stored_ms < stored / (3 if native_training else 4), (stored_ms, stored)
    with torch.no_grad():  # no effect outside autograd
        torch.testing.assert_close(fp.fast_forward(model, x)[0], model.forward_freia(x)[0], rtol=0, atol=1e-5)
