"""Training-free rules, CNN baselines and the method registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusioninn.errors import UserInputError
from fusioninn.models.baselines import (
    CNN_BASELINES,
    RULES,
    DeepFuse,
    FunFuseAn,
    HalfUNet,
    UNet,
    UNet3Plus,
    UNetPlusPlus,
    build_cnn,
    cnn_method,
    rule_method,
)
from fusioninn.models.baselines import rules as R

RULE_NAMES = ["average", "maximum", "pca", "laplacian", "dwt", "guided"]
CNN_NAMES = ["deepfuse", "funfusean", "halfunet", "unet", "unetpp", "unet3p"]

# Trainable parameters at the default (CPU) widths, as stated in docs/baselines.md.
PARAMETER_COUNTS = {
    "deepfuse": 89_057,
    "funfusean": 99_825,
    "halfunet": 53_505,
    "unet": 99_209,
    "unetpp": 77_549,
    "unet3p": 83_229,
}


def _phantom(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Smooth blobs plus a sharp square plus noise, in [0, 1]: structure at every scale."""
    rng = np.random.default_rng(seed)
    h, w = shape[-2:]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = 0.5 + 0.3 * np.sin(6 * xx + 3 * seed) * np.cos(5 * yy)
    img[h // 4 : h // 2, w // 4 : w // 2] += 0.2
    img = img + 0.05 * rng.standard_normal(shape)
    return np.clip(img, 0, 1).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# rules


@pytest.mark.parametrize("name", RULE_NAMES)
@pytest.mark.parametrize("shape", [(64, 64), (17, 23), (5, 7), (1, 1), (3, 33, 31)])
def test_rule_of_identical_sources_is_the_source(name, shape):
    x = _phantom(shape)
    fused = RULES[name](x, x)
    assert fused.shape == x.shape and fused.dtype == np.float32
    np.testing.assert_allclose(fused, x, atol=1e-6)


@pytest.mark.parametrize("name", RULE_NAMES)
@pytest.mark.parametrize("shape", [(240, 240), (17, 23), (2, 9, 31)])
def test_rule_output_in_range_with_input_shape(name, shape):
    x1, x2 = _phantom(shape, seed=1), _phantom(shape, seed=2)
    fused = RULES[name](x1, x2)
    assert fused.shape == shape and fused.dtype == np.float32
    assert np.isfinite(fused).all() and fused.min() >= 0.0 and fused.max() <= 1.0
    # a real fusion: not simply one of the two sources
    assert not np.array_equal(fused, x1) and not np.array_equal(fused, x2)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_batch_equals_rule_per_image(name):
    x1, x2 = _phantom((3, 20, 27), 3), _phantom((3, 20, 27), 4)
    batch = RULES[name](x1, x2)
    for i in range(3):
        np.testing.assert_allclose(batch[i], RULES[name](x1[i], x2[i]), atol=1e-7)


def test_average_and_maximum_formulas():
    x1 = np.array([[0.0, 0.2], [1.0, 0.7]], np.float32)
    x2 = np.array([[1.0, 0.4], [0.0, 0.7]], np.float32)
    np.testing.assert_array_equal(R.fuse_average(x1, x2), np.array([[0.5, 0.3], [0.5, 0.7]], np.float32))
    np.testing.assert_array_equal(R.fuse_maximum(x1, x2), np.array([[1.0, 0.4], [1.0, 0.7]], np.float32))


def test_pca_weights_sum_to_one_and_follow_the_variance():
    rng = np.random.default_rng(5)
    x1 = rng.random((4, 30, 30))
    x2 = 0.5 + 0.1 * (rng.random((4, 30, 30)) - 0.5)  # far less variance than x1
    w = R.pca_weights(x1, x2)
    assert w.shape == (4, 2)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert (w[:, 0] > 0.9).all()
    # swapping the sources swaps the weights
    np.testing.assert_allclose(R.pca_weights(x2, x1), w[:, ::-1], atol=1e-12)


def test_pca_with_a_constant_source_returns_the_other():
    x = _phantom((32, 40))
    np.testing.assert_allclose(R.pca_weights(x, np.full_like(x, 0.3)), [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(R.fuse_pca(x, np.full_like(x, 0.3)), x, atol=1e-6)
    # both constant: no principal direction, equal weights
    np.testing.assert_allclose(R.pca_weights(np.zeros((4, 4)), np.ones((4, 4))), [0.5, 0.5])


@pytest.mark.parametrize("shape", [(64, 64), (45, 37), (3, 19, 30)])
def test_laplacian_pyramid_reconstructs_exactly(shape):
    x = _phantom(shape).astype(np.float64)
    batch = x if x.ndim == 3 else x[None]
    bands = R.laplacian_pyramid(batch, 3)
    assert len(bands) == 4
    assert bands[1].shape[-2:] == ((shape[-2] + 1) // 2, (shape[-1] + 1) // 2)
    np.testing.assert_allclose(R.reconstruct_laplacian_pyramid(bands), batch, atol=1e-12)


def test_laplacian_fusion_keeps_the_stronger_edge():
    # a step edge only in source 1, a flat source 2: the detail bands come from source 1,
    # so the fused step is as high as the average base plus the full detail -> steeper than the average
    x1 = np.zeros((64, 64), np.float32)
    x1[:, 32:] = 1.0
    x2 = np.full((64, 64), 0.5, np.float32)
    fused = R.fuse_laplacian(x1, x2)
    step = fused[32, 34] - fused[32, 29]
    avg_step = R.fuse_average(x1, x2)[32, 34] - R.fuse_average(x1, x2)[32, 29]
    assert step > avg_step + 0.2


@pytest.mark.parametrize("wavelet", ["db2", "haar"])
@pytest.mark.parametrize("shape", [(64, 64), (45, 37), (2, 11, 13)])
def test_dwt_fusion_of_equal_sources_is_perfect_reconstruction(wavelet, shape):
    x = _phantom(shape)
    np.testing.assert_allclose(R.fuse_dwt(x, x, wavelet=wavelet, level=3), x, atol=1e-6)


def test_dwt_rejects_unknown_wavelet():
    x = _phantom((16, 16))
    with pytest.raises(UserInputError, match="unknown wavelet 'nope'"):
        R.fuse_dwt(x, x, wavelet="nope")


def test_guided_filter_preserves_constants_and_edges():
    guide = _phantom((1, 40, 40)).astype(np.float64)
    const = np.full_like(guide, 0.25)
    np.testing.assert_allclose(R.guided_filter(guide, const, 5, 0.1), 0.25, atol=1e-12)
    # with a tiny eps, filtering the guide by itself returns it (edge-preserving)
    np.testing.assert_allclose(R.guided_filter(guide, guide, 3, 1e-8), guide, atol=1e-4)


def test_guided_fusion_with_a_flat_source_returns_the_textured_one():
    # the flat image has zero saliency everywhere, so every weight map goes to the textured source
    x = _phantom((48, 56))
    np.testing.assert_allclose(R.fuse_guided(x, np.full_like(x, 0.4)), x, atol=1e-5)


@pytest.mark.parametrize(
    ("x1", "x2", "message"),
    [
        (np.zeros((4, 4)), np.zeros((4, 5)), "same shape"),
        (np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 4)), r"\(H, W\) or \(N, H, W\)"),
        (np.full((4, 4), np.nan), np.zeros((4, 4)), "NaN"),
    ],
)
@pytest.mark.parametrize("name", RULE_NAMES)
def test_rules_reject_bad_input(name, x1, x2, message):
    with pytest.raises(UserInputError, match=message):
        RULES[name](x1, x2)


# ------------------------------------------------------------------------------------------------
# CNNs


@pytest.mark.parametrize("name", CNN_NAMES)
def test_cnn_shapes_and_range(name):
    model = build_cnn(name).eval()
    for shape in [(2, 2, 32, 32), (1, 2, 17, 23), (1, 2, 5, 7), (1, 2, 1, 1)]:
        with torch.no_grad():
            y = model(torch.rand(shape))
        assert y.shape == (shape[0], 1, *shape[2:])
        assert y.dtype == torch.float32
        assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", CNN_NAMES)
def test_cnn_parameter_count_as_documented(name):
    model = build_cnn(name)
    assert model.count_parameters() == PARAMETER_COUNTS[name]
    assert model.count_parameters() <= 100_000
    assert model.parameter_count() == model.count_parameters()


def test_paper_width_parameter_counts():
    # our architectures at the papers' widths land at the papers' sizes (U-Net ~31M, UNet++ ~9M,
    # UNet 3+ ~27M, Half-UNet ~0.21M): the structure, not just the name, follows the papers
    assert UNet((64, 128, 256, 512, 1024)).count_parameters() == 31_037_057
    assert UNetPlusPlus((32, 64, 128, 256, 512)).count_parameters() == 9_159_393
    assert UNet3Plus((64, 128, 256, 512, 1024), cat=64).count_parameters() == 26_964_673
    assert HalfUNet(width=64).count_parameters() == 208_385
    assert FunFuseAn(hf_width=64).count_parameters() == 121_905


@pytest.mark.parametrize("name", CNN_NAMES)
def test_cnn_gradients_reach_every_parameter(name):
    model = build_cnn(name).train()
    x = torch.rand(2, 2, 24, 20)
    loss = ((model(x) - x.mean(1, keepdim=True)) ** 2).mean()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", CNN_NAMES)
def test_cnn_rebuilds_from_its_config(name):
    model = build_cnn(name)
    clone = type(model)(**model.config)
    clone.load_state_dict(model.state_dict())
    clone.eval(), model.eval()
    x = torch.rand(1, 2, 16, 16)
    with torch.no_grad():
        assert torch.equal(clone(x), model(x))


def test_deepfuse_ties_the_two_branches():
    # tied weights and fusion by addition make DeepFuse symmetric in its two sources
    model = DeepFuse().eval()
    x = torch.rand(2, 2, 19, 21)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x.flip(1)), atol=1e-6)


def test_cnn_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\), got \(1, 3, 8, 8\)"):
        UNet()(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("name", CNN_NAMES)
def test_cnn_overfits_one_pair(name):
    torch.manual_seed(0)
    model = build_cnn(name).train()
    x = torch.from_numpy(np.stack([_phantom((32, 32), 0), _phantom((32, 32), 1)])[None])
    target = x.mean(1, keepdim=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# ------------------------------------------------------------------------------------------------
# registry


def test_registry_names():
    assert list(RULES) == RULE_NAMES
    assert list(CNN_BASELINES) == CNN_NAMES
    assert CNN_BASELINES["deepfuse"] is DeepFuse and CNN_BASELINES["unet3p"] is UNet3Plus


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_method_interface(name):
    method = rule_method(name)
    assert method.name == name and method.can_decompose is False and method.parameter_count == 0
    pairs = np.stack([_phantom((3, 20, 22), 0), _phantom((3, 20, 22), 1)], axis=1)
    fused = method.fuse(pairs)
    assert fused.shape == (3, 20, 22) and fused.dtype == np.float32
    np.testing.assert_array_equal(fused, RULES[name](pairs[:, 0], pairs[:, 1]))


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown fusion rule 'median'; valid: average, maximum, pca"):
        rule_method("median")
    with pytest.raises(ValueError, match="unknown CNN baseline 'vgg'; valid: deepfuse, funfusean, halfunet"):
        cnn_method("vgg", UNet())
    with pytest.raises(ValueError, match="unet3p"):
        build_cnn("resnet")


def test_cnn_method_matches_the_module_in_batches():
    model = build_cnn("unet").train()
    pairs = np.random.default_rng(0).random((5, 2, 17, 23), dtype=np.float32)
    method = cnn_method("unet", model, batch_size=2)
    assert method.can_decompose is False and method.parameter_count == PARAMETER_COUNTS["unet"]
    fused = method.fuse(pairs)
    assert fused.shape == (5, 17, 23) and fused.dtype == np.float32
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(pairs))[:, 0].numpy()
    np.testing.assert_allclose(fused, expected, atol=1e-6)
    np.testing.assert_allclose(cnn_method("unet", model, batch_size=16).fuse(pairs), fused, atol=1e-6)


def test_cnn_method_checks_the_module_class():
    with pytest.raises(UserInputError, match="needs a UNet, got HalfUNet"):
        cnn_method("unet", HalfUNet())


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (np.zeros((2, 3, 8, 8), np.float32), r"\(N, 2, H, W\)"),
        (np.zeros((2, 8, 8), np.float32), r"\(N, 2, H, W\)"),
        (np.full((1, 2, 8, 8), np.nan, np.float32), "NaN"),
        (np.full((1, 2, 8, 8), 255.0, np.float32), r"normalised to \[0, 1\]"),
    ],
)
def test_methods_reject_bad_pairs(pairs, message):
    with pytest.raises(UserInputError, match=message):
        rule_method("average").fuse(pairs)
    with pytest.raises(UserInputError, match=message):
        cnn_method("deepfuse", DeepFuse()).fuse(pairs)
