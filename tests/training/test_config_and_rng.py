"""Recipes fill what the caller does not give, from Python as from the command line; the trainer draws
from its own generators and leaves the process's global random state alone."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from fusioninn.training.config import RECIPES, TrainConfig
from fusioninn.training.trainer import Trainer


def test_a_recipe_sets_its_hyper_parameters_unless_given():
    paper = TrainConfig(recipe="paper")
    for key, value in RECIPES["paper"].items():
        assert getattr(paper, key) == value, key
    assert paper.batch_size == 64 and paper.lr == 3e-4 and paper.crop is None and paper.grad_clip is None
    fast = TrainConfig()
    for key, value in RECIPES["fast"].items():
        assert getattr(fast, key) == value, key
    tuned = TrainConfig.from_recipe("paper", lr=1e-4, epochs=3)
    assert (tuned.recipe, tuned.lr, tuned.epochs, tuned.batch_size) == ("paper", 1e-4, 3, 64)
    assert TrainConfig.from_recipe("fast", crop=None).crop is None  # an explicit None is kept
    assert TrainConfig.from_dict(tuned.to_dict()) == tuned
    with pytest.raises(ValueError, match="unknown recipe"):
        TrainConfig(recipe="nope")


def test_training_leaves_the_global_random_state_alone(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.random((6, 2, 24, 24)).astype(np.float32)
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(9)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    cfg = TrainConfig(epochs=1, batch_size=3, crop=16, threads=1, device="cpu")
    Trainer(cfg, data, data[:2], tmp_path / "run", progress=False).fit()
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]
    # and the run is a function of its seed alone
    torch.manual_seed(999)
    Trainer(cfg, data, data[:2], tmp_path / "again", progress=False).fit()
    a = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0]
    b = (tmp_path / "again" / "metrics.jsonl").read_text().splitlines()[0]
    import json

    ka, kb = json.loads(a), json.loads(b)
    assert ka["train_loss"] == kb["train_loss"] and ka["val_loss"] == kb["val_loss"]
