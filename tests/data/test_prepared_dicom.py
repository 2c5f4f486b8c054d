"""prepare with a dicom: spec: the shards of the equivalent NIfTI subject, resumable, refusals."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="pydicom is not installed (pip install -e .)")

from fusioninn.cli import main as _main  # noqa: E402
from fusioninn.data import prepared as prep_mod  # noqa: E402
from fusioninn.data.dataset import ShardDataset, open_slices  # noqa: E402
from fusioninn.data.prepared import MANIFEST_NAME, PrepareOptions, prepare  # noqa: E402
from fusioninn.errors import DataError  # noqa: E402

from .conftest import save_nifti  # noqa: E402
from .dicom_factory import phantom_affine, phantom_pair, write_series  # noqa: E402

SHAPE = (32, 28, 12)
STUDY, FOR = "1.2.826.0.1.3680043.8.498.61", "1.2.826.0.1.3680043.8.498.62"


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """One subject as a BraTS folder (NIfTI) and as a study folder of two DICOM series: int16 values stored
    exactly, and a float copy stored 16-bit with one rescale per slice."""
    root = tmp_path_factory.mktemp("prep_dicom")
    t1ce, flair = phantom_pair(SHAPE, seed=6)
    aff = phantom_affine(SHAPE)
    for kind, (a, b), kw in (("int", (t1ce, flair), {}),
                             ("float", (t1ce * 0.731 + 0.1, flair * 1.3 + 2.0), {"per_slice_rescale": True})):
        subject = root / kind / "brats" / "S1"
        subject.mkdir(parents=True)
        dtype = np.int16 if kind == "int" else np.float32
        save_nifti(subject / "S1_t1ce.nii.gz", np.asarray(a, dtype), aff)
        save_nifti(subject / "S1_flair.nii.gz", np.asarray(b, dtype), aff)
        for name, vol, number, desc in (("t1ce", a, 5, "T1 post"), ("flair", b, 7, "FLAIR")):
            write_series(root / kind / "study" / name, np.asarray(vol, np.float64), aff, study_uid=STUDY,
                         for_uid=FOR, number=number, description=desc, shuffle=True, seed=number, **kw)
    return root


def _all(p) -> np.ndarray:
    ds = ShardDataset(p)
    return ds.read(range(len(ds)))


@pytest.mark.parametrize("kind, tolerance", [("int", 0.0), ("float", 2e-5)])
def test_prepared_from_dicom_equals_prepared_from_the_nifti_subject(case, tmp_path, kind, tolerance):
    ref = prepare(case / kind / "brats", tmp_path / "ref", PrepareOptions(slices="all"), progress=False)
    got = prepare(f"dicom:{case / kind / 'study'}:5:FLAIR", tmp_path / "got", PrepareOptions(slices="all"),
                  progress=False)
    a, b = _all(got), _all(ref)
    assert a.shape == b.shape and a.dtype == np.float32
    # int16 series are stored exactly; float series 16-bit, one rescale per slice: <= 2e-5 of a slice's range
    assert float(np.abs(a - b).max()) <= tolerance
    np.testing.assert_array_equal(ShardDataset(got).slice_index, ShardDataset(ref).slice_index)
    assert ShardDataset(got).subject_ids == ["PHANTOM-1"] * len(a)  # the PatientID, as evaluate --data dicom:
    m = json.loads((tmp_path / "got" / MANIFEST_NAME).read_text())
    assert m["source"] == f"dicom:{(case / kind / 'study').resolve()}:5:FLAIR" and m["complete"]
    assert len(m["subjects"][0]["files"]) == 2 * SHAPE[2]  # every file of both series, to see changes
    # evaluate/train read the prepared folder, or prepare a dicom: spec on the fly with --cache
    ds = open_slices(str(tmp_path / "got"), progress=False)
    np.testing.assert_array_equal(ds.read(range(len(ds))), a)
    ds = open_slices(f"dicom:{case / kind / 'study' / 't1ce'}:{case / kind / 'study' / 'flair'}",
                     cache=tmp_path / "fly", progress=False)
    np.testing.assert_array_equal(ds.read(range(len(ds))), a)


def test_the_prepare_command_resumes_and_decodes_a_changed_series_again(case, tmp_path, capsys, monkeypatch):
    import shutil

    study = tmp_path / "study"
    shutil.copytree(case / "int" / "study", study)
    calls = []
    real = prep_mod._decode_subject

    def counting(folder, *a, **k):
        calls.append(folder)
        return real(folder, *a, **k)

    monkeypatch.setattr(prep_mod, "_decode_subject", counting)
    argv = ["prepare", "--data", f"dicom:{study}:5:7", "--cache", str(tmp_path / "p"), "--quiet"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["subjects"] == 1 and out["slices"] > 0 and len(calls) == 1
    assert main(argv) == 0 and len(calls) == 1  # nothing changed: the shards are reused
    f = next((study / "flair").iterdir())
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert main(argv) == 0 and len(calls) == 2  # a series file changed: decoded again


@pytest.mark.parametrize("spec, extra, fragment", [
    ("dicom:{study}", (), "bad dicom spec"),
    ("dicom:{study}:5:5", (), "same series"),
    ("dicom:{study}:5:9", (), "matches none"),
    ("dicom:{study}/t1ce:{root}/nope", (), "no such folder"),
    ("dicom:{study}:5:7", ("--slices", "tumour"), "needs a segmentation"),
    ("dicom:{study}:5:7", ("--min-tumour-pixels", "3"), "no effect"),
])
def test_prepare_command_refuses_bad_dicom_specs(case, tmp_path, capsys, spec, extra, fragment):
    study = case / "int" / "study"
    rc = main(["prepare", "--data", spec.format(study=study, root=case), "--cache", str(tmp_path / "p"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_prepare_api_refuses_tumour_slices_for_dicom(case, tmp_path):
    with pytest.raises(DataError, match="no segmentation"):
        prepare(f"dicom:{case / 'int' / 'study'}:5:7", tmp_path / "p", PrepareOptions(), progress=False)
    assert not (tmp_path / "p").exists()
