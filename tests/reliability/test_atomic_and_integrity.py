"""Atomic writes (old file intact after a crash mid-write, no temporary files, all-or-nothing outputs)
and integrity (checksummed checkpoints, nothing of ours is ever unpickled)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fusioninn.atomic import atomic_path, atomic_write_bytes, atomic_write_text, output_group
from fusioninn.errors import UserInputError

SRC = Path(__file__).resolve().parents[2] / "src" / "fusioninn"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("crash", [RuntimeError("bug"), KeyboardInterrupt(), OSError(errno.ENOSPC, "full")])
def test_crash_mid_write_keeps_the_old_file_and_no_temporary(tmp_path, crash):
    target = tmp_path / "result.json"
    atomic_write_text(target, "old content\n")
    expected = UserInputError if isinstance(crash, OSError) else type(crash)
    with pytest.raises(expected):
        with atomic_path(target) as tmp:
            tmp.write_text("new, half writ")
            raise crash
    assert target.read_text() == "old content\n"
    assert _names(tmp_path) == ["result.json"]


def test_full_disk_during_fsync_is_a_one_line_user_error(tmp_path, monkeypatch):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserInputError, match="No space left on device") as info:
        atomic_write_bytes(target, b"new" * 1000)
    assert str(target) in str(info.value) and "\n" not in str(info.value)
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["a.bin"]


def test_written_files_get_ordinary_permissions_and_keep_existing_ones(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    new = atomic_write_text(tmp_path / "new.txt", "x")
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    kept = tmp_path / "kept.txt"
    kept.write_text("x")
    kept.chmod(0o640)
    atomic_write_text(kept, "y")
    assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_text() == "y"


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited
    stale = tmp_path / f".tmp-last-{dead_pid}-abc123.safetensors"
    stale.write_bytes(b"half a checkpoint")
    alive = tmp_path / f".tmp-last-{os.getppid()}-def456.safetensors"  # a live writer's: left alone
    alive.write_bytes(b"being written")
    other = tmp_path / f".tmp-best-{dead_pid}-ghi789.safetensors"  # another target's: left alone
    other.write_bytes(b"x")
    atomic_write_bytes(tmp_path / "last.safetensors", b"complete")
    assert _names(tmp_path) == sorted([alive.name, other.name, "last.safetensors"])


def test_output_group_is_all_or_nothing(tmp_path):
    atomic_write_text(tmp_path / "existing.txt", "v1")
    with pytest.raises(RuntimeError):
        with output_group():
            atomic_write_text(tmp_path / "one.txt", "1")
            atomic_write_text(tmp_path / "existing.txt", "v2")
            raise RuntimeError("third output failed")
    # the new file is gone, the replaced one has its previous content back, no temporaries or backups
    assert _names(tmp_path) == ["existing.txt"]
    assert (tmp_path / "existing.txt").read_text() == "v1"
    with output_group() as created:
        atomic_write_text(tmp_path / "two.txt", "2")
        atomic_write_text(tmp_path / "existing.txt", "v3")
    assert created == [tmp_path / "two.txt"] and (tmp_path / "two.txt").exists()
    assert (tmp_path / "existing.txt").read_text() == "v3"
    assert _names(tmp_path) == ["existing.txt", "two.txt"]  # the backup is gone after success


def test_output_group_removes_the_folders_it_created_and_only_those(tmp_path):
    from fusioninn.atomic import ensure_writable_dir

    (tmp_path / "mine").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with output_group():
            ensure_writable_dir(tmp_path / "mine" / "a" / "b")
            atomic_write_text(tmp_path / "mine" / "a" / "b" / "x.txt", "x")
            ensure_writable_dir(tmp_path / "empty")
            raise KeyboardInterrupt
    assert _names(tmp_path) == ["mine"] and _names(tmp_path / "mine") == []


def test_a_kept_group_keeps_its_files(tmp_path):
    with pytest.raises(RuntimeError):
        with output_group() as group:
            atomic_write_text(tmp_path / "last.txt", "checkpoint")
            group.keep()
            raise RuntimeError("stopped later")
    assert (tmp_path / "last.txt").read_text() == "checkpoint"


def test_guard_refuses_outputs_onto_inputs_links_and_each_other(tmp_path):
    from fusioninn.atomic import guard_outputs

    a = tmp_path / "a.png"
    a.write_bytes(b"source")
    os.link(a, tmp_path / "hard.png")
    (tmp_path / "soft.png").symlink_to(a)
    for out in (a, tmp_path / "." / "a.png", tmp_path / "hard.png", tmp_path / "soft.png"):
        with pytest.raises(UserInputError, match="input of this command"):
            guard_outputs([a], [out])
    with pytest.raises(UserInputError, match="two outputs.*--names"):
        guard_outputs([a], [("--names", tmp_path / "x.png"), ("--names", tmp_path / "x.png")])
    guard_outputs([a], [tmp_path / "new.png", tmp_path / "other.png"])  # fine
    assert a.read_bytes() == b"source"


def test_atomic_path_refuses_to_replace_a_file_the_command_read(tmp_path):
    from fusioninn.atomic import note_input

    src = tmp_path / "in.txt"
    src.write_text("input")
    with output_group():
        note_input(src)
        with pytest.raises(UserInputError, match="input of this command"):
            atomic_write_text(src, "overwritten")
    assert src.read_text() == "input" and _names(tmp_path) == ["in.txt"]


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_stop_signals_raise_one_interrupt_and_restore_the_handlers(signame):
    import signal

    from fusioninn.signals import Interrupted, stop_signals_raise

    sig = getattr(signal, signame)
    before = signal.getsignal(sig)
    if before is signal.SIG_IGN and signame == "SIGHUP":
        pytest.skip("SIGHUP is ignored in this process (run under nohup); hang-ups stay ignored by design")
    with pytest.raises(Interrupted) as info:
        with stop_signals_raise():
            os.kill(os.getpid(), sig)
            import time

            time.sleep(1)
    assert info.value.signum == sig and info.value.exit_code == 128 + sig
    assert signal.getsignal(sig) == before


# --------------------------------------------------------------------------------------------------
# the audit: every writer in src/ goes through fusioninn.atomic
_WRITE_CALLS = re.compile(
    r"\.write_text\(|\.write_bytes\(|\.savefig\(|\bnp\.save[z]?\(|\bnib\.save\(|\bsave_file\(|\.to_filename\("
    r"|\bh5py\.File\([^)]*[\"'][wa]|\bopen\([^)]*[\"'][wax]b?[\"']|(?<!self)\.save\(|\btorch\.save\(|\bjson\.dump\("
)


def _source_files():
    return sorted(p for p in SRC.rglob("*.py") if p.name != "atomic.py")


def test_every_writer_goes_through_atomic():
    offenders = []
    for path in _source_files():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            code = line.split("#", 1)[0]
            if not _WRITE_CALLS.search(code) or code.strip().startswith(('"', "'")):
                continue
            context = "\n".join(lines[max(0, i - 3) : i + 1])
            # writing to the temporary path of atomic_path, or into an in-memory buffer
            if "atomic_path(" in context or re.search(r"\b(tmp|buf)\b", code):
                continue
            offenders.append(f"{path.relative_to(SRC)}:{i + 1}: {line.strip()}")
    assert offenders == []


def test_nothing_of_ours_is_ever_unpickled():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            where = f"{path.relative_to(SRC)}:{i}: {line.strip()}"
            if re.search(r"^\s*(import pickle|from pickle|import cPickle|import dill|import joblib)", code):
                offenders.append(where)
            if "allow_pickle=True" in code or "pickle.load" in code:
                offenders.append(where)
            if "torch.load(" in code and "weights_only=True" not in code:
                offenders.append(where)
    assert offenders == []


def test_checkpoint_checksum_is_checked_on_load(tmp_path):
    import json

    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from fusioninn.api import load_pretrained, save_model
    from fusioninn.errors import CheckpointError
    from fusioninn.models import FusionINN, FusionINNConfig

    path = tmp_path / "m.safetensors"
    save_model(FusionINN(FusionINNConfig.fast()), path)
    load_pretrained(path)
    with safe_open(str(path), framework="pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    # the stored checksum edited, weights untouched
    doc = json.loads(meta["fusioninn"])
    doc["weights_sha256"] = "0" * 64
    save_file(tensors, str(tmp_path / "meta.safetensors"), metadata={"fusioninn": json.dumps(doc)})
    with pytest.raises(CheckpointError, match="checksum"):
        load_pretrained(tmp_path / "meta.safetensors")
    # one byte of one weight flipped
    key = next(k for k in sorted(tensors) if tensors[k].numel() > 0 and tensors[k].is_floating_point())
    t = tensors[key].clone().reshape(-1)
    t.view(torch.int32)[0] ^= 1
    tensors[key] = t.reshape(tensors[key].shape)
    save_file(tensors, str(tmp_path / "bit.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="checksum"):
        load_pretrained(tmp_path / "bit.safetensors")
    # a truncated file
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_pretrained(tmp_path / "cut.safetensors")
