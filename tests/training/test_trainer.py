import json

import numpy as np
import pytest
import torch

from fusioninn.errors import CheckpointError, UserInputError
from fusioninn.training.checkpoint import load_checkpoint
from fusioninn.training.config import TrainConfig
from fusioninn.training.trainer import Trainer, model_from_checkpoint


def _data(n=12, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 2, size, size)).astype(np.float32)


def _cfg(**kw):
    base = dict(epochs=3, batch_size=4, crop=16, threads=1, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _history(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_writes_history_checkpoints_and_figure(tmp_path):
    result = Trainer(_cfg(), _data(), _data(4, seed=1), tmp_path / "run", progress=False).fit()
    assert result.epochs_done == 3 and result.stopped == "completed"
    hist = _history(tmp_path / "run")
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    for key in ("train_loss", "val_loss", "val_q_ssim", "val_dec_ssim_1", "val_dec_ssim_2", "lr"):
        assert all(np.isfinite(h[key]) for h in hist), key
    for name in ("last.safetensors", "best.safetensors", "loss_curve.png", "config.json"):
        assert (tmp_path / "run" / name).exists()
    model = model_from_checkpoint(load_checkpoint(tmp_path / "run" / "best.safetensors"))
    assert model.parameter_count() == 17_648


def test_resume_continues_exactly(tmp_path):
    train, val = _data(), _data(4, seed=1)
    Trainer(_cfg(epochs=4), train, val, tmp_path / "a", progress=False).fit()
    Trainer(_cfg(epochs=2), train, val, tmp_path / "b", progress=False).fit()
    Trainer(_cfg(epochs=4), train, val, tmp_path / "b", progress=False).fit(resume=True)
    ha, hb = _history(tmp_path / "a"), _history(tmp_path / "b")
    assert [h["epoch"] for h in hb] == [1, 2, 3, 4]
    for a, b in zip(ha, hb, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
    wa = load_checkpoint(tmp_path / "a" / "last.safetensors").model_state
    wb = load_checkpoint(tmp_path / "b" / "last.safetensors").model_state
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_refuses_to_overwrite_a_run_and_to_resume_nothing(tmp_path):
    Trainer(_cfg(epochs=1), _data(), _data(4), tmp_path / "r", progress=False).fit()
    with pytest.raises(UserInputError, match="already holds a run"):
        Trainer(_cfg(epochs=1), _data(), _data(4), tmp_path / "r", progress=False).fit()
    with pytest.raises(UserInputError, match="nothing to resume"):
        Trainer(_cfg(epochs=1), _data(), _data(4), tmp_path / "empty", progress=False).fit(resume=True)


def test_tampered_checkpoint_is_refused(tmp_path):
    Trainer(_cfg(epochs=1), _data(), _data(4), tmp_path / "r", progress=False).fit()
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = tmp_path / "r" / "last.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    tensors["model.module_list.0.bias"] = tensors["model.module_list.0.bias"] + 1e-3
    save_file(tensors, str(path), metadata=meta)  # same metadata, edited weights
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)


def test_bad_training_data_is_refused(tmp_path):
    bad = _data()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(UserInputError, match="NaN"):
        Trainer(_cfg(), bad, _data(4), tmp_path / "r", progress=False)
    with pytest.raises(UserInputError, match="non-empty"):
        Trainer(_cfg(), _data()[:, :1], _data(4), tmp_path / "r", progress=False)


def test_init_weights_start_from_a_checkpoint_and_refuse_other_architectures(tmp_path):
    first = Trainer(_cfg(epochs=1), _data(), _data(4, seed=1), tmp_path / "a", progress=False)
    first.fit()
    start = tmp_path / "a" / "last.safetensors"
    start_state = load_checkpoint(start).model_state
    # a negligible learning rate: after one epoch the weights are still the start's
    tuned = Trainer(_cfg(epochs=1, lr=1e-12, init_weights=str(start), loss={"gradient": 0.5}), _data(),
                    _data(4, seed=1), tmp_path / "b", progress=False)
    assert tuned.fit().stopped == "completed"
    end = load_checkpoint(tmp_path / "b" / "last.safetensors")
    for key, value in start_state.items():
        torch.testing.assert_close(end.model_state[key], value, rtol=0, atol=1e-6, msg=key)
    assert end.meta["data"]["init_weights"]["weights_sha256"] == load_checkpoint(start).meta["weights_sha256"]
    # resuming the fine-tune continues from its own checkpoint, even if the start file is gone
    start.rename(tmp_path / "moved.safetensors")
    again = Trainer(_cfg(epochs=2, lr=1e-12, init_weights=str(start), loss={"gradient": 0.5}), _data(),
                    _data(4, seed=1), tmp_path / "b", progress=False)
    assert again.fit(resume=True).epochs_done == 2
    assert "init_weights" in load_checkpoint(tmp_path / "b" / "last.safetensors").meta["data"]
    with pytest.raises(UserInputError, match="another architecture"):
        Trainer(_cfg(epochs=1, model="unet", init_weights=str(tmp_path / "moved.safetensors")), _data(),
                _data(4, seed=1), tmp_path / "c", progress=False).fit()
    with pytest.raises(CheckpointError, match="not found"):
        Trainer(_cfg(epochs=1, init_weights=str(tmp_path / "nope.safetensors")), _data(), _data(4, seed=1),
                tmp_path / "d", progress=False).fit()


def test_fused_perturbation_and_grid_penalty_train_and_are_recorded(tmp_path):
    from fusioninn.losses.fusion import LossWeights

    cfg = _cfg(epochs=1, fused_perturb="jpeg,blur,shift,noise", perturb_share=1.0, loss=LossWeights(grid=0.5))
    result = Trainer(cfg, _data(), _data(4, seed=1), tmp_path / "run", progress=False).fit()
    assert result.epochs_done == 1
    hist = _history(tmp_path / "run")
    assert np.isfinite(hist[0]["train_loss"]) and np.isfinite(hist[0]["val_loss"])
    saved = TrainConfig.from_dict(json.loads((tmp_path / "run" / "config.json").read_text()))
    assert saved.fused_perturb == "jpeg,blur,shift,noise" and saved.loss.grid == 0.5
    with pytest.raises(ValueError, match="jpeg, blur"):
        _cfg(fused_perturb="gif")
    with pytest.raises(ValueError, match="grid"):
        _cfg(loss=LossWeights(grid=-1.0))


def test_train_variant_sets_the_options_and_explicit_options_win(tmp_path, capsys):
    from fusioninn.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", "phantom:6:3", "--variant", "robust-grid", "--w-grid", "0.1", "--epochs", "1",
                 "--batch-size", "4", "--crop", "16", "--out", str(out), "--quiet", "--threads", "1",
                 "--device", "cpu"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["fused_perturb"] == "jpeg,blur,shift,noise" and cfg["perturb_share"] == 0.5
    assert cfg["loss"]["gradient"] == 1.0 and cfg["loss"]["grid"] == 0.1
    capsys.readouterr()
    assert main(["train", "--data", "phantom:6:3", "--variant", "nosuch", "--out", str(tmp_path / "x")]) == 2
    assert "--variant" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_train_reads_each_data_spec_once(tmp_path, monkeypatch):
    # a spec named twice (to weight it) and split into train and validation parts is still read once
    from fusioninn.cli import main
    from fusioninn.data import dataset as dataset_mod

    real = dataset_mod.open_slices
    calls = []

    def counting(spec, *a, **k):
        calls.append(spec)
        return real(spec, *a, **k)

    monkeypatch.setattr(dataset_mod, "open_slices", counting)
    out = tmp_path / "run"
    assert main(["train", "--data", "phantom:10:3", "--data", "phantom:10:3", "--data", "phantom:4:5",
                 "--epochs", "1", "--batch-size", "4", "--crop", "16", "--out", str(out), "--quiet",
                 "--threads", "1", "--device", "cpu"]) == 0
    assert calls == ["phantom:10:3", "phantom:4:5"]
    info = json.loads((out / "config.json").read_text())
    assert info["data"] == "phantom:10:3+phantom:10:3+phantom:4:5"
