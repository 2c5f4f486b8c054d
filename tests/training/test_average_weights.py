"""Weight averaging of checkpoints (training.checkpoint.average_weights, scripts/average_weights.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fusioninn.api import load_model, save_model
from fusioninn.errors import CheckpointError
from fusioninn.models import FusionINN, FusionINNConfig
from fusioninn.training.checkpoint import average_weights, load_checkpoint

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "average_weights.py"


def _model(seed: int, config: FusionINNConfig | None = None) -> FusionINN:
    torch.manual_seed(seed)
    model = FusionINN(config or FusionINNConfig.fast())
    model.initialise_actnorm(torch.rand(2, 2, 16, 16))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:  # not the fixed iRevNet kernels and permutations
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("snaps")
    return [save_model(_model(seed), folder / f"s{seed}.safetensors", global_step=100 * seed) for seed in (1, 2, 3)]


def test_mean_of_the_weights_and_a_working_invertible_model(snapshots, tmp_path):
    datas = [(str(p), load_checkpoint(p)) for p in snapshots]
    avg = average_weights(datas)
    for k, v in avg.model_state.items():
        stacked = torch.stack([d.model_state[k] for _, d in datas])
        assert v.dtype == stacked.dtype
        if v.is_floating_point():
            assert torch.allclose(v, stacked.mean(0), atol=1e-7), k
        else:  # the permutations, equal in all
            assert torch.equal(v, stacked[0]), k
    assert [e["global_step"] for e in avg.meta["averaged_from"]] == [100, 200, 300]
    out = tmp_path / "avg.safetensors"
    from fusioninn.training.checkpoint import save_checkpoint

    save_checkpoint(out, avg)
    model = load_model(out)  # verifies the checksums and builds the network
    x = torch.rand(1, 2, 32, 32)
    y, z = model(x)
    assert torch.allclose(model.inverse(y, z), x, atol=1e-5)  # still exactly invertible


def test_order_does_not_matter_beyond_round_off(snapshots):
    datas = [(str(p), load_checkpoint(p)) for p in snapshots]
    a, b = average_weights(datas), average_weights(datas[::-1])
    assert all(torch.equal(a.model_state[k], b.model_state[k]) for k in a.model_state)


def test_refuses_other_architectures_and_single_inputs(snapshots, tmp_path):
    wide = save_model(_model(4, FusionINNConfig.fast().__class__(**{**FusionINNConfig.fast().to_dict(),
                                                                    "widths": [16, 16, 16]})),
                      tmp_path / "wide.safetensors")
    datas = [(str(snapshots[0]), load_checkpoint(snapshots[0])), (str(wide), load_checkpoint(wide))]
    with pytest.raises(CheckpointError, match="model_config differs"):
        average_weights(datas)
    with pytest.raises(CheckpointError, match="at least two"):
        average_weights(datas[:1])


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_script_writes_a_verified_file(snapshots, tmp_path):
    out = tmp_path / "avg.safetensors"
    r = _run(str(out), *map(str, snapshots))
    assert r.returncode == 0, r.stderr
    assert "mean of 3 checkpoints (steps 100, 200, 300)" in r.stdout
    assert load_checkpoint(out).meta["kind"] == "weights"


@pytest.mark.parametrize("case", ["one input", "output is an input", "missing input", "not safetensors",
                                  "no output folder"])
def test_script_bad_input_is_one_line_exit_2_nothing_written(snapshots, tmp_path, case):
    out = tmp_path / "avg.safetensors"
    before = snapshots[0].read_bytes()
    args = {"one input": [str(out), str(snapshots[0])],
            "output is an input": [str(snapshots[0]), str(snapshots[0]), str(snapshots[1])],
            "missing input": [str(out), str(snapshots[0]), str(tmp_path / "nope.safetensors")],
            "not safetensors": [str(tmp_path / "avg.pt"), str(snapshots[0]), str(snapshots[1])],
            "no output folder": [str(tmp_path / "no" / "avg.safetensors"), str(snapshots[0]), str(snapshots[1])]}[case]
    r = _run(*args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert snapshots[0].read_bytes() == before


def test_configs_written_before_a_field_existed_average_with_newer_ones(snapshots):
    """A snapshot saved before e.g. ``extra_couplings`` existed has no such key; it is the same network."""
    import copy

    old = load_checkpoint(snapshots[0])
    old.meta = copy.deepcopy(old.meta)
    for key in ("extra_couplings", "init_mixing"):
        old.meta["model_config"].pop(key, None)
    avg = average_weights([("old", old), (str(snapshots[1]), load_checkpoint(snapshots[1]))])
    assert len(avg.meta["averaged_from"]) == 2
