"""dicom-studies:ROOT:SERIES_A:SERIES_B: a collection of DICOM studies, one subject per study, read like a BraTS
collection of the same volumes (load_pairs, prepare, open_slices, the commands)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="pydicom is not installed (pip install -e .)")

from fusioninn.cli import main as _main  # noqa: E402
from fusioninn.data import dicom as dicom_mod  # noqa: E402
from fusioninn.data.dataset import ShardDataset, open_slices  # noqa: E402
from fusioninn.data.prepared import MANIFEST_NAME, PrepareOptions, prepare  # noqa: E402
from fusioninn.data.spec import load_pairs  # noqa: E402
from fusioninn.errors import DataError  # noqa: E402

from .conftest import save_nifti  # noqa: E402
from .dicom_factory import phantom_affine, phantom_pair, write_series  # noqa: E402

SHAPE = (32, 28, 12)
SUBJECTS = ("P1", "P2", "P3")


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except SystemExit as stop:
        return int(stop.code)


def _study(root, sid: str, seed: int, *, depth: str = "", flair_kw=None, t1_kw=None, t1_number: int = 5,
           flair_desc: str = "FLAIR", volumes=None):
    """One subject as a study folder ROOT/<depth>/<sid>/{t1ce,flair} (PatientID = sid)."""
    t1ce, flair = volumes if volumes is not None else phantom_pair(SHAPE, seed=seed)
    aff = phantom_affine(SHAPE)
    study_uid = f"1.2.826.0.1.3680043.8.498.7{seed}"
    for_uid = f"1.2.826.0.1.3680043.8.498.8{seed}"
    base = root / depth / sid if depth else root / sid
    write_series(base / "t1ce", np.asarray(t1ce, np.float64), aff, study_uid=study_uid, for_uid=for_uid,
                 number=t1_number, description="T1 post", patient_id=sid, shuffle=True, seed=seed,
                 **(t1_kw or {}))
    write_series(base / "flair", np.asarray(flair, np.float64), aff, study_uid=study_uid, for_uid=for_uid,
                 number=7, description=flair_desc, patient_id=sid, seed=seed + 1, **(flair_kw or {}))
    return t1ce, flair


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Three subjects as DICOM studies (at different depths, int16 values stored exactly) and as a BraTS folder."""
    root = tmp_path_factory.mktemp("studies")
    aff = phantom_affine(SHAPE)
    for k, (sid, depth) in enumerate(zip(SUBJECTS, ("", "site-a", "site-b/2026"), strict=True)):
        t1ce, flair = _study(root / "dicom", sid, 3 + k, depth=depth)
        subject = root / "brats" / sid
        subject.mkdir(parents=True)
        save_nifti(subject / f"{sid}_t1ce.nii.gz", np.asarray(t1ce, np.int16), aff)
        save_nifti(subject / f"{sid}_flair.nii.gz", np.asarray(flair, np.int16), aff)
    return root


def _copy(collection, tmp_path):
    shutil.copytree(collection / "dicom", tmp_path / "dicom")
    return tmp_path / "dicom"


def _all(p) -> np.ndarray:
    ds = ShardDataset(p)
    return ds.read(range(len(ds)))


def test_a_collection_of_studies_gives_the_pairs_of_the_brats_collection(collection):
    ref = load_pairs(str(collection / "brats"), slices="all")
    got = load_pairs(f"dicom-studies:{collection / 'dicom'}:5:FLAIR")
    assert got.subjects == list(SUBJECTS) and got.seg is None
    np.testing.assert_array_equal(got.images, ref.images)  # int16 series: exactly
    np.testing.assert_array_equal(got.slice_index, ref.slice_index)
    assert got.subject_ids == ref.subject_ids
    # a subject-level split: several subjects, none on both sides
    train = load_pairs(f"dicom-studies:{collection / 'dicom'}:5:FLAIR", split="train", val_fraction=0.34)
    val = load_pairs(f"dicom-studies:{collection / 'dicom'}:5:FLAIR", split="val", val_fraction=0.34)
    assert len(train.subjects) == 2 and len(val.subjects) == 1 and not set(train.subjects) & set(val.subjects)


def test_the_root_is_scanned_once_and_each_series_read_from_its_file_list(collection, monkeypatch):
    scans, reads = [], []
    real_scan, real_read = dicom_mod._scan, dicom_mod.read_series_files
    monkeypatch.setattr(dicom_mod, "_scan", lambda folder, *a: scans.append(folder) or real_scan(folder, *a))
    monkeypatch.setattr(dicom_mod, "read_series_files", lambda files, *a: reads.append(len(files)) or
                        real_read(files, *a))
    load_pairs(f"dicom-studies:{collection / 'dicom'}:T1 post:7")
    assert scans == [collection / "dicom"]
    assert reads == [SHAPE[2]] * 6  # two series per subject, only their own files


def test_prepare_of_a_collection_equals_prepare_of_the_brats_collection(collection, tmp_path, monkeypatch):
    from fusioninn.data import prepared as prep_mod

    ref = prepare(collection / "brats", tmp_path / "ref", PrepareOptions(slices="all"), progress=False)
    spec = f"dicom-studies:{collection / 'dicom'}:5:7"
    got = prepare(spec, tmp_path / "got", PrepareOptions(slices="all"), progress=False)
    np.testing.assert_array_equal(_all(got), _all(ref))  # int16: exactly
    assert ShardDataset(got).subject_ids == ShardDataset(ref).subject_ids
    m = json.loads((tmp_path / "got" / MANIFEST_NAME).read_text())
    assert m["source"] == f"dicom-studies:{(collection / 'dicom').resolve()}:5:7" and m["complete"]
    assert [s["id"] for s in m["subjects"]] == list(SUBJECTS)
    assert [s["folder"] for s in m["subjects"]] == ["P1", "site-a/P2", "site-b/2026/P3"]
    assert all(len(s["files"]) == 2 * SHAPE[2] for s in m["subjects"])  # every file of both series
    # resumable: nothing changed, nothing decoded; a changed file decodes that subject (only) again
    calls = []
    real = prep_mod._decode_subject
    monkeypatch.setattr(prep_mod, "_decode_subject", lambda *a, **k: calls.append(a[-1]) or real(*a, **k))
    prepare(spec, tmp_path / "got", PrepareOptions(slices="all"), progress=False)
    assert calls == []


def test_a_changed_series_is_decoded_again_and_the_stream_prepares_on_the_fly(collection, tmp_path, monkeypatch):
    import os

    from fusioninn.data import prepared as prep_mod

    root = _copy(collection, tmp_path)
    spec = f"dicom-studies:{root}:5:7"
    first = open_slices(spec, cache=tmp_path / "p", progress=False)  # the streaming path, prepared on the fly
    assert len(first.subjects) == 3
    np.testing.assert_array_equal(first.read(range(len(first))), load_pairs(spec).images)
    calls = []
    real = prep_mod._decode_subject
    monkeypatch.setattr(prep_mod, "_decode_subject", lambda *a, **k: calls.append(a[-1]) or real(*a, **k))
    f = next((root / "site-a" / "P2" / "flair").iterdir())
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = open_slices(str(tmp_path / "p"), progress=False)  # the prepared folder re-checks its source
    assert calls == ["P2"] and len(again) == len(first)


def test_a_broken_subject_is_skipped_with_one_warning(collection, tmp_path, capsys):
    root = _copy(collection, tmp_path)
    shutil.rmtree(root / "site-a" / "P2" / "flair")
    _study(root / "site-a", "P2", 4, flair_kw={"drop": [5, 6]})  # the FLAIR series misses two slices
    spec = f"dicom-studies:{root}:5:7"
    with pytest.raises(DataError, match=r"subject P2: .*missing slices"):
        load_pairs(spec)  # default: refused, the subject named
    with pytest.warns(UserWarning, match=r"skipping subject P2: .*missing slices"):
        got = load_pairs(spec, skip_bad=True)
    assert got.subjects == ["P1", "P3"] and got.meta["skipped"][0][0] == "P2"
    # prepare skips it with one warning line (listed in the manifest); --strict refuses it
    rc = main(["prepare", "--data", spec, "--cache", str(tmp_path / "p"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and len([line for line in err if "skipping subject P2" in line]) == 1, err
    m = json.loads((tmp_path / "p" / MANIFEST_NAME).read_text())
    assert [s["id"] for s in m["subjects"]] == ["P1", "P3"] and m["skipped"][0]["id"] == "P2"
    rc = main(["prepare", "--data", spec, "--cache", str(tmp_path / "q"), "--quiet", "--strict"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "subject P2" in err[0] and "missing slices" in err[0], err
    # evaluate: --skip-bad skips it with one warning line
    rc = main(["evaluate", "--data", spec, "--methods", "average", "--out", str(tmp_path / "ev"), "--skip-bad"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and [line for line in err if "warning" in line and "P2" in line], err
    # train reads the spec for both sides of its split: still one warning line
    rc = main(["train", "--data", spec, "--skip-bad", "--val-fraction", "0.5", "--crop", "16", "--max-steps", "1",
               "--batch-size", "2", "--out", str(tmp_path / "run"), "--threads", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and len([line for line in err if "skipping subject P2" in line]) == 1, err


def test_series_on_different_grids_are_refused_naming_both(collection, tmp_path):
    root = _copy(collection, tmp_path)
    shutil.rmtree(root / "P1" / "flair")
    aff = phantom_affine(SHAPE) @ np.diag([1.0, 1.0, 1.5, 1.0])
    write_series(root / "P1" / "flair", phantom_pair(SHAPE, seed=3)[1], aff, number=7, description="FLAIR",
                 patient_id="P1", study_uid="1.2.826.0.1.3680043.8.498.73")
    with pytest.raises(DataError) as err:
        load_pairs(f"dicom-studies:{root}:5:7")
    text = str(err.value)
    assert text.startswith("subject P1: ") and "P1/t1ce" in text and "P1/flair" in text and "does not resample" in text


def test_ambiguous_or_missing_series_are_refused_with_the_subject_named(collection, tmp_path):
    root = _copy(collection, tmp_path)
    shutil.rmtree(root / "site-b")
    # P3: two series numbered 5 (ambiguous); P4: no series 7
    _study(root / "site-b", "P3", 5, flair_kw=None)
    write_series(root / "site-b" / "P3" / "t1ce-repeat", phantom_pair(SHAPE, seed=5)[0], phantom_affine(SHAPE),
                 number=5, description="T1 post repeat", patient_id="P3",
                 study_uid="1.2.826.0.1.3680043.8.498.75", for_uid="1.2.826.0.1.3680043.8.498.85")
    with pytest.raises(DataError, match=r"subject P3: .*series '5' matches 2 series; give the UID"):
        load_pairs(f"dicom-studies:{root}:5:7")
    shutil.rmtree(root / "site-b" / "P3" / "t1ce-repeat")
    shutil.rmtree(root / "site-b" / "P3" / "flair")
    with pytest.raises(DataError, match=r"subject P3: .*series '7' matches none of the series here"):
        load_pairs(f"dicom-studies:{root}:5:7")
    # a selector that matches in no study at all is a typing error: refused even with skip_bad
    with pytest.raises(DataError, match=r"series 'FLAIRR' matches no series in any of the 3 studies"):
        load_pairs(f"dicom-studies:{root}:5:FLAIRR", skip_bad=True)
    with pytest.raises(DataError, match=r"subject P1: .*both selectors pick the same series"):
        load_pairs(f"dicom-studies:{root}:5:T1 post")


def test_a_collection_with_nothing_usable_is_one_line_and_leaves_nothing(collection, tmp_path, capsys):
    root = _copy(collection, tmp_path)
    for d in root.rglob("flair"):
        shutil.rmtree(d)
    _study(tmp_path / "other", "X", 9)  # the selector 7 exists, but in no study of this root
    shutil.copytree(tmp_path / "other" / "X" / "flair", tmp_path / "lonely")  # a series without its study's t1ce
    shutil.move(str(tmp_path / "lonely"), str(root / "lonely"))
    spec = f"dicom-studies:{root}:5:7"
    for argv in (["prepare", "--data", spec, "--cache", str(tmp_path / "p"), "--quiet"],
                 ["evaluate", "--data", spec, "--methods", "average", "--out", str(tmp_path / "ev"), "--skip-bad"]):
        rc = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "no usable subject among 4 DICOM studies" in err[0], err
    assert not (tmp_path / "p").exists() and not (tmp_path / "ev").exists()


@pytest.mark.parametrize("spec, fragment", [
    ("dicom-studies:{root}", "bad dicom-studies spec"),
    ("dicom-studies:{root}:5", "bad dicom-studies spec"),
    ("dicom-studies:{root}:5:7:9", "bad dicom-studies spec"),
    ("dicom-studies:{root}/nope:5:7", "no such folder"),
    ("dicom-studies:{brats}:5:7", "no DICOM image series here"),
])
def test_bad_studies_specs_are_refused(collection, tmp_path, capsys, spec, fragment):
    text = spec.format(root=collection / "dicom", brats=collection / "brats")
    for argv in (["prepare", "--data", text, "--cache", str(tmp_path / "p"), "--quiet"],
                 ["evaluate", "--data", text, "--methods", "average", "--out", str(tmp_path / "ev")]):
        rc = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and fragment in err[0], (argv, err)
    assert list(tmp_path.iterdir()) == []


def test_the_dicom_and_dicom_studies_forms_are_told_apart_by_their_prefix(collection):
    """``dicom:STUDY:A:B`` stays one study folder (here: a root of three studies, so series 5 is ambiguous);
    ``dicom-studies:`` reads the same folder as a collection."""
    with pytest.raises(DataError, match="matches 3 series"):
        load_pairs(f"dicom:{collection / 'dicom'}:5:7")
    assert len(load_pairs(f"dicom-studies:{collection / 'dicom'}:5:7").subjects) == 3


def test_train_splits_a_collection_by_subject(collection, tmp_path, capsys):
    rc = main(["train", "--data", f"dicom-studies:{collection / 'dicom'}:5:7", "--val-fraction", "0.34",
               "--crop", "16", "--max-steps", "1", "--batch-size", "2", "--out", str(tmp_path / "run"),
               "--threads", "1"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "from 2 subjects; validating on" in out.out, out.out
