"""BraTS subject folders: namings, orientation, selection, errors, skip_bad, cache."""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pytest

import fusioninn.data.brats as brats
from fusioninn.data.brats import find_subject_folders, read_brats
from fusioninn.errors import DataError

from .conftest import SEED, SMALL, save_nifti


@pytest.fixture
def root(phantom_root, tmp_path):
    dst = tmp_path / "root"
    shutil.copytree(phantom_root, dst)
    return dst


def _subject(root, k=0):
    return sorted(p for p in root.iterdir() if p.is_dir())[k]


def test_reads_tumour_slices_of_all_subjects(phantom_root):
    ss = read_brats(phantom_root)
    assert ss.images.dtype == np.float32 and ss.images.shape[1:] == (2, SMALL[1], SMALL[0])
    assert ss.names == ("t1ce", "flair")
    assert len(ss.subjects) == 2 and set(ss.subject_ids) == set(ss.subjects)
    assert ss.images.min() == 0.0 and ss.images.max() == 1.0
    assert ((ss.seg > 0).sum(axis=(1, 2)) >= 50).all()
    assert ss.slice_index.dtype == np.int32 and len(ss.slice_index) == len(ss)
    # fewer pixels needed → at least as many slices; "all" → slices without tumour too
    assert len(read_brats(phantom_root, min_tumour_pixels=1)) >= len(ss)
    everything = read_brats(phantom_root, slices="all", min_brain_fraction=0.05)
    assert len(everything) > len(ss)
    assert (everything.seg.sum(axis=(1, 2)) == 0).any()


def test_any_pair_and_channel_order(phantom_root):
    a = read_brats(phantom_root, ("t1", "t2"))
    b = read_brats(phantom_root, ("t2", "t1"))
    np.testing.assert_array_equal(a.images[:, 0], b.images[:, 1])
    with pytest.raises(DataError, match="unknown sequence 'pet'"):
        read_brats(phantom_root, ("t1", "pet"))


def test_matches_phantom_volume_slices(phantom_root):
    """The reader's slice k of a (LPS) phantom file is vol[:, :, k].T, min-max normalised, clipped."""
    from fusioninn.data.phantom import phantom_subject

    subj = _subject(phantom_root, 0)
    ss = read_brats(subj)
    vol = phantom_subject(SEED, shape=SMALL, sequences=("t1ce",))["t1ce"].astype(np.float32)
    k = int(ss.slice_index[0])
    ref = np.maximum(vol[:, :, k].T, 0)
    np.testing.assert_allclose(ss.images[0, 0], ref / ref.max(), atol=1e-6)


def test_brats2023_naming_and_ras_files_give_same_slices(phantom_root, tmp_path):
    import nibabel as nib

    src = _subject(phantom_root, 0)
    sid = "BraTS-GLI-00001-000"
    dst = tmp_path / "b23" / sid
    dst.mkdir(parents=True)
    for old, new in (("t1ce", "t1c"), ("flair", "t2f"), ("seg", "seg")):
        img = nib.as_closest_canonical(nib.load(src / f"{src.name}_{old}.nii.gz"))  # stored RAS now
        data = np.asarray(img.dataobj)
        if old == "seg":
            data = np.where(data == 4, 3, data).astype(np.uint8)  # 2023 numbers enhancing tumour 3
        save_nifti(dst / f"{sid}-{new}.nii", data, img.affine)
    a, b = read_brats(src), read_brats(dst.parent)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.seg, b.seg)  # label 3 read as 4
    assert b.subjects == [sid]


def test_nested_root_and_no_subjects(phantom_root, tmp_path):
    nested = tmp_path / "MICCAI" / "HGG"
    nested.parent.mkdir()
    shutil.copytree(phantom_root, nested)
    assert len(find_subject_folders(tmp_path / "MICCAI")) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no BraTS subject folders found"):
        read_brats(tmp_path / "empty")


def test_missing_sequence_names_subject(root):
    subj = _subject(root, 1)
    (subj / f"{subj.name}_flair.nii.gz").unlink()
    with pytest.raises(DataError, match=rf"subject {subj.name}: no flair file .*{subj.name}_flair\.nii"):
        read_brats(root)


def test_shape_and_affine_mismatch(root):
    import nibabel as nib

    subj = _subject(root, 0)
    f = subj / f"{subj.name}_flair.nii.gz"
    img = nib.load(f)
    data = np.asarray(img.dataobj)
    save_nifti(f, data[:, :, :-1], img.affine)
    with pytest.raises(DataError, match=rf"{subj.name}_flair\.nii\.gz: subject {subj.name}: shape .* differs"):
        read_brats(root)
    aff = img.affine.copy()
    aff[0, 3] += 5.0
    save_nifti(f, data, aff)
    with pytest.raises(DataError, match="affine differs"):
        read_brats(root)


def test_corrupt_file_and_skip_bad(root):
    bad = _subject(root, 0)
    f = bad / f"{bad.name}_t1ce.nii.gz"
    f.write_bytes(f.read_bytes()[:2000])
    with pytest.raises(DataError, match=rf"{bad.name}_t1ce\.nii\.gz"):
        read_brats(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ss = read_brats(root, skip_bad=True)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith(f"skipping subject {bad.name}:") and "t1ce" in m for m in messages)
    assert any("read 1 of 2 subjects; skipped 1" in m for m in messages)
    assert ss.subjects == [_subject(root, 1).name]
    assert ss.skipped and ss.skipped[0][0] == bad.name


def test_empty_selection(root):
    with pytest.raises(DataError, match=r"_seg\.nii\.gz: subject .*: empty selection \(no slice with >= 100000"):
        read_brats(root, min_tumour_pixels=100000)
    with pytest.raises(DataError, match="no slices selected from 2 subject"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            read_brats(root, min_tumour_pixels=100000, skip_bad=True)


def test_tumour_selection_needs_seg(root):
    subj = _subject(root, 0)
    (subj / f"{subj.name}_seg.nii.gz").unlink()
    with pytest.raises(DataError, match="no seg file"):
        read_brats(root)
    ss = read_brats(root, slices="all")  # no segmentation needed
    assert ss.seg is None and len(ss.subjects) == 2


def test_cache_reuses_and_invalidates(root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = read_brats(root, cache_dir=cache)
    assert len(list(cache.glob("*.images.npy"))) == 2

    def boom(*a, **k):
        raise AssertionError("decoded NIfTI although cached")

    monkeypatch.setattr(brats, "_read_subject", boom)
    second = read_brats(root, cache_dir=cache)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.seg, second.seg)
    assert first.subject_ids == second.subject_ids
    # other options or a changed file → decoded again
    with pytest.raises(AssertionError, match="decoded"):
        read_brats(root, cache_dir=cache, min_tumour_pixels=10)
    subj = _subject(root, 0)
    f = subj / f"{subj.name}_flair.nii.gz"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded"):
        read_brats(root, cache_dir=cache)


def test_damaged_cache_entry_is_decoded_again(root, tmp_path):
    cache = tmp_path / "cache"
    first = read_brats(root, cache_dir=cache)
    for p in cache.glob("*.images.npy"):
        p.write_bytes(b"garbage")
    again = read_brats(root, cache_dir=cache)
    np.testing.assert_array_equal(first.images, again.images)


def test_real_samples(samples_dir, tmp_path):
    ss = read_brats(samples_dir, cache_dir=tmp_path)
    assert ss.subjects == ["TCGA-DU-7294", "TCGA-FG-6692"]
    counts = {s: ss.subject_ids.count(s) for s in ss.subjects}
    assert counts == {"TCGA-DU-7294": 38, "TCGA-FG-6692": 43}
    assert ss.images.shape == (81, 2, 240, 240)
    # negatives clipped: the background is exactly 0 and the corners are background
    assert (ss.images[:, :, :5, :5] == 0).all()
    fg = np.array(ss.subject_ids) == "TCGA-FG-6692"
    assert ss.slice_index[fg].min() >= 61 and ss.slice_index[fg].max() <= 112


@pytest.mark.parametrize("values, expect", [
    ([0, 1, 2, 4], [0, 1, 2, 4]),        # BraTS 2018-2021 labels kept
    ([0, 1, 2, 3], [0, 1, 2, 4]),        # BraTS 2023 enhancing tumour 3 becomes 4
    ([0.0, 0.9999, 2.0001, 4], [0, 1, 2, 4]),  # float-stored labels are rounded
])
def test_segmentation_labels(values, expect, tmp_path):
    from fusioninn.data.volume import read_volume

    seg = np.zeros((6, 5, 4), dtype=np.float32)
    seg.flat[: len(values)] = values
    save_nifti(tmp_path / "seg.nii.gz", seg, np.eye(4))
    out = brats._seg_labels(read_volume(tmp_path / "seg.nii.gz", contiguous=False), "S1")
    assert out.dtype == np.uint8
    assert out.flat[: len(values)].tolist() == expect
    assert not out.flat[len(values):].any()


@pytest.mark.parametrize("values, message", [
    ([0, 1, 5], r"segmentation labels \[0, 1, 5\] are not BraTS labels"),
    ([0, -1, 2], r"segmentation labels \[-1, 0, 2\] are not BraTS labels"),
    ([0, 3, 4], "has both labels 3 and 4"),
])
def test_segmentation_labels_refused(values, message, tmp_path):
    from fusioninn.data.volume import read_volume

    seg = np.zeros((6, 5, 4), dtype=np.float32)
    seg.flat[: len(values)] = values
    save_nifti(tmp_path / "seg.nii.gz", seg, np.eye(4))
    with pytest.raises(DataError, match=message):
        brats._seg_labels(read_volume(tmp_path / "seg.nii.gz"), "S1")
