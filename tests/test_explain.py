"""fusioninn explain: 2-D images and NIfTI volumes, outputs on the input's grid, bad input."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from fusioninn.cli import main as _main
from fusioninn.data.phantom import phantom_slices


def main(argv: list[str]) -> int:
    """The CLI's exit code, also for argparse's own refusals (which exit through SystemExit)."""
    try:
        return _main(argv)
    except SystemExit as stop:
        return int(stop.code)


def _png16(path, arr):
    Image.fromarray(np.rint(np.clip(arr, 0, 1) * 65535).astype(np.uint16)).save(path)
    return str(path)


@pytest.fixture
def pair(tmp_path):
    x = phantom_slices(1, seed=2, size=(32, 30)).images[0]
    seg = phantom_slices(1, seed=2, size=(32, 30)).seg[0]
    Image.fromarray(seg).save(tmp_path / "seg.png")
    return _png16(tmp_path / "t1ce.png", x[0]), _png16(tmp_path / "flair.png", x[1]), str(tmp_path / "seg.png")


def test_explain_image_writes_the_named_outputs(tmp_path, pair, capsys):
    a, b, seg = pair
    out = tmp_path / "out"
    assert main(["explain", a, b, "-o", str(out), "--method", "average", "--seg", seg]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["contribution_flair.png", "contribution_t1ce.png",
                                                      "explain.json", "share_t1ce.png"]
    info = json.loads((out / "explain.json").read_text())
    assert info["method"] == "average" and info["steps"] is None
    assert info["completeness_max_abs"] <= 1e-6
    assert info["mean_share"]["t1ce"] == pytest.approx(0.5)
    assert set(info["mean_share_per_label"]) == {"enhancing_tumour", "necrosis", "oedema", "normal_brain"}
    share = np.asarray(Image.open(out / "share_t1ce.png"))
    assert share.dtype == np.uint16 and share.shape == (32, 30)
    assert np.all(share == 32768)  # 0.5 * 65535, rounded
    # contribution PNG decodes back to the contribution (value = pixel / 65535 * 2 - 1)
    c = np.asarray(Image.open(out / "contribution_t1ce.png")).astype(np.float64) / 65535 * 2 - 1
    t1 = np.asarray(Image.open(a)).astype(np.float64) / 65535
    t1 = (t1 - t1.min()) / (t1.max() - t1.min())
    assert np.abs(c - 0.5 * t1).max() <= 2e-5
    assert "completeness" in capsys.readouterr().out


def test_explain_fusioninn_npy_outputs_are_float_and_complete(tmp_path):
    x = phantom_slices(1, seed=4, size=(24, 24)).images[0]
    np.save(tmp_path / "a.npy", x[0])
    np.save(tmp_path / "b.npy", x[1])
    out = tmp_path / "o"
    assert main(["explain", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "-o", str(out), "--steps", "8"]) == 0
    info = json.loads((out / "explain.json").read_text())
    assert info["method"] == "fusioninn" and info["steps"] == 8
    c1, c2 = np.load(out / "contribution_a.npy"), np.load(out / "contribution_b.npy")
    assert c1.dtype == np.float32 and c1.shape == (24, 24)
    from fusioninn import load_pretrained

    fused, _ = load_pretrained().fuse(x[0], x[1])
    base = load_pretrained().contributions(x[0], x[1], steps=1).baseline[0]
    assert np.abs(fused - base - c1 - c2).max() == pytest.approx(info["completeness_max_abs"], abs=1e-6)


def test_explain_volume_keeps_the_input_grid(tmp_path):
    x = phantom_slices(3, seed=1, size=(20, 16))
    affine = np.diag([-1.0, -1.0, 2.0, 1.0])  # LPS, like BraTS files
    vol_a = np.transpose(x.images[:, 0], (2, 1, 0)) * 800  # stored (i, j, k), arbitrary units
    vol_b = np.transpose(x.images[:, 1], (2, 1, 0)) * 300
    vol_a = np.concatenate([vol_a, np.zeros_like(vol_a[..., :1])], axis=2)  # one empty slice
    vol_b = np.concatenate([vol_b, np.zeros_like(vol_b[..., :1])], axis=2)
    seg = np.concatenate([np.transpose(x.seg, (2, 1, 0)), np.zeros_like(vol_a[..., :1], np.uint8)], axis=2)
    for name, data in (("a", vol_a), ("b", vol_b), ("seg", seg)):
        nib.save(nib.Nifti1Image(data.astype(np.float32), affine), tmp_path / f"{name}.nii.gz")
    out = tmp_path / "o"
    assert main(["explain", str(tmp_path / "a.nii.gz"), str(tmp_path / "b.nii.gz"), "-o", str(out),
                 "--method", "maximum", "--seg", str(tmp_path / "seg.nii.gz")]) == 0
    share = nib.load(out / "share_a.nii.gz")
    assert share.shape == vol_a.shape and np.allclose(share.affine, affine)
    s = np.asarray(share.dataobj)
    # maximum: share is the indicator of the larger normalised source, in the file's own voxel order
    na = vol_a / np.maximum(vol_a.max(axis=(0, 1), keepdims=True), 1e-9)
    nb = vol_b / np.maximum(vol_b.max(axis=(0, 1), keepdims=True), 1e-9)
    busy = slice(0, 3)
    assert np.array_equal(s[..., busy], (na >= nb).astype(np.float32)[..., busy])
    assert np.all(s[..., 3] == 0.5)  # the empty slice: nothing to attribute
    info = json.loads((out / "explain.json").read_text())
    assert info["slices_computed"] == 3 and info["shape"] == list(vol_a.shape)
    assert info["pixels_per_label"]["enhancing_tumour"] == int((seg == 4).sum())


@pytest.mark.parametrize("args, fragment", [
    (["--steps", "0"], "--steps"),
    (["--method", "nonsense"], "unknown method"),
    (["--seg", "MISSING.png"], "MISSING.png: file not found"),
])
def test_explain_bad_input_is_one_line_exit_2_nothing_left(tmp_path, pair, capsys, args, fragment):
    a, b, _ = pair
    out = tmp_path / "out"
    rc = main(["explain", a, b, "-o", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and fragment in err
    assert not out.exists()


def test_explain_refuses_mismatched_sizes(tmp_path, pair, capsys):
    a, _, _ = pair
    other = _png16(tmp_path / "small.png", np.ones((8, 8)) * 0.5)
    rc = main(["explain", a, other, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "differs" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
