"""FusionINN's tensor-op forward/inverse, on every backend, compute the same network as FrEIA's modules
(the reference in fusioninn.bench.reference): outputs, losses, gradients, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusioninn.bench import reference as ref
from fusioninn.device import tune_cpu_allocator
from fusioninn.errors import UserInputError
from fusioninn.losses import FusionINNLoss, decomposition_loss, fusion_loss, mmd_multiscale
from fusioninn.models import ExecutionOptions
from fusioninn.models.backends import subnet_backend
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


def _two_pass_loss(x, fused, z, dec):
    """The loss from its published parts (two SSIM passes), as FusionINNLoss computed it before it shared
    the source moments: the reference for the one-pass loss."""
    w = FusionINNLoss().weights
    l_fus, fp_ = fusion_loss(fused, x, w)
    l_dec, dp = decomposition_loss(dec, x, w)
    zf = z.reshape(z.shape[0], -1)
    l_lat = mmd_multiscale(zf, torch.randn_like(zf), w.mmd_scales)
    total = w.forward * (l_fus + w.latent * l_lat) + (1 - w.forward) * l_dec
    total, l_fus, l_lat, l_dec = total, l_fus.detach(), l_lat.detach(), l_dec.detach()
    return total, {"fusion": l_fus, "latent": l_lat, "decomposition": l_dec,
                   "fused_ssim": 0.5 * (fp_["ssim_1"] + fp_["ssim_2"]), "dec_ssim_1": dp["ssim_1"],
                   "dec_ssim_2": dp["ssim_2"]}


@pytest.mark.parametrize("name", ["paper", "fast"])
@pytest.mark.parametrize("size", [(16, 16), (26, 34)])
def test_forward_inverse_match_freia(name, size):
    model = _model(name)
    x = _images(2, *size)
    with torch.no_grad():
        y_ref, z_ref = ref.freia_forward(model, x)
        y, z = model(x)
    scale = max(1.0, float(y_ref.abs().max()), float(z_ref.abs().max()))
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(z, z_ref, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(model.fused_image(y), model.fused_image(y_ref), rtol=0, atol=1e-5)
    z_new = torch.randn_like(z)
    with torch.no_grad():
        torch.testing.assert_close(model.inverse(y_ref, z_new), ref.freia_inverse(model, y_ref, z_new),
                                   rtol=0, atol=1e-4)
        # exact round trip
        torch.testing.assert_close(model.inverse(y, z), x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["paper", "fast"])
def test_inference_kernels_match_freia(name):
    """The native fused subnet, fused conv+ReLU and the tap-GEMM convolution (no autograd) give the
    FrEIA results, under inference_mode and no_grad alike."""
    model = _model(name)
    x = _images(2, 24, 32)
    z = torch.randn(2, 1, 24, 32)
    with torch.no_grad():
        fused_ref, _ = ref.freia_fuse_tensor(model, x)
        dec_ref = ref.freia_decompose_tensor(model, fused_ref, z)
    for kernels, native_kernel in ((True, None), (True, False), (False, False)):
        model.options = ExecutionOptions(fused_conv=kernels, native=native_kernel)
        for mode in (torch.inference_mode, torch.no_grad):
            with mode():
                fused, _latent = model.fuse_tensor(x)
                dec = model.decompose_tensor(fused, z)
            torch.testing.assert_close(fused, fused_ref, rtol=0, atol=1e-5)
            torch.testing.assert_close(dec, dec_ref, rtol=0, atol=1e-5)
            assert fused.shape == (2, 1, 24, 32) and fused.dtype == torch.float32


def test_no_grad_and_inference_mode_choose_the_same_backend():
    model = _model("paper")
    options = ExecutionOptions()
    for block in (model.module_list[1], model.module_list[4]):
        x = torch.rand(2, block.split_len1, 16, 16)
        with torch.inference_mode():
            a = subnet_backend(block.subnet2, x, options)
        with torch.no_grad():
            b = subnet_backend(block.subnet2, x, options)
        assert a == b and a in ("native", "fused_conv")
    assert subnet_backend(model.module_list[4].subnet2, torch.rand(2, 4, 8, 8), ExecutionOptions()) == "conv2d"


def test_requiring_unavailable_native_kernels_says_why(monkeypatch):
    from fusioninn.models import native

    monkeypatch.setattr(native, "available", lambda: False)
    model = _model("paper")
    model.options = ExecutionOptions(native=True)
    with pytest.raises(RuntimeError, match="native kernels requested but unavailable"):
        model(_images(1, 8, 8))
    model.options = ExecutionOptions(native=None)
    model(_images(1, 8, 8))


@pytest.mark.parametrize("name", ["paper", "fast"])
@pytest.mark.parametrize(("channels_last", "native_training"), [(True, True), (True, False), (False, False)])
def test_loss_and_gradients_match_freia(name, channels_last, native_training):
    model = _model(name)
    model.options = ExecutionOptions(channels_last=channels_last, native=None if native_training else False)
    x = _images(2, 24, 24)
    z_fresh = torch.randn(2, 1, 24, 24)
    params = [p for p in model.parameters() if p.requires_grad]

    torch.manual_seed(7)
    loss_ref, parts_ref = _two_pass_loss(x, *ref.freia_training_pass(model, x, z_fresh))
    grads_ref = torch.autograd.grad(loss_ref, params)
    torch.manual_seed(7)
    loss, parts = FusionINNLoss()(x, *model.fused_and_decomposed_for_training(x, z_fresh))
    grads = torch.autograd.grad(loss, params)

    assert abs(loss.item() - loss_ref.item()) < 1e-4
    for key in ("fusion", "latent", "decomposition", "fused_ssim", "dec_ssim_1", "dec_ssim_2"):
        assert abs(float(parts[key]) - float(parts_ref[key])) < 1e-4, key
    for g, g_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-3, atol=1e-5 * max(1.0, float(g_ref.abs().max())))


def test_loss_matches_original_training_step():
    """Same batch, same weights, same noise: the original GraphINN + pytorch-msssim loss (published config)."""
    pytest.importorskip("pytorch_msssim")
    model = _model("paper")
    x = _images(2, 32, 32)
    model.initialise_actnorm(x)
    graph = ref.reference_from_model(model, 32)
    z_target, z_fresh = torch.randn(2, 32 * 32), torch.randn(2, 1, 32, 32)
    original = ref.reference_training_loss(graph, x, z_target, z_fresh)
    ours, _ = FusionINNLoss()(x, *model.fused_and_decomposed_for_training(x, z_fresh), z_target=z_target)
    assert abs(original.item() - ours.item()) < 1e-4
    fused_ref, dec_ref = ref.reference_fuse_decompose(graph, x, z_fresh)
    with torch.inference_mode():
        fused, _latent = model.fuse_tensor(x)
        dec = model.decompose_tensor(fused, z_fresh)
    torch.testing.assert_close(fused, fused_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(dec, dec_ref, rtol=0, atol=1e-5)


def test_actnorm_initialised_on_first_forward():
    torch.manual_seed(0)
    a, b = FusionINN(), FusionINN()
    x = _images(2, 16, 16)
    assert not b.actnorm_initialised
    b(x)
    ref.freia_forward(a, x)
    assert b.actnorm_initialised
    torch.testing.assert_close(b.module_list[0].scale, a.module_list[0].scale)


def test_state_dict_unchanged_by_passes():
    model = _model("paper")
    x = _images(2, 16, 16)
    model(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.inference_mode():
        model.fuse_tensor(x)
    model.fused_and_decomposed_for_training(x)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_input_errors():
    model = _model("paper")
    with pytest.raises(ValueError, match="even"):
        model(torch.rand(1, 2, 15, 16))
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        model(torch.rand(1, 3, 16, 16))
    with pytest.raises(RuntimeError, match="ActNorm is not initialised"):
        FusionINN().inverse(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="one shape"):
        model.inverse(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 18))


def _volume(h: int, w: int, d: int, seed: int) -> np.ndarray:
    """A (D, H, W) stack of axial slices: the layout the array API takes for a volume."""
    rng = np.random.default_rng(seed)
    return rng.random((d, h, w), dtype=np.float32)


def test_volume_fuse_decompose_matches_slices():
    model = _model("paper")
    v1, v2 = _volume(24, 32, 7, 0), _volume(24, 32, 7, 1)
    fused, latent = model.fuse(v1, v2, batch_size=3)
    assert fused.shape == (7, 24, 32) and latent.shape == (7, 2, 24, 32) and fused.dtype == np.float32
    # slice 4 through the FrEIA reference
    x = torch.from_numpy(np.stack([v1[4], v2[4]])[None])
    with torch.no_grad():
        f_ref, _ = ref.freia_fuse_tensor(model, x)
    np.testing.assert_allclose(fused[4], f_ref[0, 0].numpy(), atol=1e-5)
    # exact decomposition with the latent
    r1, r2 = model.decompose(fused, latent, batch_size=4)
    np.testing.assert_allclose(r1, v1, atol=1e-4)
    np.testing.assert_allclose(r2, v2, atol=1e-4)
    # clinical decomposition: seeded, repeatable, in [0, 1]
    c1, c2 = model.decompose(fused, None, batch_size=5, seed=3)
    d1, _ = model.decompose(fused, None, batch_size=5, seed=3)
    np.testing.assert_array_equal(c1, d1)
    assert 0.0 <= c1.min() and c2.max() <= 1.0


def test_volume_errors():
    model = _model("paper")
    v = _volume(16, 16, 3, 0)
    with pytest.raises(UserInputError, match="differ in shape"):
        model.fuse(v, v[:2])
    with pytest.raises(UserInputError, match=r"\[0, 1\]"):
        model.fuse(v, v + 1)
    with pytest.raises(UserInputError, match="even"):
        model.fuse(v[:, :15], v[:, :15])
    with pytest.raises(UserInputError, match=r"\(N, H, W\)"):
        model.fuse(v[..., None, None], v[..., None, None])
    bad = v.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(UserInputError, match="NaN"):
        model.fuse(bad, v)
    with pytest.raises(UserInputError, match="does not match"):
        model.decompose(v, np.zeros((3, 1, 16, 16), np.float32))
    with pytest.raises(UserInputError, match="batch_size"):
        model.fuse(v, v, batch_size=0)


def test_allocator_switch_is_reversible():
    assert tune_cpu_allocator(True) in (True, False)
    assert tune_cpu_allocator(False) in (True, False)


def _saved_bytes_and_grads(model, x, z_fresh):
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    params = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(3)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = FusionINNLoss()(x, *model.fused_and_decomposed_for_training(x, z_fresh))
    return total, loss, torch.autograd.grad(loss, params)


@pytest.mark.parametrize("name", ["paper", "fast"])
@pytest.mark.parametrize("native_training", [False, True])
def test_memory_saving_backprop_gives_the_same_gradients_from_far_fewer_stored_activations(name, native_training):
    model = _model(name)
    model.options = ExecutionOptions(native=None if native_training else False)
    x = _images(2, 32, 32)
    z_fresh = torch.randn(2, 1, 32, 32)
    stored, loss, grads = _saved_bytes_and_grads(model, x, z_fresh)
    model.options.memory_saving = True
    stored_ms, loss_ms, grads_ms = _saved_bytes_and_grads(model, x, z_fresh)
    assert loss_ms.item() == loss.item()
    for g, g_ref in zip(grads_ms, grads, strict=True):
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-7)
    # the 32- and 64-channel hidden maps are no longer stored; what is left are block inputs and the loss
    # (the native training kernels already keep no full-resolution hidden map, so the gain is smaller there)
    assert stored_ms < stored / (3 if native_training else 4), (stored_ms, stored)
    with torch.no_grad():  # no effect outside autograd
        torch.testing.assert_close(model(x)[0], ref.freia_forward(model, x)[0], rtol=0, atol=1e-5)
