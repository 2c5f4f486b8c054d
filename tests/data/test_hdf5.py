"""HDF5: the original layout and our export."""

from __future__ import annotations

import numpy as np
import pytest

from fusioninn.data.hdf5 import read_h5, write_h5
from fusioninn.errors import DataError


def test_round_trip_our_export(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.random((5, 4, 16, 12)).astype(np.float32)
    seg = rng.integers(0, 3, (5, 16, 12)).astype(np.uint8)
    path = write_h5(tmp_path / "x.h5", data, seg=seg, subject_ids=list("aabbc"), slice_index=np.arange(5))
    h = read_h5(path)
    np.testing.assert_array_equal(h.images, data[:, 2:4])  # t1ce, flair = channels 2, 3
    np.testing.assert_array_equal(h.seg, seg)
    assert h.subject_ids == list("aabbc") and h.slice_index.tolist() == [0, 1, 2, 3, 4]
    assert not h.renormalised
    t1t2 = read_h5(path, ("t1", "t2"))
    np.testing.assert_array_equal(t1t2.images, data[:, :2])
    assert not list(tmp_path.glob(".tmp-*"))


def test_original_layout_without_extras(tmp_path):
    import h5py

    data = np.random.default_rng(1).random((3, 4, 8, 8)).astype(np.float64)
    with h5py.File(tmp_path / "orig.h5", "w") as fh:
        fh["data"] = data
    h = read_h5(tmp_path / "orig.h5")
    np.testing.assert_allclose(h.images, data[:, 2:4].astype(np.float32))
    assert h.subject_ids is None and h.seg is None


def test_values_outside_unit_range_are_normalised(tmp_path):
    import h5py

    data = np.zeros((2, 4, 6, 6), np.float32)
    data[:, :, 2:4, 2:4] = 500.0
    data[:, :, 0, 0] = -20.0
    with h5py.File(tmp_path / "raw.h5", "w") as fh:
        fh["data"] = data
    h = read_h5(tmp_path / "raw.h5")
    assert h.renormalised
    assert h.images.max() == 1.0 and h.images.min() == 0.0 and h.images[0, 0, 0, 0] == 0.0


def test_missing_data_and_bad_files(tmp_path):
    import h5py

    with h5py.File(tmp_path / "nodata.h5", "w") as fh:
        fh["images"] = np.zeros((2, 4, 8, 8))
    with pytest.raises(DataError, match=r"nodata\.h5: no 'data' dataset \(datasets found: images\)"):
        read_h5(tmp_path / "nodata.h5")
    (tmp_path / "junk.h5").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"junk\.h5: not a readable HDF5 file"):
        read_h5(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "three.h5", "w") as fh:
        fh["data"] = np.zeros((2, 3, 8, 8))
    with pytest.raises(DataError, match="expected 4 channels"):
        read_h5(tmp_path / "three.h5")
    with pytest.raises(DataError, match="no channel 'adc'"):
        read_h5(write_h5(tmp_path / "ok.h5", np.zeros((1, 4, 4, 4))), ("adc", "flair"))
    with pytest.raises(DataError, match="NaN"):
        write_h5(tmp_path / "nan.h5", np.full((1, 4, 4, 4), np.nan))
    with pytest.raises(DataError, match="file not found"):
        read_h5(tmp_path / "missing.h5")
