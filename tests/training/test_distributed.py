"""Data-parallel training with torchrun (gloo on CPU, 2 processes) gives the single-process weights."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from fusioninn.training.checkpoint import load_checkpoint

ARGS = ["train", "--data", "phantom:12:3", "--val-data", "phantom:5:4", "--epochs", "2", "--batch-size", "6",
        "--crop", "32", "--threads", "1", "--quiet", "--device", "cpu"]


def _run(cmd, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "torchrun")), reason="torchrun not installed")
def test_two_process_training_matches_one_process(tmp_path):
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    _run([sys.executable, "-m", "fusioninn.cli", *ARGS, "--out", str(single)])
    _run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "fusioninn.cli", *ARGS, "--out", str(ddp)])
    a = load_checkpoint(single / "last.safetensors").model_state
    b = load_checkpoint(ddp / "last.safetensors").model_state
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=2e-5), k
    ha = [json.loads(x) for x in (single / "metrics.jsonl").read_text().splitlines()]
    hb = [json.loads(x) for x in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hb] == [1, 2]
    for x, y in zip(ha, hb, strict=True):  # validation gathered across ranks = the whole validation set
        assert x["val_q_ssim"] == pytest.approx(y["val_q_ssim"], abs=1e-4)
        assert x["val_dec_ssim_1"] == pytest.approx(y["val_dec_ssim_1"], abs=1e-4)
    # resume of a data-parallel run
    _run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "fusioninn.cli",
          *[a if a != "2" else "3" for a in ARGS], "--out", str(ddp), "--resume"])
    hb = [json.loads(x) for x in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hb] == [1, 2, 3]
