"""evaluate and benchmark commands end to end on a tiny phantom set."""

import json

import pytest
import torch

from fusioninn.api import save_model
from fusioninn.cli import main
from fusioninn.models import FusionINN, FusionINNConfig


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    model = FusionINN(FusionINNConfig.fast())
    model.initialise_actnorm(torch.rand(2, 2, 16, 16))
    path = tmp_path_factory.mktemp("m") / "model.safetensors"
    save_model(model, path)
    return str(path)


def test_evaluate_writes_the_documented_json(tmp_path, model_path):
    rc = main(["evaluate", "--data", "phantom:3:9", "--methods", "fusioninn,average", "--out", str(tmp_path),
               "--model", model_path, "--quiet", "--threads", "1"])
    assert rc == 0
    res = json.loads((tmp_path / "results.json").read_text())
    by = {m["method"]: m for m in res["methods"]}
    assert by["fusioninn"]["n"] == 3 and by["average"]["n"] == 3
    for key in ("q_ssim", "q_fmi", "q_ncie", "q_xy", "q_p", "psnr", "mi", "en", "sd"):
        assert set(by["average"][key]) == {"mean", "std"}
    assert by["average"]["dec_ssim_1"] is None
    assert 0 <= by["fusioninn"]["dec_ssim_1"]["mean"] <= 1
    assert (tmp_path / "per_image.csv").exists() and (tmp_path / "results.md").exists()


def test_benchmark_lists_every_method_and_ddfm_as_not_run(tmp_path, model_path):
    rc = main(["benchmark", "--data", "phantom:2:9", "--methods", "fusioninn,average,dwt", "--out", str(tmp_path),
               "--model", model_path, "--quiet", "--threads", "1"])
    assert rc == 0
    s = json.loads((tmp_path / "benchmark.json").read_text())
    assert [m["method"] for m in s["methods"]] == ["fusioninn", "average", "dwt"]
    assert s["methods"][0]["parameters"] == 17_648
    assert "ddfm" in s["not_run"]
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_unknown_method_is_a_user_error(tmp_path, model_path, capsys):
    assert main(["evaluate", "--data", "phantom:2", "--methods", "nosuch", "--out", str(tmp_path),
                 "--model", model_path]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_perturb_scores_decomposition_after_each_perturbation(tmp_path, model_path):
    rc = main(["evaluate", "--data", "phantom:2:9", "--methods", "fusioninn,average", "--out", str(tmp_path),
               "--model", model_path, "--quiet", "--threads", "1", "--perturb", "jpeg95,blur0.5,shift0.5,noise1"])
    assert rc == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["perturbations"] == ["jpeg95", "blur0.5", "shift0.5", "noise1"]
    by = {m["method"]: m for m in res["methods"]}
    for key in ("grid_ratio", "grid_rms"):
        assert by["average"][key]["median"] >= 0 and by["fusioninn"][key]["median"] >= 0
    assert by["average"]["dec_r2_1"] is None and by["average"]["dec_r2_1:jpeg95"] is None
    for name in res["perturbations"]:
        entry = by["fusioninn"][f"dec_r2_2:{name}"]
        assert set(entry) == {"mean", "std", "median", "pooled"} and entry["pooled"] <= 1
        assert 0 <= by["fusioninn"][f"dec_ssim_1:{name}"]["mean"] <= 1
    md = (tmp_path / "results.md").read_text()
    assert "dec. R² 1 after jpeg95" in md and "grid ratio (median)" in md


def test_bad_perturb_is_a_user_error_and_writes_nothing(tmp_path, model_path, capsys):
    out = tmp_path / "never"
    for cmd in ("evaluate", "benchmark"):
        assert main([cmd, "--data", "phantom:2", "--out", str(out), "--model", model_path,
                     "--perturb", "jpeg200"]) == 2
        assert "--perturb" in capsys.readouterr().err
        assert not out.exists()


def test_metrics_option_on_benchmark_and_evaluate(tmp_path, model_path, capsys):
    out = tmp_path / "bench"
    rc = main(["benchmark", "--data", "phantom:2:9", "--methods", "average", "--out", str(out),
               "--model", model_path, "--quiet", "--threads", "1", "--metrics", "q_xy,qabf@vifb"])
    assert rc == 0
    s = json.loads((out / "benchmark.json").read_text())
    assert s["metrics"] == ["q_xy", "qabf@vifb"]
    assert set(s["methods"][0]["qabf@vifb"]) == {"mean", "std"}
    assert "| method | Q_XY | qabf@vifb |" in (out / "benchmark.md").read_text()
    capsys.readouterr()
    bad = tmp_path / "never"
    assert main(["evaluate", "--data", "phantom:2", "--methods", "average", "--out", str(bad),
                 "--model", model_path, "--metrics", "qabf@vif"]) == 2
    assert "did you mean qabf@vifb" in capsys.readouterr().err
    assert not bad.exists()
