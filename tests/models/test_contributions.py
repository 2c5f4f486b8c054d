"""Contribution maps: quadrature, completeness, the rules' exact weights and the sanity checks of
Adebayo et al. (NeurIPS 2018): a zero source gets nothing, symmetric methods swap their maps with their
inputs, and randomising FusionINN's weights changes the maps."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import fusioninn
from fusioninn.data.phantom import phantom_slices
from fusioninn.errors import UserInputError
from fusioninn.models import FusionINN, FusionINNConfig
from fusioninn.models.baselines import RULES, build_cnn
from fusioninn.models.contributions import (
    RULE_ATTRIBUTION,
    Kinks,
    gauss_legendre,
    integrated_gradients,
    network_contributions,
    rule_contributions,
    share_map,
)


@pytest.fixture(scope="module")
def shipped():
    return fusioninn.load_pretrained()


@pytest.fixture(scope="module")
def phantom_pair():
    x = phantom_slices(2, seed=3, size=(48, 48)).images
    return x[:, 0], x[:, 1]


def _random_model(seed: int = 0) -> FusionINN:
    torch.manual_seed(seed)
    model = FusionINN(FusionINNConfig.fast())
    model.initialise_actnorm(torch.rand(2, 2, 16, 16))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def test_gauss_legendre_is_exact_for_polynomials_of_degree_2n_minus_1():
    for n in (1, 3, 8):
        nodes, weights = gauss_legendre(n)
        assert nodes.min() > 0 and nodes.max() < 1
        assert weights.sum() == pytest.approx(1.0, abs=1e-14)
        for degree in range(2 * n):
            assert (weights * nodes**degree).sum() == pytest.approx(1.0 / (degree + 1), abs=1e-12)
    with pytest.raises(UserInputError):
        gauss_legendre(0)


def test_integrated_gradients_of_a_bilinear_function_are_exact():
    # F = x1 * x2: IG along the straight path from 0 gives exactly x1 x2 / 2 to each source
    x = torch.rand(2, 2, 6, 6, dtype=torch.float64)
    c1, c2 = integrated_gradients(lambda t: t[:, 0] * t[:, 1], x, torch.zeros_like(x), steps=2)
    half = x[:, 0] * x[:, 1] / 2
    assert torch.allclose(c1, half, atol=1e-12) and torch.allclose(c2, half, atol=1e-12)


def _relus(p: torch.Tensor, kinks: Kinks) -> torch.Tensor:
    # ReLUs whose pre-activations are linear along the straight path from black
    return kinks.relu(p[:, 0] - 0.3) + 2 * kinks.relu(0.5 - p[:, 1]) + 0.5 * p[:, 1]


def _clamped(p: torch.Tensor, kinks: Kinks) -> torch.Tensor:
    return kinks.clamp(_relus(p, kinks), 0.0, 0.9)


def test_secant_rule_is_exact_where_the_pre_activations_are_linear_on_the_path():
    x = torch.tensor([[[[0.9, 0.2, 0.6]], [[0.1, 0.8, 0.4]]]])  # (1, 2, 1, 3): three pixels
    base = torch.zeros_like(x)
    exact1 = torch.relu(x[:, 0] - 0.3)  # integrated gradients worked out by hand
    exact2 = 2 * (torch.relu(0.5 - x[:, 1]) - 0.5) + 0.5 * x[:, 1]
    for steps in (1, 3):
        c1, c2 = integrated_gradients(_relus, x, base, steps=steps, rule="secant", kinks=Kinks())
        assert torch.allclose(c1, exact1, atol=1e-6) and torch.allclose(c2, exact2, atol=1e-6), (steps, c1, c2)
    plain1, plain2 = integrated_gradients(_relus, x, base, steps=3, rule="gauss-legendre", kinks=Kinks())
    assert not torch.allclose(plain1, exact1, atol=1e-2)  # the plain rule is not exact here
    # a clamp after the ReLUs: its input is only piecewise linear, so the split is exact only in the limit,
    # but completeness holds at any step count (each unit's secant carries its own input's change)
    total = _clamped(x, Kinks()) - _clamped(base, Kinks())
    fine1, fine2 = integrated_gradients(_clamped, x, base, steps=2000, rule="gauss-legendre", kinks=Kinks())
    for steps in (1, 4, 16):
        c1, c2 = integrated_gradients(_clamped, x, base, steps=steps, rule="secant", kinks=Kinks())
        assert torch.allclose(c1 + c2, total, atol=1e-6)
    assert torch.allclose(c1, fine1, atol=2e-3) and torch.allclose(c2, fine2, atol=2e-3), (c1, fine1, c2, fine2)


def test_secant_and_plain_rules_converge_to_the_same_maps(shipped, phantom_pair):
    a, b = phantom_pair[0][:1, :32, :32], phantom_pair[1][:1, :32, :32]
    reference = shipped.contributions(a, b, steps=128, rule="gauss-legendre")
    errors = {}
    for rule in ("secant", "gauss-legendre"):
        c = shipped.contributions(a, b, steps=16, rule=rule)
        errors[rule] = (c.completeness_max_abs,
                        max(np.abs(c.first - reference.first).max(), np.abs(c.second - reference.second).max()))
    print("16 steps, (completeness max, max distance to 128-step Gauss-Legendre):", errors)
    assert errors["secant"][0] < errors["gauss-legendre"][0] / 3
    # the plain 128-step reference is itself off by ~1/8 of its 16-step error: both rules agree to that
    assert errors["secant"][1] <= max(2e-3, errors["gauss-legendre"][1] / 4)
    with pytest.raises(UserInputError):
        shipped.contributions(a, b, steps=2, rule="trapezoid")


def test_secant_rule_for_a_cnn_that_stacks_its_sources_along_the_batch(phantom_pair):
    # DeepFuse runs both sources through one branch by stacking them along the batch: one point per call
    cnn = build_cnn("deepfuse").eval()
    a, b = phantom_pair[0][:1, :32, :32], phantom_pair[1][:1, :32, :32]
    secant = network_contributions(cnn, a, b, steps=8)
    plain = network_contributions(cnn, a, b, steps=8, rule="gauss-legendre")
    assert secant.rule == "secant" and plain.rule == "gauss-legendre"
    assert np.allclose(secant.fused, cnn(torch.from_numpy(np.stack([a, b], 1))).detach().numpy()[:, 0], atol=1e-6)
    assert secant.completeness_max_abs < plain.completeness_max_abs


def test_share_map_definition():
    s = share_map(np.array([0.0, 1.0, -3.0, 0.0]), np.array([0.0, 3.0, 1.0, 2.0]))
    assert s.dtype == np.float32
    assert s.tolist() == [0.5, 0.25, 0.75, 0.0]


@pytest.mark.parametrize("name", list(RULES))
def test_rule_contributions_are_complete_and_match_the_rule(name, phantom_pair):
    a, b = phantom_pair
    c = rule_contributions(name, a, b)
    assert c.first.shape == c.second.shape == c.baseline.shape == c.fused.shape == c.share_first.shape == a.shape
    assert all(arr.dtype == np.float32 for arr in (c.first, c.second, c.baseline, c.fused, c.share_first))
    assert np.array_equal(c.fused, RULES[name](a, b))
    assert c.completeness_max_abs <= 1e-6
    assert c.steps is None
    # with a non-black baseline, still complete
    c2 = rule_contributions(name, a, b, baseline=(0.3 * b, 0.2 * a))
    assert c2.completeness_max_abs <= 1e-6


def test_average_share_is_exactly_one_half(phantom_pair):
    c = fusioninn.contribution_maps("average", *phantom_pair)
    assert np.all(c.share_first == 0.5)
    assert np.allclose(c.first, 0.5 * phantom_pair[0], atol=1e-7)


def test_maximum_share_is_the_indicator_and_pca_its_weight(phantom_pair):
    from fusioninn.models.baselines.rules import pca_weights

    a, b = phantom_pair
    c = rule_contributions("maximum", a, b)
    assert np.array_equal(c.share_first, (a >= b).astype(np.float32))
    p = rule_contributions("pca", a, b)
    w = pca_weights(a, b)
    assert np.allclose(p.share_first, w[:, 0, None, None], atol=1e-7)


@pytest.mark.parametrize("name", list(RULES))
def test_a_zero_source_gets_zero_contribution_rules(name, phantom_pair):
    a, _ = phantom_pair
    c = rule_contributions(name, a, np.zeros_like(a))
    assert np.all(c.second == 0)


def test_a_zero_source_gets_zero_contribution_networks(phantom_pair):
    a, _ = phantom_pair
    zero = np.zeros_like(a)
    c = _random_model().contributions(a, zero, steps=4)
    assert np.all(c.second == 0) and np.abs(c.first).max() > 0
    cnn = build_cnn("halfunet").eval()
    c = network_contributions(cnn, zero, a, steps=4)
    assert np.all(c.first == 0) and np.abs(c.second).max() > 0


@pytest.mark.parametrize("name", list(RULES))
def test_swapping_the_inputs_of_a_symmetric_rule_swaps_its_maps(name, phantom_pair):
    a, b = phantom_pair
    ab, ba = rule_contributions(name, a, b), rule_contributions(name, b, a)
    tie = np.isclose(a, b)  # maximum / max-abs selections break ties towards the first source
    for x, y in ((ab.first, ba.second), (ab.second, ba.first)):
        assert np.allclose(x, y, atol=1e-6) or name in ("maximum", "laplacian", "dwt") and np.allclose(
            x[~tie], y[~tie], atol=1e-6)
    assert np.allclose(ab.share_first[~tie], 1 - ba.share_first[~tie], atol=1e-6)


def test_swapping_the_inputs_of_a_symmetric_network_swaps_its_maps():
    # a network that is symmetric by construction: DeepFuse ties its two branches and adds their features
    cnn = build_cnn("deepfuse").eval()
    x = phantom_slices(1, seed=5, size=(32, 32)).images[0]
    ab = network_contributions(cnn, x[0], x[1], steps=4)
    ba = network_contributions(cnn, x[1], x[0], steps=4)
    assert np.allclose(ab.fused, ba.fused, atol=1e-5)
    assert np.allclose(ab.first, ba.second, atol=1e-5) and np.allclose(ab.second, ba.first, atol=1e-5)


def test_contributions_equal_those_through_freia_reference():
    # the model's own tensor maths under forward-mode AD; FrEIA's modules (fusioninn.bench) are the reference
    from fusioninn.bench.reference import freia_forward

    model = _random_model(1)
    x = phantom_slices(1, seed=1, size=(16, 16)).images[0]
    fast = model.contributions(x[0], x[1], steps=4, rule="gauss-legendre")
    xt = torch.from_numpy(x)[None]

    def reference(t):
        return model.fused_image(freia_forward(model, t)[0])[:, 0]

    c1, c2 = integrated_gradients(reference, xt, torch.zeros_like(xt), steps=4)
    diff = max(np.abs(fast.first - c1[0].numpy()).max(), np.abs(fast.second - c2[0].numpy()).max())
    scale = max(float(c1.abs().max()), float(c2.abs().max()))
    assert diff <= 1e-4 * max(1.0, float(scale)), diff


def test_fusioninn_completeness_converges_with_steps(shipped, phantom_pair):
    a, b = phantom_pair
    errors = {k: shipped.contributions(a[:1], b[:1], steps=k).completeness_max_abs for k in (4, 16)}
    print("completeness max abs vs steps (phantom 48x48):", errors)
    assert errors[16] < errors[4]
    assert errors[16] <= 5e-3  # measured 1.0e-3 with the secant rule (the plain rule: ~1e-2)


def test_contributions_result_shapes_and_api(shipped, phantom_pair):
    a, b = phantom_pair
    c = shipped.contributions(a, b, steps=2)
    for arr in (c.first, c.second, c.baseline, c.fused, c.share_first):
        assert arr.shape == a.shape and arr.dtype == np.float32
    fused, _ = shipped.fuse(a, b)
    assert np.allclose(c.fused, fused, atol=1e-6)
    single = shipped.contributions(a[0], b[0], steps=2)
    assert single.first.shape == (1, *a.shape[1:])
    with pytest.raises(UserInputError):
        shipped.contributions(a, b[:, :10])
    with pytest.raises(UserInputError):
        shipped.contributions(a * 3, b)


def test_every_method_has_contribution_maps(phantom_pair):
    from fusioninn.methods import available_methods

    a, b = phantom_pair[0][:1, :32, :32], phantom_pair[1][:1, :32, :32]
    for name in available_methods():
        c = fusioninn.contribution_maps(name, a, b, steps=2)
        assert c.method == name and c.first.shape == (1, 32, 32)
        if name in RULE_ATTRIBUTION:
            assert c.completeness_max_abs <= 1e-6
        assert np.isfinite(c.first).all() and np.isfinite(c.second).all()


def _rank_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(spearmanr(a[mask], b[mask]).statistic)


def test_randomising_fusioninn_weights_changes_the_maps(shipped):
    # Adebayo et al. 2018, model-parameter randomisation: the coupling subnets are re-initialised with
    # PyTorch's default initialisation; the share maps of the trained and the random network must not be
    # rank-correlated. Measured on two phantom slices (48x48, 8 steps): rho 0.08-0.33 over seeds; a map that
    # only reflected the input would stay near 1.
    x = phantom_slices(2, seed=3, size=(48, 48)).images
    trained = shipped.contributions(x[:, 0], x[:, 1], steps=8)
    mask = (x[:, 0] > 0) | (x[:, 1] > 0)
    rhos = []
    for seed in (0, 1):
        random_model = copy.deepcopy(shipped)
        torch.manual_seed(seed)
        for block in random_model.module_list:
            for module in block.modules():
                if isinstance(module, torch.nn.Conv2d) and module.weight.requires_grad:
                    module.reset_parameters()
        randomised = random_model.contributions(x[:, 0], x[:, 1], steps=8)
        rhos.append(_rank_correlation(trained.share_first, randomised.share_first, mask))
    print("share-map rank correlation, trained vs randomised:", rhos)
    assert max(rhos) < 0.5
    # and the trained maps themselves are stable: the same model twice gives the same maps
    again = shipped.contributions(x[:, 0], x[:, 1], steps=8)
    assert np.array_equal(again.share_first, trained.share_first)


@pytest.mark.data
def test_completeness_on_real_tumour_slices(shipped, samples_dir):
    from fusioninn.data.volume import axial_slices, minmax_normalise, read_volume

    case = samples_dir / "TCGA-FG-6692"
    t1 = axial_slices(read_volume(case / "TCGA-FG-6692_t1ce.nii.gz").data)
    fl = axial_slices(read_volume(case / "TCGA-FG-6692_flair.nii.gz").data)
    z = [70, 86]
    a, _, _ = minmax_normalise(t1[z])
    b, _, _ = minmax_normalise(fl[z])
    c = shipped.contributions(a, b, steps=32)
    residual = np.abs(c.residual)
    print(f"real slices, 32 steps ({c.rule}): max {residual.max():.2e}, mean {residual.mean():.2e}")
    # the secant rule (ReLUs and clamp split at their switching points); the plain rule gave max 9.9e-3
    assert residual.max() <= 2e-3
