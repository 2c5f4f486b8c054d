"""The data spec: every form, splits, batches, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fusioninn.data.spec import PairSet, load_pairs, parse_pair, split_subjects
from fusioninn.errors import DataError


def test_phantom_spec():
    ps = load_pairs("phantom:6:3", size=(64, 64))
    assert isinstance(ps, PairSet) and len(ps) == 6
    assert ps.images.shape == (6, 2, 64, 64) and ps.images.dtype == np.float32
    assert ps.names == ("t1ce", "flair") and ps.seg.shape == (6, 64, 64)
    assert len(set(ps.subject_ids)) == 6
    same = load_pairs("phantom:6:3", size=(64, 64))
    np.testing.assert_array_equal(ps.images, same.images)
    assert not np.array_equal(load_pairs("phantom:6", size=(64, 64)).images, ps.images)  # seed 0
    t1t2 = load_pairs("phantom:2", pair="t1,t2", size=(32, 32))
    assert t1t2.names == ("t1", "t2")


def test_split_is_subject_level_and_deterministic(phantom_root):
    full = load_pairs(str(phantom_root))
    train = load_pairs(str(phantom_root), split="train", val_fraction=0.5, seed=1)
    val = load_pairs(str(phantom_root), split="val", val_fraction=0.5, seed=1)
    assert len(train) + len(val) == len(full)
    assert not set(train.subject_ids) & set(val.subject_ids)
    assert len(train.subjects) == 1 and len(val.subjects) == 1
    again = load_pairs(str(phantom_root), split="val", val_fraction=0.5, seed=1)
    assert again.subject_ids == val.subject_ids
    tr, va = split_subjects([f"s{i}" for i in range(10) for _ in range(3)], 0.2, seed=0)
    assert len(va) == 2 and len(tr) == 8 and not tr & va
    with pytest.raises(DataError, match="at least 2 subjects"):
        split_subjects(["a", "a"], 0.2)


def test_one_subject_folder_and_h5(phantom_root, tmp_path):
    from fusioninn.data.hdf5 import write_h5

    subj = sorted(p for p in phantom_root.iterdir() if p.is_dir())[0]
    one = load_pairs(str(subj))
    assert one.subjects == [subj.name]
    four = load_pairs(str(subj), pair=("t1", "t2"))
    data = np.concatenate([four.images, one.images], axis=1)  # t1, t2, t1ce, flair
    h5 = write_h5(tmp_path / "x.h5", data, subject_ids=one.subject_ids, slice_index=one.slice_index)
    back = load_pairs(str(h5))
    np.testing.assert_array_equal(back.images, one.images)
    assert back.subject_ids == one.subject_ids


def test_pairs_spec_pads_odd_sizes(tmp_path):
    a, b = tmp_path / "mri", tmp_path / "pet"
    a.mkdir()
    b.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (7, 9), dtype=np.uint8)).save(a / "x.png")
    Image.fromarray(rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)).save(b / "x.png")
    Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(a / "y.png")
    Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(b / "y.png")
    ps = load_pairs(f"pairs:{a}:{b}")
    assert ps.images.shape == (2, 2, 8, 10)
    assert ps.names == ("mri", "pet") and ps.subject_ids == ["x", "y"]
    assert ps.meta["sizes"] == [(7, 9), (6, 6)]
    assert ps.meta["chroma_a"][0] is None and ps.meta["chroma_b"][0].shape == (2, 7, 9)
    # y (6x6) is padded to 8x10 by reflection: row 6 mirrors row 4, column 6 mirrors column 4
    np.testing.assert_array_equal(ps.images[1, :, 6, :6], ps.images[1, :, 4, :6])
    np.testing.assert_array_equal(ps.images[1, :, :6, 6], ps.images[1, :, :6, 4])
    x = np.asarray(Image.open(a / "x.png")) / 255.0
    np.testing.assert_allclose(ps.images[0, 0, :7, :9], x, atol=1e-6)
    zero = load_pairs(f"pairs:{a}:{b}", pad_mode="zero")
    assert (zero.images[0, :, 7, :] == 0).all()
    with pytest.raises(DataError, match="bad pairs spec"):
        load_pairs(f"pairs:{a}")


def test_batches_cover_everything_once():
    ps = load_pairs("phantom:5", size=(16, 16))
    sizes = [b.shape[0] for b in ps.batches(2)]
    assert sizes == [2, 2, 1]
    seen = np.concatenate(list(ps.batches(2, shuffle=True, seed=3)))
    assert seen.shape == ps.images.shape
    np.testing.assert_allclose(np.sort(seen.sum(axis=(1, 2, 3))), np.sort(ps.images.sum(axis=(1, 2, 3))), rtol=1e-6)
    with pytest.raises(DataError, match="batch size"):
        next(ps.batches(0))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("phantom:x", "bad phantom spec"),
        ("phantom:0", "N >= 1"),
        ("/no/such/place", "unknown data spec .*accepted: phantom:N"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(DataError, match=message):
        load_pairs(spec)


def test_bad_options(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError, match="not a data spec"):
        load_pairs(str(tmp_path / "f.txt"))
    with pytest.raises(DataError, match="split must be"):
        load_pairs("phantom:2", split="test")
    with pytest.raises(DataError, match="a pair is two different names"):
        parse_pair("t1ce,t1ce")
    assert parse_pair("T1,FLAIR") == ("t1", "flair")
