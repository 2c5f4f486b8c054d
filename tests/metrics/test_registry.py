"""The metric catalogue (`fusioninn.metrics.registry`) and `fusioninn.metrics.compute`."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from scipy import ndimage

from fusioninn.errors import UserInputError
from fusioninn.metrics import compute, compute_all, registry
from fusioninn.metrics._colour import rgb2gray
from fusioninn.metrics.registry import MetricSpec

OLD_NAMES = {"psnr": "psnr@fusioninn", "mi": "mi@qu", "en": "en@shannon", "sd": "sd@fusioninn"}


def _img(seed: int, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((size, size)), 1.5)
    return ((x - x.min()) / (x.max() - x.min()) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def triplet():
    a, b = _img(1), _img(2)
    return a, b, ((a.astype(float) + b) / 2).round().astype(np.uint8)


def test_every_listed_module_is_present_and_keys_are_well_formed():
    specs = registry.catalogue(strict=True)  # a listed module that is missing fails here
    assert set(registry.PAPER_KEYS) <= set(specs)
    for key, spec in specs.items():
        assert spec.key == key
        assert key == key.lower() and (key in registry.PAPER_KEYS or "@" in key)
        assert "doi:10." in spec.formula or "(no DOI)" in spec.formula, key
        assert spec.reference, key
        assert isinstance(spec.higher_is_better, bool)


def test_compute_matches_compute_all_for_the_historical_keys(triplet):
    keys = list(registry.PAPER_KEYS) + list(OLD_NAMES.values())
    for protocol in ("full", "reference"):
        new = compute(*triplet, names=keys, protocol=protocol)
        old = compute_all(*triplet, protocol=protocol)
        assert list(new) == keys
        for k in registry.PAPER_KEYS:
            assert new[k] == pytest.approx(old[k], abs=1e-12), k
        for old_key, key in OLD_NAMES.items():
            assert new[key] == pytest.approx(old[old_key], abs=1e-12), key


def test_float_and_uint8_inputs_agree():
    a, b = _img(3, 176), _img(4, 176)  # MS-SSIM needs sides over 160
    f = ((a.astype(float) + b) / 2).round().astype(np.uint8)
    as_float = [x / 255.0 for x in (a, b, f)]
    for key in registry.catalogue():
        try:
            want = compute(a, b, f, names=[key])[key]
        except UserInputError:  # a metric with its own size limits must refuse both forms alike
            with pytest.raises(UserInputError):
                compute(*as_float, names=[key])
            continue
        assert compute(*as_float, names=[key])[key] == pytest.approx(want, abs=1e-9), key


def test_a_metric_that_cannot_score_the_images_is_named(triplet):
    with pytest.raises(UserInputError, match=r"^ms_ssim@pytorch_msssim: MS-SSIM needs"):
        compute(*triplet, names="all")


def test_groups_and_comma_lists(triplet):
    assert list(compute(*triplet)) == list(registry.PAPER_KEYS)
    assert registry.resolve("q_xy, mi@qu,q_xy") == ("q_xy", "mi@qu")
    assert registry.resolve(["paper", "mi@qu"]) == registry.PAPER_KEYS + ("mi@qu",)
    assert registry.resolve("all") == tuple(registry.catalogue())
    for group in ("vifb", "mefb", "liu"):
        assert all(k.endswith("@" + group) for k in registry.group_keys(group))


@pytest.mark.parametrize(
    ("names", "message"),
    [("qabf@vifbb", "unknown metric 'qabf@vifbb'"), ("", "no metrics named"), ("pape", "did you mean paper")],
)
def test_bad_names_are_user_errors(triplet, names, message):
    with pytest.raises(UserInputError, match=message):
        compute(*triplet, names=names)


def test_bad_options_and_shapes(triplet):
    a, b, f = triplet
    with pytest.raises(UserInputError, match="colour must be one of"):
        compute(a, b, f, colour="luma")
    with pytest.raises(UserInputError, match="protocol"):
        compute(a, b, f, protocol="matlab")
    with pytest.raises(UserInputError, match="same size"):
        compute(a, b[:-1], f)
    with pytest.raises(UserInputError, match=r"fused: expected a grey \(H, W\) or colour"):
        compute(a, b, np.zeros((48, 48, 2), np.uint8))


def test_colour_rules(triplet):
    a, b, f = triplet
    rgb_a = np.stack([a, b, f], -1)
    rgb_f = np.stack([f, a, b], -1)
    keys = ["mi@qu", "q_ssim", "en@shannon"]
    mean = compute(rgb_a, b, rgb_f, keys, colour="mean")
    per_channel = [compute(rgb_a[..., c], b, rgb_f[..., c], keys) for c in range(3)]
    for k in keys:
        assert mean[k] == pytest.approx(np.mean([p[k] for p in per_channel]), abs=1e-12)
    grey = compute(rgb_a, b, rgb_f, keys, colour="grey")
    ga, gf = (rgb2gray(x.astype(float), integer=True).astype(np.uint8) for x in (rgb_a, rgb_f))
    assert grey == pytest.approx(compute(ga, b, gf, keys), abs=1e-12)
    # each variant's own rule by default: the paper's keys and ours are grey
    assert compute(rgb_a, b, rgb_f, keys) == pytest.approx(grey, abs=1e-12)


def test_rgb2gray_weights_are_matlabs():
    # MATLAB documents rgb2gray as 0.298936021293775 R + 0.587043074451121 G + 0.114020904255103 B
    from fusioninn.metrics._colour import RGB2GRAY

    assert RGB2GRAY == pytest.approx([0.298936021293775, 0.587043074451121, 0.114020904255103], abs=1e-15)
    px = np.array([[[10.0, 20.0, 30.0]]])
    assert rgb2gray(px, integer=True)[0, 0] == 18.0  # 18.15 rounds down
    assert rgb2gray(px, integer=False)[0, 0] == pytest.approx(18.1508488, abs=1e-6)


def _fake(name, variants):
    module = types.ModuleType(name)
    module.VARIANTS = variants
    return module


def test_collection_checks_duplicates_missing_modules_and_types(monkeypatch):
    spec = MetricSpec("x@test", lambda a, b, f: 0.0, "doi:10.0/x", "r", "8bit", "grey", True)
    pkg = registry.__package__
    monkeypatch.setitem(sys.modules, f"{pkg}._fake_one", _fake("one", (spec,)))
    monkeypatch.setitem(sys.modules, f"{pkg}._fake_two", _fake("two", (spec,)))
    monkeypatch.setitem(sys.modules, f"{pkg}._fake_bad", _fake("bad", [spec]))
    monkeypatch.setattr(registry, "VARIANT_MODULES", ("._fake_one", "._fake_missing"))
    assert list(registry._load(strict=False)) == ["x@test"]
    with pytest.raises(ModuleNotFoundError):
        registry._load(strict=True)
    monkeypatch.setattr(registry, "VARIANT_MODULES", ("._fake_one", "._fake_two"))
    with pytest.raises(ValueError, match="defined twice"):
        registry._load(strict=False)
    monkeypatch.setattr(registry, "VARIANT_MODULES", ("._fake_bad",))
    with pytest.raises(TypeError, match="tuple of MetricSpec"):
        registry._load(strict=False)


def test_spec_validation():
    with pytest.raises(ValueError, match="lower case"):
        MetricSpec("Qabf@VIFB", lambda a, b, f: 0.0, "", "", "8bit", "grey", True)
    with pytest.raises(ValueError, match="colour"):
        MetricSpec("q@x", lambda a, b, f: 0.0, "", "", "8bit", "rgb", True)


def test_torch_tensors_grey_and_colour():
    torch = pytest.importorskip("torch")
    a, b = _img(5), _img(6)
    rgb = np.stack([a, b, a], -1)
    want = compute(rgb, b, rgb, ["qabf@vifb", "q_ssim"])
    got = compute(torch.from_numpy(rgb), torch.from_numpy(b), torch.from_numpy(rgb), ["qabf@vifb", "q_ssim"])
    assert got == pytest.approx(want, abs=1e-12)
