"""The phantom: shapes, ranges, labels, determinism, contrasts."""

from __future__ import annotations

import numpy as np
import pytest

from fusioninn.data.phantom import PhantomSlices, phantom_slices
from fusioninn.errors import DataError


def test_slices_shape_dtype_range():
    ps = phantom_slices(5, seed=3)
    assert isinstance(ps, PhantomSlices)
    assert len(ps) == 5
    assert ps.images.shape == (5, 2, 240, 240) and ps.images.dtype == np.float32
    assert ps.seg.shape == (5, 240, 240) and ps.seg.dtype == np.uint8
    assert ps.sequences == ("t1ce", "flair")
    assert np.isfinite(ps.images).all()
    assert ps.images.min() == 0.0
    # per slice and per sequence min-max: every channel reaches exactly 0 and 1
    assert np.all(ps.images.max(axis=(2, 3)) == 1.0)
    assert np.all(ps.images.min(axis=(2, 3)) == 0.0)


def test_background_is_exactly_zero_and_corners_empty():
    ps = phantom_slices(4, seed=0)
    # skull-stripped: both sequences share one brain mask and are exactly 0 outside it
    brain = ps.images[:, 0] > 0
    np.testing.assert_array_equal(brain, ps.images[:, 1] > 0)
    assert not brain[:, :10, :10].any() and not brain[:, -10:, -10:].any()
    assert 0.2 < brain.mean() < 0.6


def test_labels_are_brats_labels_and_tumour_in_every_slice():
    ps = phantom_slices(12, seed=7)
    assert set(np.unique(ps.seg)) <= {0, 1, 2, 4}
    assert (ps.seg > 0).any(axis=(1, 2)).all()
    brain = ps.images.max(axis=1) > 0
    assert not (ps.seg > 0)[~brain].any()  # tumour only inside the brain


def test_deterministic_and_prefix_stable():
    a = phantom_slices(3, seed=11)
    b = phantom_slices(3, seed=11)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.seg, b.seg)
    longer = phantom_slices(5, seed=11)
    np.testing.assert_array_equal(longer.images[:3], a.images)
    other = phantom_slices(3, seed=12)
    assert not np.array_equal(other.images, a.images)


def test_other_size_and_sequences():
    ps = phantom_slices(2, seed=1, size=(64, 96), sequences=("t1", "t2"))
    assert ps.images.shape == (2, 2, 64, 96)
    assert ps.sequences == ("t1", "t2")
    three = phantom_slices(1, seed=1, sequences=("t1", "t2", "adc"))
    assert three.images.shape == (1, 3, 240, 240)


def test_zero_slices():
    ps = phantom_slices(0)
    assert ps.images.shape == (0, 2, 240, 240)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sequences": ("t1ce", "dwi")}, "unknown sequence 'dwi'"),
        ({"size": (4, 240)}, "at least 8 x 8"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        phantom_slices(1, **kwargs)
