"""NIfTI volumes: orientation, round trips, normalisation, bad files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fusioninn.data.volume import (
    axial_slices,
    check_same_grid,
    denormalise_slices,
    from_axial_slices,
    minmax_normalise,
    normalise_slices,
    read_volume,
    write_volume,
)
from fusioninn.errors import DataError

from .conftest import save_nifti

LPS = np.array([[-1.0, 0, 0, 10], [0, -1.0, 0, 20], [0, 0, 1.0, -5], [0, 0, 0, 1]])


def _ras_version(lps_data: np.ndarray, lps_affine: np.ndarray):
    """The same image stored RAS: flip the first two axes and fix the affine accordingly."""
    import nibabel as nib
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

    ornt = ornt_transform(io_orientation(lps_affine), nib.orientations.axcodes2ornt("RAS"))
    return apply_orientation(lps_data, ornt), lps_affine @ inv_ornt_aff(ornt, lps_data.shape)


def test_stored_dtype_view_equals_the_float32_copy(tmp_path):
    from fusioninn.data.volume import axial_view

    rng = np.random.default_rng(1)
    data = rng.integers(-50, 1000, (12, 10, 6)).astype(np.int16)
    save_nifti(tmp_path / "lps.nii.gz", data, LPS)
    full = read_volume(tmp_path / "lps.nii.gz")
    lean = read_volume(tmp_path / "lps.nii.gz", contiguous=False, stored_dtype=True)
    assert full.data.dtype == np.float32 and full.data.flags.c_contiguous
    assert lean.data.dtype == np.int16
    np.testing.assert_array_equal(lean.data, full.data)
    np.testing.assert_array_equal(lean.affine, full.affine)
    keep = np.array([1, 4])
    np.testing.assert_array_equal(axial_view(lean.data)[keep], axial_slices(full.data)[keep])


def test_ras_and_lps_files_give_the_same_slices(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1000, (12, 10, 6)).astype(np.int16)
    save_nifti(tmp_path / "lps.nii.gz", data, LPS)
    ras_data, ras_aff = _ras_version(data, LPS)
    save_nifti(tmp_path / "ras.nii", ras_data, ras_aff)
    a, b = read_volume(tmp_path / "lps.nii.gz"), read_volume(tmp_path / "ras.nii")
    assert a.original_axcodes == ("L", "P", "S") and b.original_axcodes == ("R", "A", "S")
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_allclose(a.affine, b.affine)
    # a BraTS (LPS) file's slice k, transposed, is the display slice
    np.testing.assert_array_equal(axial_slices(a.data)[3], data[:, :, 3].T)
    np.testing.assert_array_equal(from_axial_slices(axial_slices(a.data)), a.data)
    assert a.data.dtype == np.float32


def test_write_volume_back_in_input_orientation(tmp_path):
    import nibabel as nib

    data = np.arange(12 * 10 * 6, dtype=np.int16).reshape(12, 10, 6)
    save_nifti(tmp_path / "in.nii.gz", data, LPS)
    vol = read_volume(tmp_path / "in.nii.gz")
    out = write_volume(tmp_path / "out.nii.gz", vol.data * 2.0, like=vol)
    img = nib.load(out)
    np.testing.assert_allclose(img.affine, LPS)
    np.testing.assert_array_equal(np.asarray(img.dataobj), data * 2.0)
    assert img.get_data_dtype() == np.float32
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(DataError, match="does not match"):
        write_volume(tmp_path / "bad.nii.gz", vol.data[:5], like=vol)
    with pytest.raises(DataError, match="NaN"):
        write_volume(tmp_path / "bad.nii.gz", vol.data * np.nan, like=vol)


def test_normalise_robust_to_empty_constant_negative():
    vol = np.zeros((4, 4, 3), dtype=np.float32)
    vol[:, :, 1] = 7.0  # constant slice
    vol[:, :, 2] = np.arange(16).reshape(4, 4) - 3.0  # negatives
    normed, lo, hi = normalise_slices(vol)
    assert np.isfinite(normed).all()
    assert (normed[:, :, 0] == 0).all() and (normed[:, :, 1] == 0).all()
    s = normed[:, :, 2]
    assert s.min() == 0.0 and s.max() == 1.0
    assert (s[vol[:, :, 2] <= 0] == 0).all()  # negatives clipped: background stays exactly 0
    np.testing.assert_allclose(lo, [0, 7, 0])
    np.testing.assert_allclose(hi, [0, 7, 12])
    back = denormalise_slices(normed, lo, hi)
    np.testing.assert_allclose(back[:, :, 2], np.maximum(vol[:, :, 2], 0), atol=1e-5)
    raw, lo2, _ = normalise_slices(vol, clip_negative=False)
    assert lo2[2] == -3.0 and raw[:, :, 2][vol[:, :, 2] == 0].min() > 0  # without clipping: zero lifted


def test_minmax_normalise_last_axes_and_nan():
    x = np.stack([np.ones((3, 3)), np.arange(9.0).reshape(3, 3)])
    out, lo, hi = minmax_normalise(x)
    assert out.shape == (2, 3, 3) and (out[0] == 0).all() and out[1].max() == 1.0
    with pytest.raises(DataError, match="NaN"):
        minmax_normalise(np.full((2, 2), np.nan))


def test_check_same_grid_names_both_files(tmp_path):
    save_nifti(tmp_path / "a.nii.gz", np.zeros((8, 8, 4), np.int16), LPS)
    save_nifti(tmp_path / "b.nii.gz", np.zeros((8, 8, 5), np.int16), LPS)
    shifted = LPS.copy()
    shifted[0, 3] += 3
    save_nifti(tmp_path / "c.nii.gz", np.zeros((8, 8, 4), np.int16), shifted)
    a, b, c = (read_volume(tmp_path / f"{n}.nii.gz") for n in "abc")
    with pytest.raises(DataError, match=r"a\.nii\.gz: shape \(8, 8, 4\) differs .*b\.nii\.gz"):
        check_same_grid(a, b)
    with pytest.raises(DataError, match=r"a\.nii\.gz: affine differs .*c\.nii\.gz"):
        check_same_grid(a, c)
    check_same_grid(a, read_volume(tmp_path / "a.nii.gz"))


def test_corrupt_truncated_missing_files(tmp_path):
    save_nifti(tmp_path / "ok.nii.gz", np.ones((16, 16, 8), np.int16), LPS)
    blob = (tmp_path / "ok.nii.gz").read_bytes()
    (tmp_path / "trunc.nii.gz").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "junk.nii.gz").write_bytes(b"not a nifti file at all")
    (tmp_path / "badgz.nii.gz").write_bytes(gzip.compress(b"\x00" * 100))
    for name in ("trunc", "junk", "badgz"):
        with pytest.raises(DataError, match=f"{name}.nii.gz: "):
            read_volume(tmp_path / f"{name}.nii.gz")
    with pytest.raises(DataError, match="file not found"):
        read_volume(tmp_path / "missing.nii.gz")


def test_four_d_single_volume_squeezed_and_nan_rejected(tmp_path):
    save_nifti(tmp_path / "v4.nii.gz", np.ones((6, 6, 4, 1), np.float32), LPS)
    assert read_volume(tmp_path / "v4.nii.gz").shape == (6, 6, 4)
    save_nifti(tmp_path / "v5.nii.gz", np.ones((6, 6, 4, 2), np.float32), LPS)
    with pytest.raises(DataError, match="expected a 3-D volume"):
        read_volume(tmp_path / "v5.nii.gz")
    bad = np.ones((6, 6, 4), np.float32)
    bad[1, 1, 1] = np.nan
    save_nifti(tmp_path / "nan.nii.gz", bad, LPS)
    with pytest.raises(DataError, match="1 NaN"):
        read_volume(tmp_path / "nan.nii.gz")
