"""FusionINN capacity (other subnet widths, extra coupling blocks) and the non-interleaving "average"
initialisation (issue #17): exact inverses, agreement with FrEIA's own modules and across subnet
backends, compatibility of old configs and checkpoints, and what the network does at step 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusioninn.bench.reference import build_reference_graph, freia_forward, freia_inverse
from fusioninn.data.phantom import phantom_slices
from fusioninn.metrics.grid import grid_scores
from fusioninn.models.backends import ExecutionOptions, subnet_backend
from fusioninn.models.factory import build_model, model_from_checkpoint
from fusioninn.models.fusioninn import AVERAGE_SEEDS, FusionINN, FusionINNConfig, average_route
from fusioninn.training.checkpoint import CheckpointData, load_checkpoint, save_checkpoint


def _phantom(n: int = 2, size: int = 64, seed: int = 3) -> torch.Tensor:
    return torch.from_numpy(phantom_slices(n, seed=seed, size=(size, size)).images)


def _trained_like(config: FusionINNConfig, x: torch.Tensor, gain: float = 0.1) -> FusionINN:
    """A model whose couplings are all non-trivial but of moderate gain (like trained weights): the fast
    recipe's identity init with small random output convolutions (std ``gain`` / sqrt(fan-in), so wider
    subnets do not make larger outputs)."""
    torch.manual_seed(1)
    model = FusionINN(config)
    model.initialise_actnorm(x)
    with torch.no_grad():
        for block in model.module_list:
            for sub in (getattr(block, "subnet1", None), getattr(block, "subnet2", None)):
                if sub is not None:
                    std = gain / sub[2].weight[0].numel() ** 0.5
                    sub[2].weight.normal_(0.0, std)
                    sub[2].bias.normal_(0.0, std)
    return model


CAPACITIES = [((32, 64, 32), 0), ((64, 128, 64), 0), ((32, 64, 32), 2), ((24, 40, 56), 3)]


def test_published_network_is_unchanged():
    model = FusionINN()
    names = set(model.state_dict())
    assert names == set(build_reference_graph().state_dict())  # original checkpoints load without renaming
    assert model.parameter_count() == 17_648 and len(model.module_list) == 8
    cfg = FusionINNConfig().to_dict()
    assert cfg["extra_couplings"] == 0 and cfg["init_mixing"] == "interleave"
    # a config saved before these fields existed loads as the published network
    old = {k: v for k, v in cfg.items() if k not in ("extra_couplings", "init_mixing")}
    assert FusionINNConfig.from_dict(old) == FusionINNConfig()


def test_old_checkpoint_without_the_new_fields_gives_identical_outputs(tmp_path):
    x = _phantom()
    model = _trained_like(FusionINNConfig.fast(), x)
    meta = {"kind": "weights", "model": "fusioninn", "model_config": model.config.to_dict()}
    del meta["model_config"]["extra_couplings"], meta["model_config"]["init_mixing"]
    save_checkpoint(tmp_path / "old.safetensors", CheckpointData(model_state=model.state_dict(), meta=meta))
    loaded = model_from_checkpoint(load_checkpoint(tmp_path / "old.safetensors"))
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("widths,extra", CAPACITIES)
def test_capacity_round_trip_and_freia_reference(widths, extra):
    x = _phantom()
    model = _trained_like(FusionINNConfig.fast(widths=widths, extra_couplings=extra), x)
    assert len(model.module_list) == 8 + extra
    with torch.no_grad():
        y, z = model(x)
        assert (model.inverse(y, z) - x).abs().max() <= 1e-5
        ry, rz = freia_forward(model, x)  # FrEIA's modules, in module_list order
        assert torch.allclose(ry, y, atol=1e-4, rtol=1e-5) and torch.allclose(rz, z, atol=1e-4, rtol=1e-5)
        assert (freia_inverse(model, y, z) - x).abs().max() <= 1e-5
    first = model.module_list[1].subnet1[0]
    assert first.out_channels == widths[0] and model.module_list[4].subnet1[0].out_channels == widths[1]
    assert all(model.module_list[i].subnet1[0].out_channels == widths[2] for i in range(7, 8 + extra))


@pytest.mark.parametrize("widths,extra", [((64, 128, 64), 2), ((24, 40, 56), 1)])
def test_every_backend_agrees_for_other_widths(widths, extra):
    from fusioninn.models import native

    x = _phantom()
    model = _trained_like(FusionINNConfig.fast(widths=widths, extra_couplings=extra), x).eval()
    options = {"fused_conv": ExecutionOptions(native=False),
               "conv2d channels-last": ExecutionOptions(native=False, fused_conv=False),
               "conv2d NCHW": ExecutionOptions(native=False, fused_conv=False, channels_last=False)}
    if native.available():
        options["native"] = ExecutionOptions(native=True)
    fused = {}
    for name, opt in options.items():
        model.options = opt
        with torch.no_grad():
            fused[name] = model.fuse_tensor(x)[0]
            if name == "native":  # the extra full-resolution couplings run on the C kernel too
                assert subnet_backend(model.module_list[8].subnet1, x[:, :1], opt) == "native"
    with torch.no_grad():
        reference = model.fused_image(freia_forward(model, x)[0])
    for name, f in fused.items():
        assert (f - reference).abs().max() <= 2e-5, name
    # training (autograd) through the native kernel and through PyTorch: same gradients
    grads = {}
    for name in [n for n in ("native", "conv2d NCHW") if n in options]:
        model.options = options[name]
        model.zero_grad()
        y, z = model(x)
        (y.square().mean() + z.square().mean()).backward()
        grads[name] = model.module_list[8].subnet1[0].weight.grad.clone()
    if len(grads) == 2:
        assert torch.allclose(grads["native"], grads["conv2d NCHW"], rtol=1e-3, atol=1e-5)


def test_capacity_is_saved_and_rebuilt_from_the_checkpoint(tmp_path):
    from fusioninn.api import save_model

    x = _phantom()
    model = _trained_like(FusionINNConfig.fast(widths=(16, 24, 40), extra_couplings=2), x)
    save_model(model, tmp_path / "m.safetensors")
    loaded = model_from_checkpoint(load_checkpoint(tmp_path / "m.safetensors"))
    assert loaded.config == model.config and loaded.parameter_count() == model.parameter_count()
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], model(x)[0])
    # weights of another capacity than the config says are refused, naming a misfit tensor
    other = FusionINN(FusionINNConfig.fast(widths=(16, 24, 40), extra_couplings=1))
    save_checkpoint(tmp_path / "bad.safetensors", CheckpointData(
        model_state=other.state_dict(), meta={"kind": "weights", "model": "fusioninn",
                                              "model_config": model.config.to_dict()}))
    with pytest.raises(ValueError, match="do not fit"):
        model_from_checkpoint(load_checkpoint(tmp_path / "bad.safetensors"))


def test_parameter_counts_grow_as_expected():
    base = FusionINN().parameter_count()
    # one extra coupling = two 1 -> C -> 2 subnets: 2 * (9C + C + 18C + 2)
    c = 32
    assert FusionINN(FusionINNConfig(extra_couplings=1)).parameter_count() == base + 2 * (28 * c + 2)

    def subnet(c_in: int, w: int, c_out: int) -> int:  # conv3x3 c_in -> w, conv3x3 w -> c_out, with biases
        return 9 * c_in * w + w + 9 * w * c_out + c_out

    wide = 2 * (subnet(1, 64, 2) + subnet(4, 128, 8) + subnet(1, 64, 2))
    published = 2 * (subnet(1, 32, 2) + subnet(4, 64, 8) + subnet(1, 32, 2))
    assert FusionINN(FusionINNConfig(widths=(64, 128, 64))).parameter_count() == base + wide - published


def test_contributions_walk_the_extra_couplings():
    x = _phantom(1, 32)
    model = _trained_like(FusionINNConfig.fast(extra_couplings=2, widths=(16, 32, 16)), x)
    c = model.contributions(x[:, 0].numpy(), x[:, 1].numpy(), steps=16)
    with torch.no_grad():
        assert np.allclose(c.fused, model.fuse_tensor(x)[0][:, 0].numpy(), atol=1e-5)  # through the extra blocks
    assert c.completeness_max_abs <= 1e-3  # fused = baseline + first + second


@pytest.mark.parametrize("bad", [dict(widths=(32, 64)), dict(widths=(0, 64, 32)), dict(extra_couplings=-1),
                                 dict(extra_couplings=17), dict(init_mixing="blend")])
def test_bad_capacity_or_mixing_refused(bad):
    with pytest.raises(ValueError):
        FusionINNConfig.fast(**bad)


# --------------------------------------------------------------------------------------------------
# The "average" initialisation


def test_average_route_matches_freia_permutations():
    model = FusionINN(FusionINNConfig.fast(init_mixing="average"))
    assert model.config.permutation_seeds == AVERAGE_SEEDS
    p1 = model.module_list[2].perm.tolist()
    p2 = model.module_list[5].perm.tolist()
    channel = average_route(AVERAGE_SEEDS)
    assert p2[:4] == [4 * p1.index(channel) + k for k in range(4)]
    with pytest.raises(ValueError, match="interleave"):
        average_route((1, 2))  # the published seeds scatter both channels' planes
    with pytest.raises(ValueError, match="interleave"):
        FusionINNConfig.fast(init_mixing="average", permutation_seeds=(1, 2))
    with pytest.raises(ValueError, match="zero_init"):
        FusionINNConfig(init_mixing="average")  # the published init is not the identity


@pytest.mark.parametrize("extra", [0, 2])
def test_average_init_fuses_the_average_without_a_grid(extra):
    x = torch.from_numpy(phantom_slices(6, seed=777).images)  # the held-out phantom, 240 x 240
    model = build_model("fusioninn", "fast", init_mixing="average", extra_couplings=extra)
    interleave = build_model("fusioninn", "fast", extra_couplings=extra)
    for m in (model, interleave):
        m.initialise_actnorm(x)
    with torch.no_grad():
        y, z = model(x)
        fused = model.fused_image(y)
        fused_interleave = interleave.fuse_tensor(x)[0]
        h = model._squeeze(x)
        # exactly y = (a + b) / 2 and z = (a - b) / 2 in the network's (logit) space
        assert (y - h.mean(1, keepdim=True)).abs().max() <= 1e-5
        assert (z - (h[:, :1] - h[:, 1:]) / 2).abs().max() <= 1e-5
        assert (model.inverse(y, z) - x).abs().max() <= 1e-5
        assert (model.decompose_tensor(fused, z) - x).abs().max() <= 2e-3  # 8-bit-free clinical path
    average = x.mean(1, keepdim=True)
    diff = (fused - average).abs()
    # on the grey scale the logit-space mean differs from the arithmetic one only where one source is dark
    # and the other bright (tissue edges against background): small on average, at most ~0.22
    assert float(diff.mean()) < 2e-3 and float(diff.max()) < 0.25
    assert float((fused_interleave - average).abs().mean()) > 5 * float(diff.mean())
    scores = [grid_scores(x[i, 0].numpy(), x[i, 1].numpy(), f[i, 0].numpy())
              for i in range(len(x)) for f in (fused,)]
    ref = [grid_scores(x[i, 0].numpy(), x[i, 1].numpy(), average[i, 0].numpy()) for i in range(len(x))]
    inter = [grid_scores(x[i, 0].numpy(), x[i, 1].numpy(), fused_interleave[i, 0].numpy()) for i in range(len(x))]
    ratio = np.median([s["grid_ratio"] for s in scores])
    ratio_avg = np.median([s["grid_ratio"] for s in ref])
    ratio_inter = np.median([s["grid_ratio"] for s in inter])
    assert ratio <= 1.2 * ratio_avg and ratio < 1.0  # the average's level: no more than the sources'
    assert ratio_inter > 100 * ratio  # the interleave init's grid


def test_average_init_keeps_the_other_hidden_channels_trainable():
    model = build_model("fusioninn", "fast", init_mixing="average")
    first = model.module_list[1].subnet2[0].weight
    assert first[2:].abs().sum() > 0  # random, as in the interleave init: they get gradients
    x = _phantom(2, 32)
    model.initialise_actnorm(x)
    y, z = model(x)
    (y.square().mean() + z.square().mean()).backward()
    assert model.module_list[1].subnet2[2].weight.grad[:, 2:].abs().sum() > 0
