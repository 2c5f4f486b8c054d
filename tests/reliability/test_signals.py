"""SIGTERM (what ``kill``, ``timeout`` and job schedulers send) and SIGINT stop a command cleanly: exit code
128 + signal, one stderr line, and nothing left of the outputs it had started (files, sidecars, latents,
folders, ``.tmp-*``), inputs untouched. Real processes of the installed ``fusioninn`` script, signalled
while they write.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXE = REPO / ".venv" / "bin" / "fusioninn"
pytestmark = pytest.mark.skipif(not EXE.exists(), reason="no installed fusioninn script")

sys.path.insert(0, str(Path(__file__).parent))
from cases import files_under, make_assets, nifti, volume  # noqa: E402


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return make_assets(tmp_path_factory.mktemp("assets"), with_run=False)


def _digests(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in files_under(folder)
            if not n.endswith("/")}


def _signal_when(proc: subprocess.Popen, ready, sig: int, timeout: float = 120.0) -> bool:
    """Send ``sig`` as soon as ``ready()`` is true; False if the process ended first."""
    end = time.time() + timeout
    while proc.poll() is None and time.time() < end:
        if ready():
            proc.send_signal(sig)
            return True
        time.sleep(0.001)
    return False


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([str(EXE), *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _temporaries(folder: Path) -> bool:
    return any(".tmp-" in n for n in files_under(folder))


@pytest.mark.parametrize(("moment", "sig"), [
    ("while the fused volume is written", signal.SIGTERM),
    ("after the fused volume, before the latent", signal.SIGTERM),
], ids=["SIGTERM-writing", "SIGTERM-before-latent"])
def test_signal_during_volume_fuse_with_latent_leaves_nothing(tmp_path, assets, moment, sig):
    shape = (96, 96, 48)
    nifti(tmp_path / "a.nii.gz", volume(shape, 1))
    nifti(tmp_path / "b.nii.gz", volume(shape, 7))
    before = _digests(tmp_path)
    proc = _start(["fuse", "a.nii.gz", "b.nii.gz", "-o", "f.nii.gz", "--save-latent", "z.npz",
                   "--model", str(assets / "model.safetensors"), "--threads", "1"], tmp_path)
    if moment.startswith("while"):
        ready = lambda: _temporaries(tmp_path)  # noqa: E731 - the fused volume's temporary exists
    else:
        ready = lambda: (tmp_path / "f.nii.gz").exists()  # noqa: E731 - renamed; sidecar and latent to come
    hit = _signal_when(proc, ready, sig)
    _, err = proc.communicate(timeout=120)
    if not hit or proc.returncode == 0:  # finished before the signal: then everything must be complete
        assert proc.returncode == 0, err
        assert {"f.nii.gz", "f.fusioninn.json", "z.npz"} <= files_under(tmp_path)
        pytest.skip(f"the fuse finished before the signal ({moment})")
    assert proc.returncode == 128 + sig, err
    assert len(err.splitlines()) == 1 and "interrupted" in err and "Traceback" not in err, err
    assert files_under(tmp_path) == set(before), sorted(files_under(tmp_path) - set(before))
    assert _digests(tmp_path) == before


def test_sigterm_during_phantom_removes_partial_subjects(tmp_path):
    proc = _start(["phantom", "--out", "ph", "--cases", "4", "--shape", "64,64,40", "--png"], tmp_path)
    hit = _signal_when(proc, lambda: (tmp_path / "ph").is_dir() and any((tmp_path / "ph").rglob("*.nii.gz")),
                       signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert hit, "phantom finished before the signal"
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert len(err.splitlines()) == 1 and "SIGTERM" in err, err
    assert sorted(files_under(tmp_path)) == [], sorted(files_under(tmp_path))  # not even the folder


def test_sigterm_keeps_a_previous_output_whose_replacement_was_stopped(tmp_path, assets):
    """A re-fuse over an existing (fused, sidecar, latent) trio, stopped after the new fused volume is in
    place: the old trio comes back byte-identical (the pair never becomes mismatched)."""
    shape = (96, 96, 48)
    nifti(tmp_path / "a.nii.gz", volume(shape, 1))
    nifti(tmp_path / "b.nii.gz", volume(shape, 7))
    nifti(tmp_path / "c.nii.gz", volume(shape, 3))
    model = str(assets / "model.safetensors")
    first = subprocess.run([str(EXE), "fuse", "a.nii.gz", "b.nii.gz", "-o", "f.nii.gz", "--save-latent", "z.npz",
                            "--model", model, "--threads", "1"], cwd=tmp_path, capture_output=True, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=120)
    assert first.returncode == 0, first.stderr
    before = _digests(tmp_path)
    old_fused = (tmp_path / "f.nii.gz").stat().st_mtime_ns
    proc = _start(["fuse", "c.nii.gz", "b.nii.gz", "-o", "f.nii.gz", "--save-latent", "z.npz", "--model", model,
                   "--threads", "1"], tmp_path)
    hit = _signal_when(proc, lambda: (tmp_path / "f.nii.gz").stat().st_mtime_ns != old_fused, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if not hit or proc.returncode == 0:
        pytest.skip("the re-fuse finished before the signal")
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert _digests(tmp_path) == before  # old fused volume, sidecar and latent, nothing else
    assert not np.isnan(np.load(tmp_path / "z.npz")["latent"]).any()


def test_sigterm_during_training_keeps_the_resumable_checkpoint(tmp_path):
    """A stopped run is resumable, not erased: exit 143, last.safetensors verifies, no temporary left;
    ``--resume`` then completes (the exact-continuation check is test_kill_resume.py's)."""
    from fusioninn.training.checkpoint import load_checkpoint

    args = ["train", "--data", "phantom:16", "--out", "run", "--epochs", "2", "--batch-size", "4", "--crop", "16",
            "--threads", "1", "--device", "cpu", "--quiet"]
    proc = _start(args, tmp_path)
    hit = _signal_when(proc, lambda: (tmp_path / "run" / "last.safetensors").exists(), signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert hit, "training finished before the signal"
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert len(err.splitlines()) == 1 and "SIGTERM" in err, err
    assert not [n for n in files_under(tmp_path) if ".tmp-" in n]
    assert load_checkpoint(tmp_path / "run" / "last.safetensors").meta["epoch"] >= 1
    resumed = subprocess.run([str(EXE), *args, "--resume"], cwd=tmp_path, capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
