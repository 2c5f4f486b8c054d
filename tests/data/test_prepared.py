"""prepare: shards equal the in-memory reader; manifest, resume, changed sources, checksums, bad subjects."""

from __future__ import annotations

import gzip
import hashlib
import json
import os

import numpy as np
import pytest

from fusioninn.data import prepared as prep_mod
from fusioninn.data.brats import read_brats
from fusioninn.data.dataset import ShardDataset, open_slices
from fusioninn.data.prepared import MANIFEST_NAME, PrepareOptions, open_prepared, prepare, read_manifest
from fusioninn.errors import DataError

from .scale_helpers import writable_copy


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


_REAL_DECODE = prep_mod._decode_subject


class _Killed(BaseException):
    """Stands for a kill in the middle of a prepare (escapes everything, like KeyboardInterrupt)."""


def _counting(monkeypatch, fail_at: int | None = None):
    """Count (and optionally interrupt) the in-process subject decodes."""
    calls = []
    real = _REAL_DECODE

    def wrapped(folder, *a, **k):
        if fail_at is not None and len(calls) == fail_at:
            raise _Killed
        calls.append(os.path.basename(folder))
        return real(folder, *a, **k)

    monkeypatch.setattr(prep_mod, "_decode_subject", wrapped)
    return calls


def test_shards_equal_the_in_memory_reader_and_the_manifest_records_everything(four_subjects, tmp_path):
    logs = []
    p = prepare(four_subjects, tmp_path / "prep", progress=False, log=logs.append)
    ss = read_brats(four_subjects)
    ds = ShardDataset(p)
    assert len(ds) == len(ss) == p.n_slices
    np.testing.assert_array_equal(ds.read(range(len(ds))), ss.images)
    np.testing.assert_array_equal(ds.read_seg(range(len(ds))), ss.seg)
    assert ds.subject_ids == ss.subject_ids
    np.testing.assert_array_equal(ds.slice_index, ss.slice_index)
    m = json.loads((tmp_path / "prep" / MANIFEST_NAME).read_text())
    assert m["complete"] and m["skipped"] == [] and m["options"] == PrepareOptions().to_dict()
    assert [s["id"] for s in m["subjects"]] == ss.subjects
    for s in m["subjects"]:
        assert s["slices"] == ss.subject_ids.count(s["id"]) == len(s["slice_index"])
        for name in ("t1ce", "flair", "seg"):
            f = four_subjects / s["folder"] / s["files"][name]["path"].split("/")[-1]
            assert s["files"][name]["size"] == f.stat().st_size
            assert s["files"][name]["mtime_ns"] == f.stat().st_mtime_ns
        for shard in s["shards"].values():
            assert _sha(tmp_path / "prep" / shard["file"]) == shard["sha256"]
    assert logs == []


def test_two_workers_write_the_same_collection(four_subjects, tmp_path):
    a = prepare(four_subjects, tmp_path / "a", progress=False)
    b = prepare(four_subjects, tmp_path / "b", workers=2, progress=False)
    assert [s["shards"] for s in a.subjects] == [s["shards"] for s in b.subjects]


def test_a_killed_prepare_continues_with_the_subjects_not_done(four_subjects, tmp_path, monkeypatch):
    calls = _counting(monkeypatch, fail_at=2)
    with pytest.raises(_Killed):
        prepare(four_subjects, tmp_path / "p", progress=False)
    m = read_manifest(tmp_path / "p")
    assert not m["complete"] and len(m["subjects"]) == 2
    calls = _counting(monkeypatch)
    p = prepare(four_subjects, tmp_path / "p", progress=False)
    assert len(calls) == 2 and calls == [s.name for s in sorted(four_subjects.iterdir())[2:]]
    assert p.manifest["complete"] and len(p.subjects) == 4
    np.testing.assert_array_equal(ShardDataset(p).read(range(p.n_slices)), read_brats(four_subjects).images)
    calls.clear()
    prepare(four_subjects, tmp_path / "p", progress=False)  # nothing left to do
    assert calls == []


def test_a_changed_source_file_is_decoded_again(four_subjects, tmp_path, monkeypatch):
    src = writable_copy(four_subjects, tmp_path / "src")
    p = prepare(src, tmp_path / "p", progress=False)
    old_shards = {s["id"]: s["shards"]["images"]["file"] for s in p.subjects}
    sid = p.subjects[1]["id"]
    flair = next((src / sid).glob("*_flair.nii.gz"))
    st = flair.stat()
    os.utime(flair, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = _counting(monkeypatch)
    p2 = prepare(src, tmp_path / "p", progress=False)
    assert calls == [sid]
    new_file = next(s for s in p2.subjects if s["id"] == sid)["shards"]["images"]["file"]
    assert new_file != old_shards[sid] and not (tmp_path / "p" / old_shards[sid]).exists()  # stale shard removed


def test_a_shard_failing_its_checksum_is_decoded_again_and_never_used(four_subjects, tmp_path, monkeypatch):
    p = prepare(four_subjects, tmp_path / "p", progress=False)
    entry = p.subjects[2]
    shard = tmp_path / "p" / entry["shards"]["images"]["file"]
    st = shard.stat()
    raw = bytearray(shard.read_bytes())
    raw[-5] ^= 0xFF  # one flipped byte in the last slice; same size, same modification time
    shard.write_bytes(bytes(raw))
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    logs = []
    calls = _counting(monkeypatch)
    p2 = open_prepared(tmp_path / "p", progress=False, log=logs.append)
    assert calls == [entry["id"]]
    assert any("fails its checksum" in line and entry["id"] in line for line in logs)
    np.testing.assert_array_equal(ShardDataset(p2).read(range(p2.n_slices)), read_brats(four_subjects).images)


def test_a_damaged_shard_whose_source_is_gone_is_refused(four_subjects, tmp_path):
    src = writable_copy(four_subjects, tmp_path / "src")
    p = prepare(src, tmp_path / "p", progress=False)
    shard = tmp_path / "p" / p.subjects[0]["shards"]["images"]["file"]
    with open(shard, "r+b") as fh:
        fh.seek(-3, 2)
        fh.write(b"\x00\x01\x02")
    import shutil

    shutil.rmtree(src)
    with pytest.raises(DataError, match=f"fail their checksum.*{p.subjects[0]['id']}"):
        open_prepared(tmp_path / "p", progress=False)


def test_unreadable_subjects_are_skipped_with_a_line_each_and_listed(four_subjects, tmp_path):
    src = writable_copy(four_subjects, tmp_path / "src")
    bad = sorted(src.iterdir())[1]
    t1ce = next(bad.glob("*_t1ce.nii.gz"))
    t1ce.write_bytes(gzip.compress(b"not a nifti file"))
    missing = sorted(src.iterdir())[3]
    next(missing.glob("*_flair.nii.gz")).unlink()
    logs = []
    p = prepare(src, tmp_path / "p", progress=False, log=logs.append)
    assert [s["id"] for s in p.skipped] == [missing.name, bad.name]  # missing files are found before decoding
    assert len(p.subjects) == 2
    skip_lines = [line for line in logs if line.startswith("warning: skipping subject")]
    assert len(skip_lines) == 2 and all("\n" not in line for line in logs)
    assert "no flair file" in p.skipped[0]["reason"]


def test_strict_stops_at_an_unreadable_subject_and_writes_nothing_for_missing_files(four_subjects, tmp_path):
    src = writable_copy(four_subjects, tmp_path / "src")
    next(sorted(src.iterdir())[3].glob("*_flair.nii.gz")).unlink()
    with pytest.raises(DataError, match="no flair file"):
        prepare(src, tmp_path / "p", strict=True, progress=False)
    assert not (tmp_path / "p").exists()


def test_a_folder_prepared_with_other_options_is_refused(four_subjects, tmp_path):
    prepare(four_subjects, tmp_path / "p", progress=False)
    with pytest.raises(DataError, match="use another --cache folder"):
        prepare(four_subjects, tmp_path / "p", PrepareOptions(slices="all"), progress=False)
    with pytest.raises(DataError, match="asked for"):
        open_slices(str(tmp_path / "p"), pair="t1,t2", progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        prepare(four_subjects, tmp_path / "other", progress=False)


def test_concurrent_prepares_of_one_folder_decode_each_subject_once(four_subjects, tmp_path, monkeypatch):
    import threading

    calls = _counting(monkeypatch)  # e.g. the ranks of a torchrun job all opening the folder at once
    errors = []

    def one():
        try:
            prepare(four_subjects, tmp_path / "p", progress=False)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(calls) == sorted(p.name for p in four_subjects.iterdir())


def _interrupting(monkeypatch, at: int) -> list:
    """In-process decodes that stop with Ctrl-C (KeyboardInterrupt) before decode number ``at``."""
    calls = []

    def wrapped(folder, *a, **k):
        if len(calls) == at:
            raise KeyboardInterrupt
        calls.append(os.path.basename(folder))
        return _REAL_DECODE(folder, *a, **k)

    monkeypatch.setattr(prep_mod, "_decode_subject", wrapped)
    return calls


def test_cli_prepare_stopped_keeps_finished_subjects_and_resumes(four_subjects, tmp_path, monkeypatch, capsys):
    from fusioninn.cli import main

    cache = tmp_path / "p"
    args = ["prepare", "--data", str(four_subjects), "--cache", str(cache), "--quiet"]
    _interrupting(monkeypatch, at=0)  # stopped before the first subject: nothing is left behind
    assert main(args) == 130
    assert not cache.exists()
    assert capsys.readouterr().err.strip().endswith("partial outputs removed")

    _interrupting(monkeypatch, at=2)  # stopped after two subjects (Ctrl-C, SIGTERM): both are kept
    assert main(args) == 130
    assert len(read_manifest(cache)["subjects"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "fusioninn prepare: interrupted (SIGINT); resumable progress kept"]
    calls = _counting(monkeypatch)
    assert main(args) == 0
    assert calls == [s.name for s in sorted(four_subjects.iterdir())[2:]]  # only the other two are decoded
    np.testing.assert_array_equal(ShardDataset(open_prepared(cache, progress=False)).read(range(read_manifest(
        cache)["slices"])), read_brats(four_subjects).images)


def test_cli_strict_is_a_refusal_that_leaves_nothing(four_subjects, tmp_path, capsys):
    from fusioninn.cli import main

    src = writable_copy(four_subjects, tmp_path / "src")
    next(sorted(src.iterdir())[2].glob("*_t1ce.nii.gz")).write_bytes(gzip.compress(b"not a nifti file"))
    cache = tmp_path / "p"
    code = main(["prepare", "--data", str(src), "--cache", str(cache), "--strict", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("(prepare --strict stops here)") and "kept" not in err[0]
    assert not cache.exists()  # the two subjects decoded before the bad one are removed with the run
