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


def test_contrast_order_per_sequence():
    """The characteristic contrasts of issue 3, measured on normalised phantom slices."""
    from fusioninn.data.phantom import tissue_means

    tab = tissue_means(n=24, seed=2)
    t1, t1ce, t2, flair, adc = (tab[s] for s in ("t1", "t1ce", "t2", "flair", "adc"))
    # T1: white > grey > CSF
    assert t1["white_matter"] > t1["grey_matter"] > t1["csf"]
    # T1ce: the enhancing rim is the brightest tissue
    assert t1ce["enhancing"] == max(t1ce.values())
    # T2: CSF brightest; oedema brighter than white and grey matter
    assert t2["csf"] == max(t2.values())
    assert t2["oedema"] > t2["grey_matter"] > t2["white_matter"]
    # FLAIR: CSF darkest, oedema brightest
    assert flair["csf"] == min(flair.values())
    assert flair["oedema"] == max(flair.values())
    # ADC: CSF brightest, cellular (enhancing) tumour darkest
    assert adc["csf"] == max(adc.values())
    assert adc["enhancing"] == min(adc.values())


def test_subject_volumes_small(tmp_path):
    from fusioninn.data.phantom import phantom_subject

    sub = phantom_subject(5, shape=(64, 72, 40), return_tissue=True)
    assert set(sub) == {"t1", "t1ce", "t2", "flair", "adc", "seg", "tissue"}
    for name in ("t1", "t1ce", "t2", "flair", "adc"):
        assert sub[name].shape == (64, 72, 40) and sub[name].dtype == np.int16
        assert sub[name].max() > 100  # raw scanner-like units, not [0, 1]
    brain = sub["tissue"] > 0
    assert (sub["t1"][~brain] == 0).all()  # zero background
    assert (sub["t1"][brain] < 0).any()  # ... and small negative ringing at the brain edge, as in BraTS
    assert sub["seg"].dtype == np.uint8 and set(np.unique(sub["seg"])) <= {0, 1, 2, 4}
    assert (sub["seg"] > 0).any()
    again = phantom_subject(5, shape=(64, 72, 40))
    np.testing.assert_array_equal(again["flair"], sub["flair"])
    other = phantom_subject(6, shape=(64, 72, 40))
    assert not np.array_equal(other["flair"], sub["flair"])


@pytest.mark.parametrize("naming, names", [
    ("brats2020", ["_t1ce.nii.gz", "_flair.nii.gz", "_seg.nii.gz"]),
    ("brats2023", ["-t1c.nii.gz", "-t2f.nii.gz", "-seg.nii.gz"]),
])
def test_write_subjects_layout(tmp_path, naming, names):
    import nibabel as nib

    from fusioninn.data.phantom import phantom_subject, write_phantom_subjects

    folders = write_phantom_subjects(tmp_path, cases=2, seed=3, shape=(48, 48, 24), naming=naming,
                                     sequences=("t1ce", "flair"))
    assert len(folders) == 2 and len({f.name for f in folders}) == 2
    sid = folders[1].name
    for suffix in names:
        assert (folders[1] / f"{sid}{suffix}").is_file()
    img = nib.load(folders[1] / f"{sid}{names[1]}")
    assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
    assert img.get_data_dtype() == np.int16
    # subject k is phantom_subject(seed + k)
    np.testing.assert_array_equal(
        np.asarray(img.dataobj), phantom_subject(4, shape=(48, 48, 24), sequences=("t1ce", "flair"))["flair"]
    )
    assert not list(tmp_path.rglob(".tmp-*"))


def test_cli_phantom(tmp_path, capsys):
    from fusioninn.cli import main

    out = tmp_path / "ph"
    code = main(["phantom", "--out", str(out), "--cases", "1", "--seed", "2", "--shape", "40,40,20", "--png"])
    assert code == 0
    sid = "Phantom-2-0000"
    assert {p.name for p in (out / sid).glob("*.nii.gz")} == {
        f"{sid}_{s}.nii.gz" for s in ("t1", "t1ce", "t2", "flair", "seg")
    }
    pngs = list((out / sid / "png").glob("*.png"))
    assert len(pngs) >= 5
    assert "wrote 1 phantom subject" in capsys.readouterr().out


def test_cli_phantom_bad_shape(tmp_path, capsys):
    from fusioninn.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["phantom", "--out", str(tmp_path), "--shape", "40,40"])
    assert exc.value.code == 2
    assert "X,Y,Z" in capsys.readouterr().err


def test_channel_independent_of_other_channels():
    a = phantom_slices(2, seed=4, sequences=("t1", "t2"))
    b = phantom_slices(2, seed=4, sequences=("t2", "flair"))
    np.testing.assert_array_equal(a.images[:, 1], b.images[:, 0])
    np.testing.assert_array_equal(a.seg, b.seg)


def _tissue_ratio(sub: dict, seq: str, tissue: int, ref: int) -> float:
    img = sub[seq].astype(np.float64)
    return float(img[sub["tissue"] == tissue].mean() / img[sub["tissue"] == ref].mean())


def test_contrast_spread_default_and_width():
    from fusioninn.data.phantom import CONTRAST_SPREAD, GM, OEDEMA, WM, phantom_subject

    shape = (48, 48, 24)
    default = phantom_subject(7, shape=shape, sequences=("flair",))
    explicit = phantom_subject(7, shape=shape, sequences=("flair",), contrast_spread=CONTRAST_SPREAD)
    np.testing.assert_array_equal(default["flair"], explicit["flair"])  # the default is the shipped phantom

    def ratios(spread: float) -> np.ndarray:
        subs = [phantom_subject(s, shape=shape, sequences=("flair",), return_tissue=True, contrast_spread=spread)
                for s in range(6)]
        return np.array([[_tissue_ratio(sub, "flair", t, WM) for t in (GM, OEDEMA)] for sub in subs])

    # the geometry and the noise are the same for every spread: only the tissue factors differ (partial
    # volume, texture and the bias field still move a small ribbon-like tissue's mean a little)
    none, wide = ratios(0.0), ratios(0.3)
    assert none.std(axis=0).max() < 0.04  # spread 0: every subject has the table's contrast (up to texture)
    assert (wide.std(axis=0) > 4 * none.std(axis=0)).all()
    assert phantom_subject(7, shape=shape, sequences=("flair",), contrast_spread=0.3)["flair"].shape == shape


@pytest.mark.parametrize("spread", [-0.1, 1.0, float("nan")])
def test_contrast_spread_refused(spread):
    from fusioninn.data.phantom import phantom_subject

    with pytest.raises(DataError, match="contrast spread"):
        phantom_subject(1, shape=(16, 16, 8), contrast_spread=spread)


def test_cli_phantom_contrast_spread(tmp_path, capsys):
    import nibabel as nib

    from fusioninn.cli import main
    from fusioninn.data.phantom import phantom_subject

    out = tmp_path / "ph"
    args = ["phantom", "--out", str(out), "--seed", "2", "--shape", "40,40,20", "--sequences", "flair"]
    assert main([*args, "--contrast-spread", "0.25"]) == 0
    written = nib.load(out / "Phantom-2-0000" / "Phantom-2-0000_flair.nii.gz")
    want = phantom_subject(2, shape=(40, 40, 20), sequences=("flair",), contrast_spread=0.25)["flair"]
    np.testing.assert_array_equal(np.asarray(written.dataobj), want)
    capsys.readouterr()
    bad = tmp_path / "bad"
    with pytest.raises(SystemExit) as exc:
        main([*args[:2], str(bad), *args[3:], "--contrast-spread", "1.5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--contrast-spread" in err[0] and "[0, 1)" in err[0]
    assert not bad.exists()


def test_phantom_spec_with_spread_eager_and_lazy():
    from fusioninn.data.dataset import PhantomDataset, open_slices
    from fusioninn.data.phantom import phantom_slice_at
    from fusioninn.data.spec import load_pairs

    plain = load_pairs("phantom:3:4").images
    np.testing.assert_array_equal(load_pairs("phantom:3:4:spread=0.07").images, plain)  # the default spread
    wide = load_pairs("phantom:3:4:spread=0.3").images
    assert wide.shape == plain.shape and not np.array_equal(wide, plain)
    np.testing.assert_array_equal(wide, phantom_slices(3, seed=4, contrast_spread=0.3).images)
    # the lazy reader (big N) gives the same slices
    lazy = open_slices("phantom:3:4:spread=0.3", in_memory_bytes=0)
    assert isinstance(lazy, PhantomDataset)
    np.testing.assert_array_equal(lazy.read([0, 2]), wide[[0, 2]])
    np.testing.assert_array_equal(phantom_slice_at(1, 4, contrast_spread=0.3), wide[1])


@pytest.mark.parametrize("spec", ["phantom:3:4:spread=1.5", "phantom:3:4:spread=x", "phantom:3:4:spread=",
                                  "phantom:3:spread=0.2:4"])
def test_phantom_spec_bad_spread(spec):
    from fusioninn.data.spec import load_pairs

    with pytest.raises(DataError, match="phantom spec"):
        load_pairs(spec)
