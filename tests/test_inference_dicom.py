"""fuse / decompose with DICOM series through the CLI: against the NIfTI route, derived series, exact inverse."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="pydicom is not installed (pip install -e .)")

from fusioninn.cli import main  # noqa: E402
from fusioninn.data.volume import read_volume  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "data"))
from dicom_factory import phantom_affine, phantom_pair, reorient, write_series  # noqa: E402

SHAPE = (40, 36, 10)
STUDY, FOR = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A T1ce + FLAIR pair as NIfTI files and as DICOM series of one study (float values, stored 16-bit)."""
    root = tmp_path_factory.mktemp("case")
    t1ce, flair = phantom_pair(SHAPE, seed=5)
    aff = phantom_affine(SHAPE)
    # float values like BraTS-Toolkit output; DICOM stores them 16-bit with a rescale, NIfTI as float32
    a = (t1ce * 1.37 + 0.25).astype(np.float32)
    b = (flair * 0.91).astype(np.float32)
    nib.save(nib.Nifti1Image(a, aff), str(root / "a.nii.gz"))
    nib.save(nib.Nifti1Image(b, aff), str(root / "b.nii.gz"))
    for name, vol, number, desc in (("t1ce", a, 5, "T1 post"), ("flair", b, 7, "FLAIR")):
        lo = float(vol.min())
        slope = (float(vol.max()) - lo) / 65000
        write_series(root / "study" / name, vol, aff, slope=slope, intercept=lo, signed=False, shuffle=True,
                     study_uid=STUDY, for_uid=FOR, number=number, description=desc, seed=number)
    # the same pair stored sagittally (integer-valued copies, stored exactly)
    for name, vol, number in (("t1ce", t1ce, 9), ("flair", flair, 10)):
        sag, sag_aff = reorient(vol, aff, ("P", "I", "R"))
        write_series(root / "sagittal" / name, sag, sag_aff, study_uid=STUDY, for_uid=FOR, number=number,
                     shuffle=True)
        nib.save(nib.Nifti1Image(vol, aff), str(root / f"int_{name}.nii.gz"))
    return root


def _run(*args: str) -> int:
    return main([*args, "--threads", "1"])


def _fused(root: Path, out: Path, model: str, *a_b: str, extra=()) -> Path:
    assert _run("fuse", *a_b, "-o", str(out), "--model", model, *extra) == 0
    return out


def test_dicom_in_nifti_out_equals_the_nifti_route(tmp_path, case, perturbed_model_path):
    ref = _fused(case, tmp_path / "ref.nii.gz", perturbed_model_path, str(case / "a.nii.gz"), str(case / "b.nii.gz"))
    got = _fused(case, tmp_path / "dcm.nii.gz", perturbed_model_path, str(case / "study"), str(case / "study"),
                 extra=("--series", "5", "--series", "FLAIR"))
    r, g = nib.load(ref), nib.load(got)
    assert r.shape == g.shape == SHAPE
    np.testing.assert_allclose(g.affine, r.affine, atol=1e-5)  # geometry identical (DS text rounding only)
    assert nib.aff2axcodes(g.affine) == nib.aff2axcodes(r.affine) == ("L", "P", "S")
    diff = np.abs(g.get_fdata() - r.get_fdata()).max()
    span = float(np.ptp(r.get_fdata()))
    assert diff <= 2e-3 * span, (diff, span)  # the number to reach: storage quantisation only
    # the sidecars agree too: per-slice normalisation from the DICOM values
    jr = json.loads((tmp_path / "ref.fusioninn.json").read_text())
    jg = json.loads((tmp_path / "dcm.fusioninn.json").read_text())
    for key in ("lo", "hi"):  # within the 16-bit storage step of the test series (range / 65000)
        np.testing.assert_allclose(jg[key], jr[key], atol=2e-5 * np.max(jr["hi"]))


def test_sagittal_dicom_fuses_like_the_axial_nifti(tmp_path, case, perturbed_model_path):
    ref = _fused(case, tmp_path / "ref.nii.gz", perturbed_model_path, str(case / "int_t1ce.nii.gz"),
                 str(case / "int_flair.nii.gz"))
    got = _fused(case, tmp_path / "sag.nii.gz", perturbed_model_path, str(case / "sagittal" / "t1ce"),
                 str(case / "sagittal" / "flair"))
    r, g = read_volume(ref), read_volume(got)
    assert g.original_axcodes == ("P", "I", "R")  # written back in the input's own storage order
    np.testing.assert_allclose(g.affine, r.affine, atol=1e-4)
    assert np.abs(g.data - r.data).max() <= 1e-6  # integer values stored exactly: the same fused volume


def test_fused_dicom_series_round_trip_and_exact_decomposition(tmp_path, case, perturbed_model_path):
    sitk = pytest.importorskip("SimpleITK", reason="SimpleITK is not installed (pip install -e '.[test]')")
    ref = _fused(case, tmp_path / "ref.nii.gz", perturbed_model_path, str(case / "a.nii.gz"), str(case / "b.nii.gz"))
    out = _fused(case, tmp_path / "fused", perturbed_model_path, str(case / "study" / "t1ce"),
                 str(case / "study" / "flair"),
                 extra=("--format", "dicom", "--save-latent", str(tmp_path / "z.npz")))
    assert (tmp_path / "fused.fusioninn.json").is_file()
    files = sorted(out.iterdir())
    assert len(files) == SHAPE[2] and all(f.suffix == ".dcm" for f in files)
    ds = pydicom.dcmread(files[0])
    assert ds.SeriesDescription == "FusionINN fused T1ce+FLAIR"
    assert "T1 post" in ds.DerivationDescription and "FLAIR" in ds.DerivationDescription
    assert ds.StudyInstanceUID == STUDY and ds.FrameOfReferenceUID == FOR
    assert len(ds.ReferencedSeriesSequence) == 2
    # read back by pydicom (our reader) and by SimpleITK: the NIfTI route's fused volume and geometry
    same_inputs = _fused(case, tmp_path / "dcm.nii.gz", perturbed_model_path, str(case / "study" / "t1ce"),
                         str(case / "study" / "flair"))
    r, d = read_volume(ref), read_volume(same_inputs)
    back = read_volume(out)
    np.testing.assert_allclose(back.affine, r.affine, atol=1e-5)
    assert np.abs(back.data - d.data).max() <= 0.5 / 65535 + 1e-6  # fused in [0, 1], stored 16-bit
    assert np.abs(back.data - r.data).max() <= 2e-3  # and both storage steps together, against the NIfTI route
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(out)))
    img = reader.Execute()
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ nib.load(ref).affine
    np.testing.assert_allclose(img.GetOrigin(), lps[:3, 3], atol=1e-4)
    np.testing.assert_allclose(img.GetSpacing(), np.linalg.norm(lps[:3, :3], axis=0), atol=1e-5)
    arr = np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0))
    assert np.abs(arr - nib.load(same_inputs).get_fdata()).max() <= 0.5 / 65535 + 1e-6

    # decompose the DICOM-stored fused series with its latent: exact, to NIfTI and to DICOM
    assert _run("decompose", str(out), "-o", str(tmp_path / "dec"), "--latent", str(tmp_path / "z.npz"),
                "--model", perturbed_model_path) == 0
    assert _run("decompose", str(out), "-o", str(tmp_path / "decd"), "--latent", str(tmp_path / "z.npz"),
                "--format", "dicom", "--model", perturbed_model_path) == 0
    for name, src in (("t1ce", "t1ce"), ("flair", "flair")):
        source = read_volume(case / "study" / src)
        truth = np.maximum(source.data, 0)
        span = float(truth.max())
        nii = read_volume(tmp_path / "dec" / f"fused_{name}.nii.gz")
        assert np.abs(nii.data - truth).max() <= 1e-4 * span
        series = read_volume(tmp_path / "decd" / f"fused_{name}")
        assert np.abs(series.data - truth).max() <= span / 65535 * 0.5 + 1e-4 * span
        np.testing.assert_allclose(series.affine, source.affine, atol=1e-5)
        d = pydicom.dcmread(next((tmp_path / "decd" / f"fused_{name}").iterdir()))
        assert d.SeriesDescription == f"FusionINN decomposed {'T1ce' if name == 't1ce' else 'FLAIR'}"
        assert "exact inverse" in d.DerivationDescription and "intensity units" in d.DerivationDescription
        assert [i.SeriesInstanceUID for i in d.ReferencedSeriesSequence] == [ds.SeriesInstanceUID]
        assert d.StudyInstanceUID == STUDY and d.PatientID == "PHANTOM-1"


def test_decompose_dicom_sampled_with_uncertainty_series(tmp_path, case, perturbed_model_path):
    out = _fused(case, tmp_path / "fused", perturbed_model_path, str(case / "study"), str(case / "study"),
                 extra=("--series", "5", "--series", "7", "--format", "dicom"))
    assert _run("decompose", str(out), "-o", str(tmp_path / "dec"), "--samples", "2", "--seed", "0",
                "--format", "dicom", "--model", perturbed_model_path) == 0
    names = sorted(p.name for p in (tmp_path / "dec").iterdir())
    assert names == ["fused_flair", "fused_flair_std", "fused_t1ce", "fused_t1ce_std"]
    t1 = read_volume(tmp_path / "dec" / "fused_t1ce")
    assert t1.data.max() > 2.0  # denormalised by the sidecar into the source's units, not [0, 1]
    std = pydicom.dcmread(next((tmp_path / "dec" / "fused_t1ce_std").iterdir()))
    assert std.SeriesDescription == "FusionINN uncertainty T1ce" and "2 FusionINN decompositions" in \
        std.DerivationDescription
    uids = {pydicom.dcmread(next((tmp_path / "dec" / n).iterdir())).SeriesInstanceUID for n in names}
    assert len(uids) == 4


def test_mixed_dicom_and_nifti_inputs_on_one_grid(tmp_path, case, perturbed_model_path):
    out = _fused(case, tmp_path / "f.nii.gz", perturbed_model_path, str(case / "study" / "t1ce"),
                 str(case / "b.nii.gz"))
    assert read_volume(out).shape == SHAPE


def test_dicom_refusals_through_the_cli(tmp_path, case, perturbed_model_path, capsys):
    def refuse(*args: str) -> str:
        capsys.readouterr()
        assert _run(*args, "--model", perturbed_model_path) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        return err

    s = str(case / "study")
    err = refuse("fuse", s, s, "-o", str(tmp_path / "f.nii.gz"))
    assert "choose one with --series" in err and "#5 'T1 post'" in err and "#7 'FLAIR'" in err
    err = refuse("fuse", s, s, "--series", "5", "-o", str(tmp_path / "f.nii.gz"))
    assert "is the same series" in err
    err = refuse("fuse", str(case / "a.nii.gz"), str(case / "b.nii.gz"), "-o", str(tmp_path / "out"),
                 "--format", "dicom")
    assert "needs a DICOM series as the first input" in err
    err = refuse("fuse", s, s, "--series", "5", "--series", "7", "-o", str(tmp_path / "f.nii.gz"), "--format",
                 "dicom")
    assert "names a folder" in err
    other = tmp_path / "other"
    t1ce, _ = phantom_pair((40, 36, 12), seed=5)
    write_series(other, t1ce, phantom_affine((40, 36, 12)))
    err = refuse("fuse", str(case / "study" / "t1ce"), str(other), "-o", str(tmp_path / "f.nii.gz"))
    assert "40x36x10 voxels" in err and "40x36x12 voxels" in err and "register" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]
