"""DICOM series: geometry and values against the NIfTI route, series selection, refusals, derived series."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="pydicom is not installed (pip install -e .)")

from fusioninn.data.dicom import list_series, read_dicom_series, write_derived_series  # noqa: E402
from fusioninn.data.volume import read_volume  # noqa: E402
from fusioninn.errors import DataError  # noqa: E402

from .conftest import save_nifti  # noqa: E402
from .dicom_factory import phantom_affine, phantom_pair, reorient, write_series  # noqa: E402

BUNDLED = Path(pydicom.__file__).parent / "data" / "test_files"
SHAPE = (40, 36, 10)  # sides >= 32: OpenJPEG encodes JPEG 2000 only from 32 pixels up


@pytest.fixture(scope="module")
def pair():
    t1ce, flair = phantom_pair(SHAPE, seed=3)
    return t1ce, flair, phantom_affine(SHAPE)


def _nifti(tmp_path: Path, data, affine, name="ref.nii.gz"):
    return read_volume(save_nifti(tmp_path / name, data, affine))


def _assert_same_volume(dicom_vol, nifti_vol, atol=0.0):
    np.testing.assert_allclose(dicom_vol.data, nifti_vol.data, atol=atol, rtol=0)
    np.testing.assert_allclose(dicom_vol.affine, nifti_vol.affine, atol=1e-5)
    assert dicom_vol.shape == nifti_vol.shape and dicom_vol.data.dtype == np.float32


def test_axial_lps_series_with_shuffled_files_equals_the_nifti(tmp_path, pair):
    t1ce, _, aff = pair
    write_series(tmp_path / "s", t1ce, aff, shuffle=True)  # random file names and InstanceNumbers
    vol, ref = read_volume(tmp_path / "s"), _nifti(tmp_path, t1ce, aff)
    _assert_same_volume(vol, ref)
    assert vol.original_axcodes == ("L", "P", "S")
    np.testing.assert_allclose(vol.original_affine, aff, atol=1e-5)
    np.testing.assert_allclose(vol.zooms, (1.0, 1.2, 2.5), atol=1e-6)
    assert vol.dicom is not None and len(vol.dicom.slices) == SHAPE[2]


def test_sagittal_series_gives_the_same_ras_volume(tmp_path, pair):
    t1ce, _, aff = pair
    sag, sag_aff = reorient(t1ce, aff, ("P", "I", "R"))  # rows run down, columns posterior, slices to the right
    write_series(tmp_path / "sag", sag, sag_aff, shuffle=True)
    vol = read_volume(tmp_path / "sag")
    assert vol.original_axcodes == ("P", "I", "R")
    _assert_same_volume(vol, _nifti(tmp_path, t1ce, aff))
    ds = pydicom.dcmread(next((tmp_path / "sag").iterdir()))
    assert [round(float(v)) for v in ds.ImageOrientationPatient] == [0, 1, 0, 0, 0, -1]


def test_slices_whose_normal_points_against_the_file_order(tmp_path, pair):
    """Sorting is by position along row x column: a stack written inferior-first reads the same."""
    t1ce, _, aff = pair
    flipped, flipped_aff = reorient(t1ce, aff, ("L", "P", "I"))
    write_series(tmp_path / "s", flipped, flipped_aff)
    _assert_same_volume(read_volume(tmp_path / "s"), _nifti(tmp_path, t1ce, aff))


def test_rescale_slope_and_intercept_are_applied(tmp_path, pair):
    t1ce, _, aff = pair
    values = t1ce.astype(np.float64) * 0.37 - 100.0  # float data, as BraTS-Toolkit output
    write_series(tmp_path / "s", values, aff, slope=0.01, intercept=-150.0, signed=False)
    vol = read_volume(tmp_path / "s")
    _assert_same_volume(vol, _nifti(tmp_path, values.astype(np.float32), aff), atol=0.005 + 1e-4)
    assert vol.data.min() < -99  # the intercept took the stored 0.. range below zero


@pytest.mark.parametrize("multiframe", [False, True])
def test_rescale_per_slice_is_applied_per_slice(tmp_path, pair, multiframe):
    """Classic objects with their own rescale each, and an enhanced multi-frame object with one rescale per
    frame (per-frame PixelValueTransformationSequence, frames shuffled)."""
    t1ce, _, aff = pair
    values = t1ce.astype(np.float64) * 0.731 + 0.1
    write_series(tmp_path / "s", values, aff, per_slice_rescale=True, shuffle=True, multiframe=multiframe)
    if multiframe:
        (f,) = (tmp_path / "s").iterdir()
        groups = pydicom.dcmread(f).PerFrameFunctionalGroupsSequence
        slopes = {g.PixelValueTransformationSequence[0].RescaleSlope for g in groups}
    else:
        slopes = {pydicom.dcmread(f).RescaleSlope for f in (tmp_path / "s").iterdir()}
    assert len(slopes) > 2  # really one rescale per slice
    vol = read_volume(tmp_path / "s")
    ref = _nifti(tmp_path, values.astype(np.float32), aff)
    step = np.ptp(values, axis=(0, 1)) / 65000  # each slice's own storage step
    err = np.abs(vol.data - ref.data).max(axis=(0, 1))
    assert (err <= step / 2 + 1e-4).all()


@pytest.mark.parametrize("syntax", ["RLELossless", "JPEG2000Lossless"])
def test_compressed_transfer_syntaxes(tmp_path, pair, syntax):
    import pydicom.uid

    t1ce, _, aff = pair
    write_series(tmp_path / "s", t1ce, aff, transfer_syntax=getattr(pydicom.uid, syntax), shuffle=True)
    ts = pydicom.dcmread(next((tmp_path / "s").iterdir())).file_meta.TransferSyntaxUID
    assert ts.is_compressed
    _assert_same_volume(read_volume(tmp_path / "s"), _nifti(tmp_path, t1ce, aff))


@pytest.mark.parametrize("shuffle", [False, True])
def test_enhanced_multiframe_mr(tmp_path, pair, shuffle):
    t1ce, _, aff = pair
    write_series(tmp_path / "mf", t1ce, aff, multiframe=True, shuffle=shuffle, slope=2.0, intercept=-10.0)
    assert len(list((tmp_path / "mf").iterdir())) == 1
    vol = read_volume(tmp_path / "mf")
    ref = _nifti(tmp_path, (np.rint((t1ce + 10.0) / 2.0) * 2.0 - 10.0).astype(np.float32), aff)
    _assert_same_volume(vol, ref)
    assert {s.frame for s in vol.dicom.slices} == set(range(SHAPE[2]))


def test_enhanced_multiframe_compressed(tmp_path, pair):
    from pydicom.uid import RLELossless

    t1ce, _, aff = pair
    write_series(tmp_path / "mf", t1ce, aff, multiframe=True, shuffle=True, transfer_syntax=RLELossless)
    _assert_same_volume(read_volume(tmp_path / "mf"), _nifti(tmp_path, t1ce, aff))


def _one_file_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name.replace(".dcm", "")
    folder.mkdir()
    shutil.copy(BUNDLED / name, folder / name)
    return folder


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_expb.dcm"])
def test_pydicoms_bundled_mr_in_every_transfer_syntax(tmp_path, name):
    """pydicom's test files: one MR slice in six encodings (JPEG-LS and JPEG 2000 through pylibjpeg)."""
    ref = read_volume(_one_file_folder(tmp_path, "MR_small.dcm"))
    vol = read_volume(_one_file_folder(tmp_path, name))
    np.testing.assert_array_equal(vol.data, ref.data)
    np.testing.assert_allclose(vol.affine, ref.affine)


def test_bundled_ct_geometry_and_rescale_from_the_tags(tmp_path):
    ds = pydicom.dcmread(BUNDLED / "CT_small.dcm")
    vol = read_volume(_one_file_folder(tmp_path, "CT_small.dcm"))
    expected = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert float(ds.RescaleIntercept) != 0
    row_dir = np.array(ds.ImageOrientationPatient[:3], dtype=float)
    col_dir = np.array(ds.ImageOrientationPatient[3:], dtype=float)
    lps_centre_of_pixel_rc = (np.array(ds.ImagePositionPatient, dtype=float) + 3 * float(ds.PixelSpacing[1]) * row_dir
                              + 5 * float(ds.PixelSpacing[0]) * col_dir)
    # voxel (column 3, row 5) of the file, in the volume's own affine (original, before reorientation)
    ras = vol.original_affine @ np.array([3, 5, 0, 1.0])
    np.testing.assert_allclose(ras[:3], lps_centre_of_pixel_rc * [-1, -1, 1], atol=1e-4)
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    back = apply_orientation(vol.data, ornt_transform(axcodes2ornt("RAS"), io_orientation(vol.original_affine)))
    np.testing.assert_allclose(back[:, :, 0].T, expected, atol=1e-3)


def test_series_selection_by_uid_number_description(tmp_path, pair):
    t1ce, flair, aff = pair
    write_series(tmp_path / "study" / "a", t1ce, aff, number=5, description="T1 post", series_uid="1.2.3.5")
    write_series(tmp_path / "study" / "b", flair, aff, number=7, description="FLAIR", series_uid="1.2.3.7")
    (tmp_path / "study" / "notes.txt").write_text("not DICOM")
    assert [s.number for s in list_series(tmp_path / "study")] == ["5", "7"]
    ref_a, ref_b = _nifti(tmp_path, t1ce, aff, "a.nii.gz"), _nifti(tmp_path, flair, aff, "b.nii.gz")
    for sel, ref in (("1.2.3.5", ref_a), ("7", ref_b), ("flair", ref_b), ("T1 POST", ref_a)):
        _assert_same_volume(read_volume(tmp_path / "study", series=sel), ref)
    with pytest.raises(DataError, match=r"holds 2 DICOM series; choose one with --series.*#5 'T1 post'.*#7 'FLAIR'"):
        read_volume(tmp_path / "study")
    with pytest.raises(DataError, match=r"--series '9' matches none.*#5"):
        read_volume(tmp_path / "study", series="9")
    write_series(tmp_path / "study" / "c", flair, aff, number=8, description="FLAIR")
    with pytest.raises(DataError, match="matches 2 series; give the UID"):
        read_volume(tmp_path / "study", series="FLAIR")
    with pytest.raises(DataError, match="--series selects a series of a DICOM folder"):
        read_volume(tmp_path / "a.nii.gz", series="5")


# ---- refusals (each also a row of tests/reliability/cases.py, through the CLI)
def _positions(aff, n):
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    return [(lps @ np.array([0.0, 0.0, k, 1.0]))[:3] for k in range(n)]


def test_refusals(tmp_path, pair):
    t1ce, _, aff = pair
    n = SHAPE[2]
    pos = _positions(aff, n)
    cases = {}
    tilted = [p + np.array([0.0, 0.3 * k, 0.0]) for k, p in enumerate(pos)]  # origins drift 0.3 mm per slice
    cases["tilt"] = (dict(positions=tilted), "gantry tilt")
    uneven = [p + np.array([0, 0, 0.8 if k >= 6 else 0.0]) for k, p in enumerate(pos)]
    cases["uneven"] = (dict(positions=uneven), "non-uniform slice spacing")
    cases["missing"] = (dict(drop=[4, 5]), "missing slices")
    oris = [np.array([1.0, 0, 0, 0, 1, 0])] * n
    oris[3] = np.array([1.0, 0, 0, 0, 0.98, 0.199])
    cases["mixed"] = (dict(orientations=oris), "mixed orientations")
    dup = list(pos)
    dup[4] = dup[3]
    cases["duplicate"] = (dict(positions=dup), "two images at one position")
    for name, (kw, phrase) in cases.items():
        write_series(tmp_path / name, t1ce, aff, **kw)
        with pytest.raises(DataError, match=phrase) as err:
            read_volume(tmp_path / name)
        assert str(tmp_path / name) in str(err.value) and "\n" not in str(err.value)
    # small wobble of the positions (rounded coordinates) is accepted
    wobble = [p + np.array([0.01, -0.01, 0.02]) * (-1) ** k for k, p in enumerate(pos)]
    write_series(tmp_path / "wobble", t1ce, aff, positions=wobble)
    assert read_volume(tmp_path / "wobble").shape == t1ce.shape


def test_refuses_colour_secondary_capture_corrupt_and_empty(tmp_path):
    with pytest.raises(DataError, match="secondary capture"):
        read_volume(_one_file_folder(tmp_path, "SC_rgb_rle.dcm"))
    colour = _one_file_folder(tmp_path, "examples_rgb_color.dcm")
    with pytest.raises(DataError, match="colour images|secondary capture"):
        read_volume(colour)
    with pytest.raises(DataError, match="corrupt or truncated pixel data"):
        read_volume(_one_file_folder(tmp_path, "MR_truncated.dcm"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no DICOM image series here \\(an empty folder\\)"):
        read_volume(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.dcm").write_bytes(b"x" * 300)
    with pytest.raises(DataError, match="1 files, none of them DICOM"):
        read_volume(tmp_path / "text")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    raw = (BUNDLED / "MR_small.dcm").read_bytes()
    (damaged / "x.dcm").write_bytes(raw[:400])  # the preamble, then a header cut mid-element
    with pytest.raises(DataError, match=r"damaged: no DICOM image series here .*without image data .*x\.dcm"):
        read_volume(damaged)


# ---- the derived series
def test_derived_series_attributes_and_round_trip(tmp_path, pair):
    t1ce, flair, aff = pair
    write_series(tmp_path / "a", t1ce, aff, series_uid="1.2.3.5", study_uid="1.2.3", for_uid="1.2.3.9", number=5)
    write_series(tmp_path / "b", flair, aff, series_uid="1.2.3.7", study_uid="1.2.3", for_uid="1.2.3.9", number=7)
    va, vb = read_volume(tmp_path / "a"), read_volume(tmp_path / "b")
    values = np.linspace(-3.0, 500.0, va.data.size, dtype=np.float32).reshape(va.shape)
    out = write_derived_series(tmp_path / "out", values, like=va, description="test derived",
                               derivation="made by a test", sources=[va, vb])
    files = sorted(out.iterdir())
    assert len(files) == SHAPE[2] and not list(tmp_path.glob(".tmp-*"))
    source_uids = {s.sop_instance_uid for v in (va, vb) for s in v.dicom.slices}
    new_uids = set()
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        assert ds.SeriesInstanceUID not in ("1.2.3.5", "1.2.3.7") and ds.SOPInstanceUID not in source_uids
        new_uids.add(ds.SOPInstanceUID)
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.SeriesDescription == "test derived" and ds.DerivationDescription == "made by a test"
        assert (ds.StudyInstanceUID, ds.FrameOfReferenceUID, ds.PatientID, str(ds.PatientName)) == \
            ("1.2.3", "1.2.3.9", "PHANTOM-1", "Phantom^Test")
        assert {item.SeriesInstanceUID for item in ds.ReferencedSeriesSequence} == {"1.2.3.5", "1.2.3.7"}
        refs = [item.ReferencedSOPInstanceUID for item in ds.SourceImageSequence]
        assert refs == [va.dicom.slices[k].sop_instance_uid, vb.dicom.slices[k].sop_instance_uid]
        assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0 and ds.pixel_array.dtype == np.uint16
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], va.dicom.slices[k].position,
                                   atol=1e-6)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        # nothing beyond what a derived series needs: no private tags, no institution, no vendor of the input
        assert not [e for e in ds if e.tag.is_private]
        assert "InstitutionName" not in ds and ds.get("Manufacturer", "") == ""
    assert len(new_uids) == SHAPE[2]
    back = read_volume(out)
    span = float(values.max() - values.min())
    assert np.abs(back.data - values).max() <= span / 65535 * 0.5 + 1e-6 * span  # 16-bit quantisation
    np.testing.assert_allclose(back.affine, va.affine, atol=1e-5)
    # a second write gets other UIDs again
    out2 = write_derived_series(tmp_path / "out2", values, like=va, description="d", derivation="d")
    assert pydicom.dcmread(next(out2.iterdir())).SeriesInstanceUID != pydicom.dcmread(files[0]).SeriesInstanceUID


def test_derived_series_keeps_every_slices_precision(tmp_path, pair):
    """One rescale per slice: a near-empty slice (range 1e-5 of the series') keeps 1/65535 of its own range,
    constant slices come back exactly; pydicom, our reader and SimpleITK read the same values."""
    t1ce, _, aff = pair
    write_series(tmp_path / "a", t1ce, aff)
    va = read_volume(tmp_path / "a")
    rng = np.random.default_rng(4)
    values = rng.random(va.shape) * 1000.0 + 20.0
    values[:, :, 0] = 0.0  # empty first image (readers that take the pixel type from the first file)
    values[:, :, 1] = 7.25  # constant
    values[:, :, 2] = 20.0 + rng.random(va.shape[:2]) * 1e-2  # near empty: 1e-5 of the series' range
    out = write_derived_series(tmp_path / "out", values.astype(np.float32), like=va, description="d",
                               derivation="d")
    back = read_volume(out).data
    for k in range(va.shape[2]):
        span = float(np.ptp(values[:, :, k].astype(np.float32)))
        err = float(np.abs(back[:, :, k] - values[:, :, k].astype(np.float32)).max())
        assert err <= span / 65535 * 0.5 * (1 + 1e-4) + 1e-6 * abs(float(values[:, :, k].max())), (k, err, span)
    assert np.array_equal(back[:, :, 0], np.zeros(va.shape[:2])) and np.all(back[:, :, 1] == 7.25)
    slopes = {float(pydicom.dcmread(f).RescaleSlope) for f in out.iterdir()}
    assert len(slopes) >= va.shape[2] - 2  # really one rescale per slice
    sitk = pytest.importorskip("SimpleITK", reason="SimpleITK is not installed (pip install -e '.[test]')")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(out)))
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    arr = np.transpose(sitk.GetArrayFromImage(reader.Execute()), (2, 1, 0))  # (i, j, k) of the file order
    to_file = ornt_transform(axcodes2ornt("RAS"), io_orientation(va.original_affine))
    np.testing.assert_allclose(arr, apply_orientation(back, to_file), rtol=1e-6, atol=1e-6)


def test_derived_series_read_back_by_simpleitk(tmp_path, pair):
    sitk = pytest.importorskip("SimpleITK", reason="SimpleITK is not installed (pip install -e '.[test]')")
    t1ce, _, aff = pair
    sag, sag_aff = reorient(t1ce, aff, ("P", "I", "R"))
    write_series(tmp_path / "a", sag, sag_aff, shuffle=True)
    va = read_volume(tmp_path / "a")
    out = write_derived_series(tmp_path / "out", va.data * 0.5, like=va, description="d", derivation="d")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(out)))
    img = reader.Execute()
    # SimpleITK works in LPS; our RAS affine of the file order, turned to LPS, must say the same
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ va.original_affine
    zooms = np.linalg.norm(lps[:3, :3], axis=0)
    np.testing.assert_allclose(img.GetSpacing(), zooms, atol=1e-5)
    np.testing.assert_allclose(img.GetOrigin(), lps[:3, 3], atol=1e-4)
    np.testing.assert_allclose(np.array(img.GetDirection()).reshape(3, 3), lps[:3, :3] / zooms, atol=1e-6)
    arr = np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0))  # (i, j, k) of the file order
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    to_file = ornt_transform(axcodes2ornt("RAS"), io_orientation(va.original_affine))
    expected = apply_orientation(va.data * 0.5, to_file)
    span = float(expected.max() - expected.min())
    np.testing.assert_allclose(arr, expected, atol=span / 65535)  # SimpleITK applied our rescale
    np.testing.assert_allclose(arr, apply_orientation(read_volume(out).data, to_file), atol=1e-6 * span)


def test_derived_series_is_written_whole_or_not_at_all(tmp_path, pair, monkeypatch):
    t1ce, _, aff = pair
    write_series(tmp_path / "a", t1ce, aff)
    va = read_volume(tmp_path / "a")
    calls = {"n": 0}
    real = pydicom.dataset.Dataset.save_as

    def failing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", failing)
    with pytest.raises(Exception, match="No space left"):
        write_derived_series(tmp_path / "out", va.data, like=va, description="d", derivation="d")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    monkeypatch.undo()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    with pytest.raises(Exception, match="not empty"):
        write_derived_series(tmp_path / "taken", va.data, like=va, description="d", derivation="d")
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["x"]


def test_derived_series_needs_a_dicom_source(tmp_path, pair):
    t1ce, _, aff = pair
    vol = _nifti(tmp_path, t1ce, aff)
    with pytest.raises(DataError, match="needs a DICOM input series"):
        write_derived_series(tmp_path / "out", vol.data, like=vol, description="d", derivation="d")
    assert not (tmp_path / "out").exists()


def test_read_folder_directly(tmp_path, pair):
    t1ce, _, aff = pair
    write_series(tmp_path / "nested" / "deeper", t1ce, aff)
    vol = read_dicom_series(tmp_path / "nested")  # searched recursively
    assert vol.shape == t1ce.shape and vol.path == tmp_path / "nested"


def test_dicom_data_spec_gives_the_slices_of_the_nifti_subject(tmp_path, pair):
    """``dicom:STUDY:SERIES_A:SERIES_B`` and ``dicom:DIR_A:DIR_B`` for evaluate/train/benchmark: the same slice
    pairs as the BraTS reader gives for the same volumes stored as NIfTI (``slices="all"``)."""
    from fusioninn.data.spec import load_pairs

    t1ce, flair, aff = pair
    write_series(tmp_path / "study" / "a", t1ce, aff, number=5, description="T1 post", shuffle=True)
    write_series(tmp_path / "study" / "b", flair, aff, number=7, description="FLAIR", multiframe=True)
    subject = tmp_path / "Case-1"
    subject.mkdir()
    save_nifti(subject / "Case-1_t1ce.nii.gz", t1ce, aff)
    save_nifti(subject / "Case-1_flair.nii.gz", flair, aff)
    ref = load_pairs(str(subject), slices="all")
    for spec in (f"dicom:{tmp_path / 'study'}:5:FLAIR", f"dicom:{tmp_path / 'study' / 'a'}:{tmp_path / 'study' / 'b'}"):
        got = load_pairs(spec)
        np.testing.assert_array_equal(got.images, ref.images)
        np.testing.assert_array_equal(got.slice_index, ref.slice_index)
        assert got.subjects == ["PHANTOM-1"] and got.seg is None and got.names == ("t1ce", "flair")
    with pytest.raises(DataError, match="bad dicom spec"):
        load_pairs(f"dicom:{tmp_path / 'study'}")
    with pytest.raises(DataError, match="same series"):
        load_pairs(f"dicom:{tmp_path / 'study'}:5:5")


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPEG2000.dcm", "JPEGLSNearLossless_16.dcm", "image_dfl.dcm"])
def test_the_installed_codecs_decode_jpeg_jpegls_j2k_deflate(name):
    """pydicom's bundled secondary captures (refused as inputs) in the other syntaxes: the decoders our
    dependencies install handle them (JPEG extended/lossy via libjpeg, JPEG 2000 via OpenJPEG)."""
    from fusioninn.data.dicom import _decode

    ds = pydicom.dcmread(BUNDLED / name)
    arr = _decode(ds, BUNDLED / name)
    assert arr.shape[-2:] == (ds.Rows, ds.Columns) and arr.size > 0
