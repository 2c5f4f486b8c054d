"""2-D images: grey/colour reading, YCbCr round trip, bit depths, padding, folder pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusioninn.data.pairs import (
    pad_to_multiple,
    read_image,
    read_pairs,
    rgb_to_ycbcr,
    to_colour,
    unpad,
    write_image,
)
from fusioninn.errors import DataError


def test_grey_png_8_and_16_bit(tmp_path):
    a8 = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(a8).save(tmp_path / "g8.png")
    img = read_image(tmp_path / "g8.png")
    assert img.chroma is None and img.dtype == "uint8"
    np.testing.assert_allclose(img.grey, a8 / 255.0, atol=1e-7)
    a16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(a16).save(tmp_path / "g16.png")
    Image.fromarray(a16).save(tmp_path / "g16.tif")
    for name in ("g16.png", "g16.tif"):
        img = read_image(tmp_path / name)
        np.testing.assert_allclose(img.grey, a16 / 65535.0, atol=1e-7)
        assert img.dtype == "uint16"


def test_rgb_with_equal_channels_is_grey(tmp_path):
    g = np.random.default_rng(0).integers(0, 256, (10, 12), dtype=np.uint8)
    Image.fromarray(np.stack([g, g, g], -1)).save(tmp_path / "rgb.png")
    img = read_image(tmp_path / "rgb.png")
    assert img.chroma is None
    np.testing.assert_allclose(img.grey, g / 255.0, atol=1e-7)


def test_pseudo_colour_luma_and_chroma_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "pet.png")
    img = read_image(tmp_path / "pet.png")
    assert img.chroma is not None and img.chroma.shape == (2, 9, 11)
    f = rgb / 255.0
    np.testing.assert_allclose(img.grey, 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2], atol=1e-6)
    np.testing.assert_allclose(to_colour(img.grey, img.chroma), f, atol=1e-5)
    # writing the (unchanged) luma with the chroma gives the picture back
    write_image(tmp_path / "back.png", img.grey, chroma=img.chroma)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "back.png")), rgb)
    y, c = rgb_to_ycbcr(np.full((2, 2, 3), 0.4))
    np.testing.assert_allclose(c, 0.5, atol=1e-6)  # grey has no chroma


def test_palette_gif_and_jpeg(tmp_path):
    g = (np.arange(100).reshape(10, 10) * 2).astype(np.uint8)
    Image.fromarray(g).convert("P").save(tmp_path / "p.gif")
    assert read_image(tmp_path / "p.gif").chroma is None
    Image.fromarray(g).save(tmp_path / "j.jpg", quality=100)
    assert np.abs(read_image(tmp_path / "j.jpg").grey - g / 255.0).max() < 0.03


def test_write_image_formats(tmp_path):
    x = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    write_image(tmp_path / "a.png", x)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.rint(x * 255).astype(np.uint8))
    write_image(tmp_path / "a16.png", x, bits=16)
    np.testing.assert_allclose(read_image(tmp_path / "a16.png").grey, x, atol=1 / 65535)
    write_image(tmp_path / "a16.tif", x, bits=16)
    np.testing.assert_allclose(read_image(tmp_path / "a16.tif").grey, x, atol=1 / 65535)
    write_image(tmp_path / "a.npy", x)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), x)
    np.testing.assert_array_equal(read_image(tmp_path / "a.npy").grey, x)
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(DataError, match="NaN"):
        write_image(tmp_path / "n.png", np.full((2, 2), np.nan))
    with pytest.raises(DataError, match="unsupported output type"):
        write_image(tmp_path / "x.bmpx", x)


def test_npy_out_of_range_and_bad_files(tmp_path):
    np.save(tmp_path / "raw.npy", np.array([[-1.0, 0.0], [1.0, 3.0]]))
    img = read_image(tmp_path / "raw.npy")
    np.testing.assert_allclose(img.grey, [[0, 0.25], [0.5, 1.0]])
    assert img.value_range == (-1.0, 3.0)
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"bad\.png: not a readable image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(DataError, match="unsupported image type"):
        read_image(_touch(tmp_path / "x.xyz"))


def _touch(p):
    p.write_bytes(b"")
    return p


@pytest.mark.parametrize("mode", ["reflect", "zero"])
def test_pad_and_unpad(mode):
    x = np.arange(35, dtype=np.float32).reshape(5, 7)
    padded, size = pad_to_multiple(x, 2, mode)
    assert padded.shape == (6, 8) and size == (5, 7)
    np.testing.assert_array_equal(unpad(padded, size), x)
    if mode == "zero":
        assert (padded[5] == 0).all() and (padded[:, 7] == 0).all()
    else:
        np.testing.assert_array_equal(padded[5, :7], x[3])  # reflection about the last row
    same, _ = pad_to_multiple(np.zeros((4, 4)), 2)
    assert same.shape == (4, 4)
    with pytest.raises(DataError, match="padding mode"):
        pad_to_multiple(x, 2, "edge")


def test_read_pairs_matching_and_errors(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for name in ("s1", "s2"):
        Image.fromarray(np.zeros((6, 6), np.uint8)).save(a / f"{name}.png")
        Image.fromarray(np.zeros((6, 6), np.uint8)).save(b / f"{name}.tif")
    pairs = read_pairs(a, b)
    assert pairs.names == ["s1", "s2"] and len(pairs) == 2
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(a / "only_a.png")
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(b / "only_b.png")
    with pytest.raises(DataError, match=r"unmatched image names; only in .*a: only_a; only in .*b: only_b"):
        read_pairs(a, b)
    (a / "only_a.png").unlink()
    (b / "only_b.png").unlink()
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(b / "s2.tif")
    with pytest.raises(DataError, match=r"s2\.png: size 6x6 differs from 6x8 of .*s2\.tif"):
        read_pairs(a, b)


def test_exact_reading_keeps_stored_values_and_never_rescales(tmp_path):
    rng = np.random.default_rng(3)
    g = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    Image.fromarray(g).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png", exact=True)
    assert img.grey.dtype == np.uint8 and img.rgb is None
    np.testing.assert_array_equal(img.grey, g)
    # equal channels: grey uint8; keep_rgb also gives the stored channels
    Image.fromarray(np.stack([g, g, g], -1)).save(tmp_path / "rgb.png")
    img = read_image(tmp_path / "rgb.png", exact=True, keep_rgb=True)
    np.testing.assert_array_equal(img.grey, g)
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == (6, 7, 3)
    # colour: float64 BT.601 luma, the stored channels only when asked for
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    img = read_image(tmp_path / "c.png", exact=True)
    assert img.grey.dtype == np.float64 and img.rgb is None and img.chroma is not None
    np.testing.assert_allclose(img.grey, (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255)
    np.testing.assert_array_equal(read_image(tmp_path / "c.png", exact=True, keep_rgb=True).rgb, rgb)
    assert read_image(tmp_path / "c.png").rgb is None
    # 16-bit: float64 / 65535
    a16 = rng.integers(0, 65536, (6, 7), dtype=np.uint16)
    Image.fromarray(a16).save(tmp_path / "g16.png")
    img = read_image(tmp_path / "g16.png", exact=True)
    assert img.grey.dtype == np.float64
    np.testing.assert_array_equal(img.grey, a16 / 65535.0)
    # .npy integers: 0..255 are 8-bit, 0..65535 16-bit, others refused (the fusion reading min-max maps them)
    np.save(tmp_path / "i8.npy", np.arange(42).reshape(6, 7))
    assert read_image(tmp_path / "i8.npy", exact=True).grey.dtype == np.uint8
    np.save(tmp_path / "i16.npy", np.arange(42).reshape(6, 7) * 1000)
    np.testing.assert_array_equal(read_image(tmp_path / "i16.npy", exact=True).grey,
                                  np.arange(42).reshape(6, 7) * 1000 / 65535.0)
    np.save(tmp_path / "neg.npy", np.arange(42).reshape(6, 7) - 1)
    with pytest.raises(DataError, match=r"neg\.npy: integer samples out of range \[-1, 40\]"):
        read_image(tmp_path / "neg.npy", exact=True)
    assert read_image(tmp_path / "neg.npy").grey.max() == 1.0
    # floats: [0, 1] within the validator's tolerance (then clipped), else refused, never min-max mapped
    np.save(tmp_path / "f.npy", np.array([[0.0, 0.5], [1.0 + 1e-7, 1.0]]))
    assert read_image(tmp_path / "f.npy", exact=True).grey.max() == 1.0
    np.save(tmp_path / "big.npy", np.array([[0.0, 0.5], [2.0, 1.0]]))
    with pytest.raises(DataError, match=r"big\.npy: float images must lie in \[0, 1\]"):
        read_image(tmp_path / "big.npy", exact=True)
    np.testing.assert_allclose(read_image(tmp_path / "big.npy").grey, [[0, 0.25], [1, 0.5]])
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan], [1.0, 1.0]]))
    for exact in (False, True):
        with pytest.raises(DataError, match=r"nan\.npy: contains NaN or infinite values \(1 of 4 pixels\)"):
            read_image(tmp_path / "nan.npy", exact=exact)


def test_one_bit_images(tmp_path):
    bits = np.eye(4, dtype=bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    img = read_image(tmp_path / "b.png")
    np.testing.assert_array_equal(img.grey, bits.astype(np.float32))
    assert img.value_range == (0.0, 1.0)
    with pytest.raises(DataError, match="unsupported sample type bool"):
        read_image(tmp_path / "b.png", exact=True)


def test_colour_palette_with_transparency_keeps_its_colour(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (200, 30, 30)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png", transparency=0)
    for exact in (False, True):
        img = read_image(tmp_path / "p.png", exact=exact, keep_rgb=True)
        assert img.mode == "P" and img.chroma is not None
        np.testing.assert_array_equal(img.rgb, rgb)
        np.testing.assert_allclose(to_colour(img.grey, img.chroma), rgb / 255, atol=2e-2)


VIFB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "vifb-sample"


@pytest.mark.parametrize("item", ["kettle_GTF", "carLight_SeAFusion"])  # grey and colour sources
def test_exact_reading_through_the_cli_agrees_with_vifbs_matlab_values(item, capsys):
    """`fusioninn metrics` reads with read_image(exact=True, keep_rgb=True): VIFB's stored MATLAB values
    come out to their 5-digit rounding, as tests/metrics/test_vifb_reference.py gets from raw pixels."""
    from fusioninn.cli import main

    stored_path = VIFB / "matlab_metrics.json"
    if not stored_path.is_file():
        pytest.skip(f"VIFB sample not found at {VIFB}")
    pair = item.rsplit("_", 1)[0]
    paths = [VIFB / "input" / "VI" / f"{pair}.jpg", VIFB / "input" / "IR" / f"{pair}.jpg",
             VIFB / "fused" / f"{item}.jpg"]
    assert main(["metrics", *map(str, paths), "--metrics", "vifb", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    stored = json.loads(stored_path.read_text())[item]
    names = {"Entropy": "en@vifb", "Mutinf": "mi@vifb", "Psnr": "psnr@vifb", "Qabf": "qabf@vifb",
             "Ssim": "ssim@vifb", "Variance": "sd@vifb", "Avg_gradient": "ag@vifb", "Qcb": "qcb@vifb"}
    for metric, key in names.items():
        assert abs(got[key] - stored[metric]) <= 2e-4 * abs(stored[metric]), (metric, got[key], stored[metric])
