"""Properties of the MEFB / Liu-toolbox variants that hold whatever the reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusioninn.errors import UserInputError
from fusioninn.metrics import compute, registry

MINE = [
    "nmi@liu", "nmi@mefb", "te@liu", "te@mefb", "te@cvejic2006", "te_nava@liu", "qncie@liu", "qncie@mefb",
    "qncie@fusioninn", "qabf@liu", "qabf@fusioninn", "ssim@liu", "ssim@fusioninn", "qs@liu", "piella@fusioninn",
    "qw@liu", "qw@mefb", "qe@piella", "qp@liu", "qp@mefb", "qc@liu", "qc@mefb", "qc@cvejic2005", "qy@liu",
    "qy@mefb", "qy@yang2008", "qsf@liu", "qm@liu", "vif@mefb", "mef_ssim@mefb", "fmi@mefb",
    "fmi_edge@haghighat2014", "fmi@fusioninn", "fmi@haghighat2014",
]  # fmt: skip


@pytest.fixture(scope="module")
def textured():
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:96, 0:96]
    a = 128 + 60 * np.sin(x / 5.0) + rng.normal(0, 8, x.shape)
    b = 128 + 60 * np.cos(y / 7.0) + rng.normal(0, 8, x.shape)
    a, b = (np.clip(v, 0, 255).round().astype(np.uint8) for v in (a, b))
    f = ((a.astype(float) + b) / 2).round().astype(np.uint8)
    return a, b, f


def test_all_keys_registered_with_provenance():
    cat = registry.catalogue(strict=True)
    for key in MINE:
        spec = cat[key]
        assert ":" in spec.reference or spec.reference.startswith("none"), key
        assert "doi:10." in spec.formula, key
    assert set(registry.group_keys("liu")) >= {k for k in MINE if k.endswith("@liu")}
    assert set(registry.group_keys("mefb")) >= {k for k in MINE if k.endswith("@mefb")}


def test_finite_on_a_textured_triplet(textured):
    scores = compute(*textured, names=MINE)
    for key, value in scores.items():
        assert math.isfinite(value), key


@pytest.mark.parametrize(
    "key", ["qs@liu", "qw@liu", "ssim@liu", "qc@cvejic2005", "qy@yang2008", "mef_ssim@mefb", "vif@mefb"]
)
def test_fused_equal_to_both_sources_scores_one(textured, key):
    a = textured[0]
    assert compute(a, a, a, names=[key])[key] == pytest.approx(1.0, abs=2e-3)


def test_zhao_qp_of_identical_images_is_below_one(textured):
    # metricZhao.m masks the source feature maps to strong features (PC > 0.1) but not the fused one, so
    # even F = A = B correlates imperfectly: a property of the reference, kept.
    a = textured[0]
    assert 0.5 < compute(a, a, a, names=["qp@mefb"])["qp@mefb"] < 0.99


def test_liu_cvejic_and_yang_are_nan_on_zero_background(textured):
    # The toolbox divides 0 by 0 on windows that are zero in every image; MEFB drops those windows.
    a, b, f = (np.pad(x, 20) for x in textured)
    got = compute(a, b, f, names=["qc@liu", "qy@liu", "qc@mefb", "qy@mefb"])
    assert math.isnan(got["qc@liu"]) and math.isnan(got["qy@liu"])
    assert math.isfinite(got["qc@mefb"]) and math.isfinite(got["qy@mefb"])


def test_colour_rules_of_aliases(textured):
    a, b, f = textured
    rgb = np.stack([f, np.roll(f, 3, axis=1), np.roll(f, 5, axis=0)], axis=-1)
    both = compute(a, b, rgb, names=["nmi@mefb", "nmi@liu"])
    per_channel = np.mean([compute(a, b, rgb[..., c], names=["nmi@liu"])["nmi@liu"] for c in range(3)])
    assert both["nmi@mefb"] == pytest.approx(per_channel, rel=1e-12)  # MEFB: mean over channels
    assert both["nmi@liu"] != pytest.approx(per_channel, rel=1e-6)  # Liu: rgb2gray first


def test_mef_ssim_refuses_images_too_small_for_three_scales(textured):
    a, b, f = (x[:40, :40] for x in textured)
    with pytest.raises(UserInputError, match="mef_ssim needs images of at least 44"):
        compute(a, b, f, names=["mef_ssim@mefb"])


def test_shared_intermediates_within_one_call_only(textured):
    from fusioninn.metrics import q_zhao
    from fusioninn.metrics._matlab import _MEMOS

    a, b, f = textured
    both = compute(a, b, f, names=["qp@mefb", "qp@liu", "qs@liu", "qe@piella"])
    assert both["qp@mefb"] == both["qp@liu"]
    assert all(len(cache) == 0 for cache in _MEMOS)  # forgotten when the call returns
    other = compute(b, a, np.flipud(f).copy(), names=["qp@mefb"])["qp@mefb"]
    assert other != both["qp@mefb"]
    assert q_zhao.qp_zhao(a.astype(float), b.astype(float), f.astype(float)) == both["qp@liu"]


def test_cli_writes_null_for_a_reference_nan(tmp_path, textured, capsys):
    # qc@liu is NaN on a zero background, as Liu's metricCvejic.m; the CLI must still answer (JSON null).
    import json

    from PIL import Image

    from fusioninn.cli import main

    paths = []
    for name, x in zip(("a", "b", "f"), (np.pad(v, 20) for v in textured), strict=True):
        paths.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(x).save(paths[-1])
    assert main(["metrics", *paths, "--metrics", "qc@liu,qc@mefb", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["qc@liu"] is None and 0.0 < got["qc@mefb"] < 1.0
