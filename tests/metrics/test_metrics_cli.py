"""`fusioninn metrics A B FUSED`: exit codes, JSON output, error lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from fusioninn.cli import main
from fusioninn.metrics import METRIC_KEYS, compute_all


def _img(seed, size=32):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((size, size)), 1.5)
    return ((x - x.min()) / (x.max() - x.min()) * 255).round().astype(np.uint8)


@pytest.fixture
def triplet(tmp_path):
    a, b = _img(1), _img(2)
    f = ((a.astype(float) + b) / 2).round().astype(np.uint8)
    paths = []
    for name, arr in (("a", a), ("b", b), ("f", f)):
        p = tmp_path / f"{name}.png"
        Image.fromarray(arr).save(p)
        paths.append(str(p))
    return paths, (a, b, f)


@pytest.mark.parametrize("protocol", ["full", "reference"])
def test_json_output(triplet, capsys, protocol):
    paths, arrays = triplet
    assert main(["metrics", *paths, "--json", "--protocol", protocol]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == list(METRIC_KEYS)
    want = compute_all(*arrays, protocol=protocol)
    for k in METRIC_KEYS:
        assert out[k] == pytest.approx(want[k], abs=1e-12), k


def test_table_output(triplet, capsys):
    paths, arrays = triplet
    assert main(["metrics", *paths]) == 0
    out = capsys.readouterr().out
    assert "protocol: full" in out and "Q_FMI" in out and "Q_P (Piella)" in out
    assert f"{compute_all(*arrays)['q_ssim']:10.4f}" in out


def test_grey_rgb_luma_npy_and_tiff_inputs(triplet, tmp_path, capsys):
    paths, (a, b, f) = triplet
    # Equal-channel RGB is grey; a float .npy in [0, 1] and a float TIFF give the same numbers.
    Image.fromarray(np.stack([a, a, a], -1)).save(tmp_path / "a_rgb.png")
    np.save(tmp_path / "b.npy", b / 255.0)
    Image.fromarray((f / 255.0).astype(np.float32)).save(tmp_path / "f.tif")
    assert main(["metrics", str(tmp_path / "a_rgb.png"), str(tmp_path / "b.npy"), str(tmp_path / "f.tif"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = compute_all(a, b, f)
    for k in METRIC_KEYS:
        assert out[k] == pytest.approx(want[k], abs=1e-6), k
    # Colour RGB -> BT.601 luma.
    rgb = np.stack([a, b, f], -1)
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    assert main(["metrics", str(tmp_path / "colour.png"), paths[1], paths[2], "--json"]) == 0
    luma = (0.299 * a + 0.587 * b + 0.114 * f) / 255.0
    assert json.loads(capsys.readouterr().out)["q_ssim"] == pytest.approx(compute_all(luma, b, f)["q_ssim"])


def _error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_file(triplet, tmp_path, capsys):
    paths, _ = triplet
    missing = str(tmp_path / "nope.png")
    assert main(["metrics", paths[0], missing, paths[2]]) == 2
    err = _error(capsys)
    assert err.startswith("fusioninn metrics: error:") and missing in err and "file not found" in err


def test_not_an_image(triplet, tmp_path, capsys):
    paths, _ = triplet
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a png")
    assert main(["metrics", paths[0], paths[1], str(junk)]) == 2
    err = _error(capsys)
    assert str(junk) in err and "not a readable image" in err


def test_different_sizes(triplet, tmp_path, capsys):
    paths, _ = triplet
    small = tmp_path / "small.png"
    Image.fromarray(_img(3, 24)).save(small)
    assert main(["metrics", paths[0], paths[1], str(small)]) == 2
    err = _error(capsys)
    assert str(small) in err and "24x24 differs" in err


def test_nan_and_out_of_range_floats(triplet, tmp_path, capsys):
    paths, _ = triplet
    bad = np.full((32, 32), 0.5)
    bad[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert main(["metrics", str(tmp_path / "nan.npy"), paths[1], paths[2]]) == 2
    err = _error(capsys)
    assert "nan.npy" in err and "NaN" in err
    np.save(tmp_path / "big.npy", np.full((32, 32), 2.0))
    assert main(["metrics", paths[0], str(tmp_path / "big.npy"), paths[2]]) == 2
    assert "must lie in [0, 1]" in _error(capsys)


def test_too_small_and_3d(tmp_path, capsys):
    for name in ("a", "b", "f"):
        Image.fromarray(_img(1, 8)).save(tmp_path / f"{name}.png")
    files = [str(tmp_path / f"{n}.png") for n in ("a", "b", "f")]
    assert main(["metrics", *files]) == 2
    assert "at least 11x11" in _error(capsys)
    np.save(tmp_path / "vol.npy", np.zeros((4, 8, 8)))
    assert main(["metrics", str(tmp_path / "vol.npy"), *files[1:]]) == 2
    assert "2-D" in _error(capsys)


def test_bad_protocol_is_a_usage_error(triplet, capsys):
    paths, _ = triplet
    with pytest.raises(SystemExit) as exc:  # argparse usage errors exit 2 with one line
        main(["metrics", *paths, "--protocol", "octave"])
    assert exc.value.code == 2
    assert "invalid choice" in _error(capsys)
