"""Source augmentation (train --augment): parsing, what each augmentation does to a batch, that every rank
of a data-parallel run gets its rows of the same draws, and that runs record, resume and refuse it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fusioninn.errors import UserInputError
from fusioninn.training.augment import SourceAugmentation
from fusioninn.training.config import TrainConfig
from fusioninn.training.trainer import Trainer


def _data(n=12, size=32, seed=0):
    return np.random.default_rng(seed).random((n, 2, size, size)).astype(np.float32)


def _cfg(**kw):
    return TrainConfig(**{**dict(epochs=2, batch_size=4, crop=16, threads=1, device="cpu"), **kw})


@pytest.mark.parametrize("spec, dihedral, log_gamma", [
    ("dihedral", True, 0.0), ("gamma", False, 0.3), ("gamma:0.5", False, 0.5), (" dihedral , gamma:0.2 ", True, 0.2),
])
def test_spec_parsing(spec, dihedral, log_gamma):
    aug = SourceAugmentation.from_spec(spec)
    assert aug.dihedral is dihedral and aug.log_gamma == pytest.approx(log_gamma)


@pytest.mark.parametrize("spec, message", [
    ("flip", "some of dihedral, gamma"), ("gamma:x", "takes a number"), ("gamma:0", r"\(0, 1\]"),
    ("gamma:1.5", r"\(0, 1\]"), ("dihedral:2", "some of dihedral, gamma"), (",", "names no augmentation"),
])
def test_bad_specs_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        SourceAugmentation.from_spec(spec)


def test_dihedral_turns_the_batch_and_gamma_powers_each_source():
    x = torch.rand(4, 2, 8, 8)
    aug = SourceAugmentation(dihedral=True, log_gamma=0.3)
    plan = aug.plan(torch.Generator().manual_seed(0), steps=50, batch_size=4)
    assert set(plan["rot90"].tolist()) == {0, 1, 2, 3}
    assert plan["log_gamma"].shape == (50, 4, 2) and plan["log_gamma"].abs().max() <= 0.3
    assert plan["log_gamma"].std() > 0.1  # spread over the range, not a constant
    for step in range(6):
        got = aug.apply(x, plan, step)
        gamma = plan["log_gamma"][step].exp()
        want = torch.rot90(x, int(plan["rot90"][step]), dims=(-2, -1)) ** gamma[:, :, None, None]
        torch.testing.assert_close(got, want)
        assert got.min() >= 0 and got.max() <= 1
    # a non-square batch is not turned (it would change the shape); gamma still applies
    wide = torch.rand(4, 2, 8, 12)
    step = int(torch.nonzero(plan["rot90"] == 1)[0])
    assert aug.apply(wide, plan, step).shape == wide.shape


def test_each_rank_gets_its_rows_of_the_global_draws():
    aug = SourceAugmentation(dihedral=True, log_gamma=0.4)
    plan = aug.plan(torch.Generator().manual_seed(3), steps=4, batch_size=6)
    x = torch.rand(6, 2, 8, 8)
    whole = aug.apply(x, plan, 2)
    parts = torch.cat([aug.apply(x[lo:hi], plan, 2, lo) for lo, hi in ((0, 2), (2, 5), (5, 6))])
    torch.testing.assert_close(parts, whole)


def test_the_augmentation_draws_leave_the_crops_as_they_were(tmp_path):
    plain = Trainer(_cfg(), _data(), _data(4, seed=1), tmp_path / "a", progress=False)
    augmented = Trainer(_cfg(augment="dihedral,gamma"), _data(), _data(4, seed=1), tmp_path / "b", progress=False)
    for epoch in range(2):
        order_a, offsets_a, plan_a = plain._epoch_plan(epoch)
        order_b, offsets_b, plan_b = augmented._epoch_plan(epoch)
        assert plan_a is None and plan_b is not None
        assert torch.equal(order_a, order_b) and torch.equal(offsets_a, offsets_b)
        again = augmented._epoch_plan(epoch)[2]  # from (seed, epoch) alone
        assert all(torch.equal(plan_b[k], again[k]) for k in plan_b)


def test_augmented_training_is_recorded_resumes_exactly_and_refuses_a_change(tmp_path):
    train, val = _data(), _data(4, seed=1)
    Trainer(_cfg(epochs=3, augment="dihedral,gamma:0.4"), train, val, tmp_path / "a", progress=False).fit()
    Trainer(_cfg(epochs=1, augment="dihedral,gamma:0.4"), train, val, tmp_path / "b", progress=False).fit()
    Trainer(_cfg(epochs=3, augment="dihedral,gamma:0.4"), train, val, tmp_path / "b", progress=False).fit(resume=True)
    hist = [[json.loads(line) for line in (tmp_path / r / "metrics.jsonl").read_text().splitlines()] for r in "ab"]
    assert [h["train_loss"] for h in hist[0]] == pytest.approx([h["train_loss"] for h in hist[1]], abs=1e-6)
    # the augmentation changes what is trained on: the plain run's losses differ
    Trainer(_cfg(epochs=1), train, val, tmp_path / "c", progress=False).fit()
    plain = json.loads((tmp_path / "c" / "metrics.jsonl").read_text().splitlines()[0])
    assert abs(plain["train_loss"] - hist[0][0]["train_loss"]) > 1e-4
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["augment"] == "dihedral,gamma:0.4"
    with pytest.raises(UserInputError, match="different augment"):
        Trainer(_cfg(epochs=4, augment="dihedral"), train, val, tmp_path / "a", progress=False).fit(resume=True)
    with pytest.raises(ValueError, match="some of dihedral, gamma"):
        _cfg(augment="elastic")


def test_train_command_refuses_a_bad_augmentation_in_one_line(tmp_path, capsys):
    from fusioninn.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", "phantom:6:3", "--augment", "gamma:2", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gamma:2" in err and not out.exists()
    assert main(["train", "--data", "phantom:6:3", "--augment", "dihedral", "--epochs", "1", "--batch-size", "4",
                 "--crop", "16", "--out", str(out), "--quiet", "--threads", "1", "--device", "cpu"]) == 0
    assert json.loads((out / "config.json").read_text())["augment"] == "dihedral"
