"""Kill and resume: ``fusioninn train`` is SIGKILLed or SIGTERMed at awkward moments and resumed with
``--resume``. SIGTERM (what ``kill``, ``timeout`` and schedulers send) must end the process itself with exit
code 143, one stderr line, its checkpoint kept and no temporary file left.

Checked after every kill: the checkpoint loads (checksum verified); after the resumed run: no completed
epoch is lost (``metrics.jsonl`` holds epochs 1..N, contiguous) and every figure equals an uninterrupted
run's to 1e-6 (data order from (seed, epoch), RNG state in the checkpoint), and no temporary file is left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fusioninn.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
EXE = REPO / ".venv" / "bin" / "fusioninn"
pytestmark = pytest.mark.skipif(not EXE.exists(), reason="no installed fusioninn script")


def _cmd(run: Path, epochs: int, resume: bool = False) -> list[str]:
    cmd = [str(EXE), "train", "--data", "phantom:24", "--out", str(run), "--epochs", str(epochs),
           "--batch-size", "4", "--crop", "32", "--threads", "1", "--device", "cpu", "--quiet"]
    return [*cmd, "--resume"] if resume else cmd


def _start(cmd: list[str]) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def _history(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _stop(proc: subprocess.Popen, sig: int) -> None:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    # 0: it finished just before the signal; -15: it was still starting up (importing torch, before the
    # handler exists and before it wrote anything), where SIGTERM's default action ends it
    if sig == signal.SIGTERM and proc.returncode not in (0, -signal.SIGTERM):
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert len(err.splitlines()) == 1 and "SIGTERM" in err and "Traceback" not in err, err


def _kill_after_checkpoint(proc: subprocess.Popen, ckpt: Path, n_writes: int, delay: float = 0.0,
                           sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` to ``proc`` ``delay`` s after its ``n_writes``-th new checkpoint appears (0 s: right after
    the rename, while it writes best.safetensors and metrics.jsonl). False if it finished first."""
    seen, last = 0, _mtime(ckpt)
    while proc.poll() is None:
        now = _mtime(ckpt)
        if now != last:
            seen, last = seen + 1, now
            if seen >= n_writes:
                time.sleep(delay)
                _stop(proc, sig)
                return True
        time.sleep(0.002)
    return False


def _check_after_kill(run: Path, epochs_before: int, sig: int = signal.SIGKILL, pid: int | None = None) -> int:
    """The checkpoint loads and says how many epochs were completed; returns that number. After a
    SIGTERM the process cleaned up itself: no temporary file."""
    ckpt = run / "last.safetensors"
    if sig == signal.SIGTERM and run.exists():  # its own temporaries (a SIGKILLed predecessor may leave some)
        assert not [p.name for p in run.iterdir() if p.name.startswith(".tmp-") and f"-{pid}-" in p.name]
    if not ckpt.exists():
        return 0
    data = load_checkpoint(ckpt)  # verifies the weights checksum
    done = int(data.meta["epoch"])
    assert done >= epochs_before
    return done


def _resume_or_restart(run: Path, epochs: int) -> subprocess.Popen:
    # killed before the first checkpoint: there is nothing to resume, start again
    return _start(_cmd(run, epochs, resume=(run / "last.safetensors").exists()))


def _assert_same_run(killed: Path, reference: Path, epochs: int) -> None:
    got, want = _history(killed), _history(reference)
    assert [h["epoch"] for h in got] == list(range(1, epochs + 1)), "an epoch was lost or repeated"
    for g, w in zip(got, want, strict=True):
        assert set(g) == set(w)
        for key in w:
            if key != "minutes":
                assert g[key] == pytest.approx(w[key], abs=1e-6), (g["epoch"], key)
    a = load_checkpoint(killed / "last.safetensors").model_state
    b = load_checkpoint(reference / "last.safetensors").model_state
    assert all(float((a[k] - b[k]).abs().max()) <= 1e-6 for k in b)
    assert not [p.name for p in killed.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("sig", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
                         ids=["SIGKILL", "SIGTERM"])
def test_kill_right_after_a_checkpoint_write_then_resume(tmp_path, sig):
    epochs = 3
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    ref = _start(_cmd(reference, epochs))
    victim = _start(_cmd(killed, epochs))
    assert _kill_after_checkpoint(victim, killed / "last.safetensors", n_writes=1, sig=sig), "finished before the kill"
    done = _check_after_kill(killed, 1, sig, victim.pid)
    assert done == 1
    _finish(_resume_or_restart(killed, epochs))
    _finish(ref)
    _assert_same_run(killed, reference, epochs)


@pytest.mark.slow
def test_random_kills_during_steps_and_checkpoint_writes(tmp_path):
    epochs = 6
    rng = random.Random(int(os.environ.get("FUSIONINN_KILL_SEED", "7")))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    ref = _start(_cmd(reference, epochs))
    done = 0
    for round_ in range(6):
        victim = _resume_or_restart(killed, epochs)
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM]) if round_ > 1 else (signal.SIGKILL, signal.SIGTERM)[round_]
        if round_ % 2 == 0:  # right after (or during, with a delay) a checkpoint or history write
            watched = killed / rng.choice(["last.safetensors", "metrics.jsonl"])
            hit = _kill_after_checkpoint(victim, watched, n_writes=1, delay=rng.choice([0.0, 0.0, 0.01, 0.05]),
                                         sig=sig)
        else:  # at a random moment, usually inside a training step
            time.sleep(rng.uniform(4.0, 9.0))
            hit = victim.poll() is None
            if hit:
                _stop(victim, sig)
        if not hit:
            break
        done = _check_after_kill(killed, done, sig, victim.pid)
    else:
        _finish(_resume_or_restart(killed, epochs))
    _finish(ref)
    _assert_same_run(killed, reference, epochs)
