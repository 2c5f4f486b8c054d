"""Training FusionINN with more capacity (--widths, --couplings) and the average initialisation
(--init-mixing average): recorded in the config and checkpoints, checked on --resume and --init."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fusioninn.data.phantom import phantom_slices
from fusioninn.errors import UserInputError
from fusioninn.training.checkpoint import load_checkpoint
from fusioninn.training.config import TrainConfig
from fusioninn.training.trainer import Trainer, model_from_checkpoint


def _train(tmp_path, name: str, *extra: str, steps: int = 20) -> tuple[int, str]:
    from fusioninn.cli import main

    return main(["train", "--data", "phantom:10:5", "--out", str(tmp_path / name), "--batch-size", "4", "--crop", "32",
                 "--max-steps", str(steps), "--quiet", "--threads", "1", "--device", "cpu", *extra])


def test_smoke_training_with_capacity_and_average_init(tmp_path, capsys):
    assert _train(tmp_path, "run", "--widths", "16,24,40", "--couplings", "2", "--init-mixing", "average") == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["widths"] == [16, 24, 40] and cfg["extra_couplings"] == 2 and cfg["init_mixing"] == "average"
    data = load_checkpoint(tmp_path / "run" / "last.safetensors")
    mc = data.meta["model_config"]
    assert mc["widths"] == [16, 24, 40] and mc["extra_couplings"] == 2 and mc["init_mixing"] == "average"
    assert mc["permutation_seeds"] == [1, 1287]
    model = model_from_checkpoint(data)
    assert len(model.module_list) == 10
    x = torch.from_numpy(phantom_slices(2, seed=9, size=(32, 32)).images)
    with torch.no_grad():
        y, z = model(x)
        assert torch.isfinite(y).all() and (model.inverse(y, z) - x).abs().max() <= 1e-5
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["steps"] == 20 and np.isfinite(out["val_loss"])
    # resume checks the capacity and the mixing; same settings continue
    capsys.readouterr()
    assert _train(tmp_path, "run", "--widths", "16,24,40", "--couplings", "1", "--init-mixing", "average",
                  "--resume", steps=22) == 2
    assert "extra_couplings" in capsys.readouterr().err
    assert _train(tmp_path, "run", "--widths", "16,24,40", "--couplings", "2", "--init-mixing", "average",
                  "--resume", steps=22) == 0
    # --init from these weights: refused for another capacity (one line naming what differs), accepted
    # with the same (the initial mixing itself does not matter: the weights replace it)
    capsys.readouterr()
    weights = str(tmp_path / "run" / "best.safetensors")
    assert _train(tmp_path, "ft", "--init", weights, steps=2) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--init" in err and "widths" in err and not (tmp_path / "ft").exists()
    assert _train(tmp_path, "ft", "--init", weights, "--widths", "16,24,40", "--couplings", "2",
                  "--init-mixing", "average", steps=2) == 0
    # fusioninn info lists the network and its parameters
    from fusioninn.cli import main

    capsys.readouterr()
    assert main(["info", "--json", "--threads", "1", "--model", weights]) == 0
    described = json.loads(capsys.readouterr().out)["model"]
    assert described["widths"] == [16, 24, 40] and described["extra_couplings"] == 2
    assert described["parameters"] == model.parameter_count() == sum(described["parameters_per_block"].values())
    assert main(["info", "--threads", "1", "--model", weights]) == 0
    assert "widths 16,24,40, 2 extra couplings, init mixing average" in capsys.readouterr().out


def test_variants_set_capacity_and_mixing_and_options_win(tmp_path):
    assert _train(tmp_path, "v", "--variant", "wide-deep", "--widths", "8,16,8", steps=1) == 0
    cfg = json.loads((tmp_path / "v" / "config.json").read_text())
    assert cfg["widths"] == [8, 16, 8] and cfg["extra_couplings"] == 2 and cfg["init_mixing"] == "interleave"
    from fusioninn.training.variants import VARIANTS

    assert VARIANTS["average-init"] == {"init_mixing": "average"}


def test_train_config_defaults_build_the_recipe_network_and_old_configs_load():
    cfg = TrainConfig(threads=1, device="cpu")
    assert cfg.model_overrides() == {} and cfg.model_config() == cfg.model_config().fast()
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("widths", "extra_couplings", "init_mixing")}
    assert TrainConfig.from_dict(old) == cfg
    with pytest.raises(ValueError, match="zero_init"):
        TrainConfig(recipe="paper", init_mixing="average")
    with pytest.raises(ValueError, match="FusionINN options"):
        TrainConfig(model="deepfuse", extra_couplings=1)


def test_trainer_step_zero_is_the_average(tmp_path):
    """Before the first optimiser step the trainer's model fuses to the logit-space average."""
    x = phantom_slices(8, seed=4, size=(64, 64)).images
    trainer = Trainer(TrainConfig(init_mixing="average", threads=1, device="cpu", batch_size=4, crop=32),
                      x[:6], x[6:], tmp_path / "r", progress=False)
    t = torch.from_numpy(x)
    with torch.no_grad():
        fused = trainer.model.fuse_tensor(t)[0]
    h = trainer.model._squeeze(t)
    assert (fused - trainer.model._unsqueeze(h.mean(1, keepdim=True))).abs().max() <= 1e-5
    with pytest.raises(UserInputError, match="nothing to resume"):
        trainer.fit(resume=True)


def test_the_cli_bound_on_couplings_is_the_network_s():
    # train_cmd keeps its own copy so that --help does not import torch; they must agree
    from fusioninn.commands import train_cmd
    from fusioninn.models.fusioninn import MAX_EXTRA_COUPLINGS

    assert train_cmd._MAX_COUPLINGS == MAX_EXTRA_COUPLINGS
