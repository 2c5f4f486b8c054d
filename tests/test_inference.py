"""fuse / decompose on files: 2-D images and NIfTI volumes, through the CLI."""

import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from fusioninn.cli import main


def _blobs(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w))
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, 8)
        img += rng.uniform(0.3, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return img / img.max()


def _png(path, arr):
    Image.fromarray(np.rint(arr * 255).astype(np.uint8)).save(path)


@pytest.mark.parametrize("size", [(32, 40), (33, 31)])
def test_image_round_trip_with_latent_is_exact(tmp_path, perturbed_model_path, size, capsys):
    a, b = _blobs(*size, 1), _blobs(*size, 2)
    _png(tmp_path / "a.png", a)
    _png(tmp_path / "b.png", b)
    rc = main(["fuse", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "f.png"),
               "--save-latent", str(tmp_path / "z.npz"), "--model", perturbed_model_path])
    assert rc == 0
    fused = np.asarray(Image.open(tmp_path / "f.png"))
    assert fused.shape == size and fused.dtype == np.uint8
    rc = main(["decompose", str(tmp_path / "f.png"), "-o", str(tmp_path / "out"), "--latent", str(tmp_path / "z.npz"),
               "--model", perturbed_model_path])
    assert rc == 0
    for name, src in (("t1ce", "a.png"), ("flair", "b.png")):
        orig = np.asarray(Image.open(tmp_path / src)).astype(np.float64)  # stored 8-bit values: input units
        back = np.load(tmp_path / "out" / f"f_{name}.npy")
        assert back.shape == size
        assert np.abs(back - orig).max() <= 255 * 1e-5


def test_sampled_decomposition_writes_uncertainty_maps(tmp_path, perturbed_model_path):
    _png(tmp_path / "a.png", _blobs(32, 32, 1))
    _png(tmp_path / "b.png", _blobs(32, 32, 2))
    assert main(["fuse", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "f.png"),
                 "--model", perturbed_model_path]) == 0
    assert main(["decompose", str(tmp_path / "f.png"), "-o", str(tmp_path / "o"), "--samples", "3", "--seed", "4",
                 "--names", "t1ce,flair", "--model", perturbed_model_path]) == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["f_flair.png", "f_flair_std.png", "f_t1ce.png", "f_t1ce_std.png"]
    # the same seed gives the same output
    first = np.asarray(Image.open(tmp_path / "o" / "f_t1ce.png"))
    assert main(["decompose", str(tmp_path / "f.png"), "-o", str(tmp_path / "o2"), "--samples", "3", "--seed", "4",
                 "--names", "t1ce,flair", "--model", perturbed_model_path]) == 0
    assert np.array_equal(first, np.asarray(Image.open(tmp_path / "o2" / "f_t1ce.png")))


def _nifti(path, data, affine):
    nib.save(nib.Nifti1Image(data, affine), str(path))


def test_volume_round_trip_keeps_affine_and_units(tmp_path, perturbed_model_path):
    rng = np.random.default_rng(0)
    shape = (20, 18, 5)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    lps[:3, 3] = [10, 12, -3]
    t1 = (rng.random(shape) * 900 - 20).astype(np.int16)
    fl = (rng.random(shape) * 400).astype(np.float32)
    fl[:, :, 0] = 0  # an empty slice must not produce NaN
    _nifti(tmp_path / "s_t1ce.nii.gz", t1, lps)
    _nifti(tmp_path / "s_flair.nii.gz", fl, lps)
    out = tmp_path / "fused.nii.gz"
    assert main(["fuse", str(tmp_path / "s_t1ce.nii.gz"), str(tmp_path / "s_flair.nii.gz"), "-o", str(out),
                 "--save-latent", str(tmp_path / "z.npz"), "--batch-slices", "2", "--model", perturbed_model_path]) == 0
    img = nib.load(str(out))
    assert img.shape == shape and np.allclose(img.affine, lps)
    data = img.get_fdata()
    assert np.isfinite(data).all() and data.min() >= 0 and data.max() <= 1
    assert json.loads((tmp_path / "fused.fusioninn.json").read_text())["names"] == ["t1ce", "flair"]
    assert main(["decompose", str(out), "-o", str(tmp_path / "dec"), "--latent", str(tmp_path / "z.npz"),
                 "--model", perturbed_model_path]) == 0
    back_t1 = nib.load(str(tmp_path / "dec" / "fused_t1ce.nii.gz"))
    back_fl = nib.load(str(tmp_path / "dec" / "fused_flair.nii.gz"))
    assert np.allclose(back_t1.affine, lps)
    # negatives are clipped before normalisation (documented), so compare with the clipped source
    assert np.abs(back_t1.get_fdata() - np.maximum(t1, 0)).max() <= 1e-5 * 900
    assert np.abs(back_fl.get_fdata() - fl).max() <= 1e-5 * 400
    # without the latent, the sidecar still maps the outputs back to intensity units
    assert main(["decompose", str(out), "-o", str(tmp_path / "dec2"), "--seed", "1",
                 "--model", perturbed_model_path]) == 0
    sampled = nib.load(str(tmp_path / "dec2" / "fused_t1ce.nii.gz")).get_fdata()
    assert sampled.max() > 2  # in scanner units, not [0, 1]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["fuse", "{d}/missing.png", "{d}/b.png", "-o", "{d}/f.png"], "missing.png"),
        (["fuse", "{d}/a.png", "{d}/b.png", "-o", "{d}/f.nii.gz"], "f.nii.gz"),
        (["fuse", "{d}/a.png", "{d}/small.png", "-o", "{d}/f.png"], "differs"),
        (["fuse", "{d}/a.png", "{d}/b.png", "-o", "{d}/f.png", "--save-latent", "{d}/z.txt"], "z.txt"),
        (["fuse", "{d}/a.png", "{d}/b.png", "-o", "{d}/f.png", "--names", "one"], "--names"),
        (["decompose", "{d}/a.png", "-o", "{d}/o", "--latent", "{d}/junk.npz"], "junk.npz"),
        (["decompose", "{d}/a.png", "-o", "{d}/o", "--samples", "0"], "samples"),
        (["fuse", "{d}/a.png", "{d}/b.png", "-o", "{d}/f.png", "--model", "{d}/junk.npz"], "junk.npz"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path, perturbed_model_path, capsys, args, expected):
    _png(tmp_path / "a.png", _blobs(16, 16, 1))
    _png(tmp_path / "b.png", _blobs(16, 16, 2))
    _png(tmp_path / "small.png", _blobs(8, 8, 2))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    argv = [a.format(d=tmp_path) for a in args]
    if "--model" not in argv:
        argv += ["--model", perturbed_model_path]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "f.nii.gz").exists()


def test_volume_memory_estimate_picks_fewer_slices_per_batch_or_refuses(monkeypatch):
    import types

    from fusioninn.data import memory as memory_mod
    from fusioninn.errors import DataError
    from fusioninn.inference import _check_volume_memory, estimate_peak_bytes

    vol = types.SimpleNamespace(shape=(64, 64, 16))
    one, full = estimate_peak_bytes(16, 64, 64, 1), estimate_peak_bytes(16, 64, 64, 16)
    per_slice = estimate_peak_bytes(16, 64, 64, 2) - one
    monkeypatch.setattr(memory_mod, "available_memory", lambda: full)
    assert _check_volume_memory(vol, 16, "v.nii.gz") == 16
    monkeypatch.setattr(memory_mod, "available_memory", lambda: one + 6 * per_slice)
    assert _check_volume_memory(vol, 16, "v.nii.gz") == 7
    monkeypatch.setattr(memory_mod, "available_memory", lambda: one - 1)
    with pytest.raises(DataError, match="v.nii.gz: .*would need .* of memory"):
        _check_volume_memory(vol, 16, "v.nii.gz")
