"""The edge/detail fusion terms through ``fusioninn train`` and the trainer: options, variants, the saved
config, the logged terms, the resume check - for FusionINN and a CNN baseline alike."""

import json

import numpy as np
import pytest

from fusioninn.cli import main
from fusioninn.errors import UserInputError
from fusioninn.losses.fusion import LossWeights
from fusioninn.training.config import TrainConfig
from fusioninn.training.trainer import Trainer
from fusioninn.training.variants import VARIANTS

OPTIONS = {"--w-ms-gradient": "ms_gradient", "--w-laplacian-detail": "laplacian_detail",
           "--w-salience-intensity": "salience_intensity"}


def _train_args(out, *extra, crop="16"):
    # the UNet's bottleneck needs 32-pixel crops (batch norm of a final batch of one 1x1 map fails at 16)
    return ["train", "--data", "phantom:6:3", "--epochs", "1", "--batch-size", "4", "--crop", crop, "--out",
            str(out), "--quiet", "--threads", "1", "--device", "cpu", *extra]


def _main(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's errors
        return exc.code


def _history(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", ["fusioninn", "unet"])
def test_each_option_trains_is_recorded_and_logged(tmp_path, model):
    args = [a for opt in OPTIONS for a in (opt, "0.5")]
    out = tmp_path / model
    crop = "32" if model == "unet" else "16"
    assert main(_train_args(out, "--model", model, *args, crop=crop)) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert all(cfg["loss"][name] == 0.5 for name in OPTIONS.values())
    hist = _history(out)
    for name in OPTIONS.values():
        assert np.isfinite(hist[0][f"train_{name}"]) and hist[0][f"train_{name}"] > 0
    # off: not logged
    off = tmp_path / f"{model}-off"
    assert main(_train_args(off, "--model", model, crop=crop)) == 0
    assert not any(f"train_{name}" in _history(off)[0] for name in OPTIONS.values())


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_negative_or_non_finite_weights_exit_2_with_one_line(tmp_path, capsys, option, value):
    out = tmp_path / "run"
    assert _main(_train_args(out, option, value)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and "Traceback" not in err[0]
    assert not out.exists()


@pytest.mark.parametrize("name", list(OPTIONS.values()))
def test_config_refuses_bad_weights_from_the_api(name):
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=name):
            TrainConfig(loss=LossWeights(**{name: bad}))
    assert TrainConfig(loss={name: 2.0}).loss == LossWeights(**{name: 2.0})
    # a config saved before these terms existed reads as 0 (the published loss)
    old = TrainConfig().to_dict()
    for key in OPTIONS.values():
        del old["loss"][key]
    assert TrainConfig.from_dict(old).loss == LossWeights()


def test_sharp_variants_set_the_terms_and_explicit_options_win(tmp_path):
    for name in ("ms-edge", "laplacian-detail", "salience", "sharp", "sharp-grid", "robust-r2", "robust-r2-sharp"):
        TrainConfig(loss=VARIANTS[name]["loss"])  # valid weights
    out = tmp_path / "run"
    assert main(_train_args(out, "--model", "unet", "--variant", "sharp", "--w-laplacian-detail", "2", crop="32")) == 0
    loss = json.loads((out / "config.json").read_text())["loss"]
    assert (loss["gradient"], loss["ms_gradient"], loss["laplacian_detail"], loss["salience_intensity"]) == (
        1.0, 1.0, 2.0, 1.0)


def test_resume_refuses_a_changed_edge_detail_weight(tmp_path):
    rng = np.random.default_rng(0)
    train, val = rng.random((8, 2, 32, 32)).astype(np.float32), rng.random((4, 2, 32, 32)).astype(np.float32)
    base = dict(epochs=2, batch_size=4, crop=16, threads=1, device="cpu", max_steps=2)
    Trainer(TrainConfig(**base, loss={"laplacian_detail": 1.0}), train, val, tmp_path / "r", progress=False).fit()
    with pytest.raises(UserInputError, match="loss weight laplacian_detail"):
        Trainer(TrainConfig(**{**base, "max_steps": 4}, loss={"laplacian_detail": 2.0}), train, val,
                tmp_path / "r", progress=False).fit(resume=True)
    with pytest.raises(UserInputError, match="loss weight salience_intensity"):
        Trainer(TrainConfig(**{**base, "max_steps": 4}, loss={"laplacian_detail": 1.0, "salience_intensity": 0.5}),
                train, val, tmp_path / "r", progress=False).fit(resume=True)
    resumed = Trainer(TrainConfig(**{**base, "max_steps": 4}, loss={"laplacian_detail": 1.0}), train, val,
                      tmp_path / "r", progress=False)
    assert resumed.fit(resume=True).epochs_done == 2


def test_the_help_names_every_variant():
    import argparse

    from fusioninn.commands import train_cmd

    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    text = " ".join(parser.format_help().split())
    for name in VARIANTS:
        assert name in text, name
