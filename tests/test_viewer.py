"""fusioninn view: the page's data, index order and, in a real headless Chromium, what the page shows."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from fusioninn.cli import main as _main
from fusioninn.data.phantom import phantom_slices
from fusioninn.data.volume import axial_slices, read_volume
from fusioninn.viewer import (
    PANELS,
    READOUT,
    build_case,
    decode_slice,
    escape_bytes,
    index_map_for,
    panel_bits,
    quantise_slice,
    unescape_bytes,
    write_viewer,
)
from headless_browser import CHROMEDRIVER, CHROMIUM, headless_chromium

ARTEFACTS = Path(os.environ.get("FUSIONINN_TEST_ARTEFACTS", Path(__file__).resolve().parents[1] / "test-artefacts"))


def main(argv: list[str]) -> int:
    """The CLI's exit code, also for argparse's own refusals (which exit through SystemExit)."""
    try:
        return _main(argv)
    except SystemExit as stop:
        return int(stop.code)


def _volume_pair(folder: Path, affine: np.ndarray, depth: int = 3):
    x = phantom_slices(depth, seed=7, size=(24, 20))
    a = np.rint(np.transpose(x.images[:, 0], (2, 1, 0)) * 900).astype(np.int16)  # (i, j, k) = (W, H, Z)
    b = np.rint(np.transpose(x.images[:, 1], (2, 1, 0)) * 400).astype(np.int16)
    seg = np.transpose(x.seg, (2, 1, 0)).astype(np.uint8)
    paths = []
    for name, data in (("t1ce", a), ("flair", b), ("seg", seg)):
        path = folder / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(data, affine), path)
        paths.append(str(path))
    return paths, a


@pytest.mark.parametrize("codes", [("L", "P", "S"), ("R", "A", "S"), ("A", "S", "L"), ("P", "I", "R")])
def test_index_map_gives_the_file_voxel(tmp_path, codes):
    shape = (5, 4, 3)
    world = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    affine = np.eye(4)
    affine[:3, :3] = 0
    for axis, code in enumerate(codes):  # voxel axis ``axis`` points along ``code``
        row, sign = world[code]
        affine[row, axis] = sign
    ident = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    nib.save(nib.Nifti1Image(ident, affine), tmp_path / "v.nii")
    vol = read_volume(tmp_path / "v.nii")
    assert tuple(nib.aff2axcodes(vol.original_affine)) == codes
    slices = axial_slices(vol.data)
    m = index_map_for(vol.original_affine, shape)
    for z in range(slices.shape[0]):
        for r in range(slices.shape[1]):
            for c in range(slices.shape[2]):
                idx = [m["offset"][a] + m["row"][a] * r + m["col"][a] * c + m["slice"][a] * z for a in range(3)]
                assert ident[tuple(idx)] == slices[z, r, c]


def test_quantised_slices_round_trip_to_display_precision():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(20, 30)).astype(np.float32)
    smooth = np.add.outer(np.linspace(0, 3, 20), np.linspace(0, 2, 30)).astype(np.float32) ** 2
    filters = set()
    for v in (noise, smooth):
        for bits in (11, 16):
            q = quantise_slice(v, bits)
            filters.add(q["filter"])
            back = decode_slice(q, v.shape)
            assert q["step"] == pytest.approx((v.max() - v.min()) / (2**bits - 1))
            assert np.abs(back - v).max() <= q["step"] / 2 + 1e-9
    assert filters == {0, 1}  # noise is stored as codes, the smooth slice as prediction residuals
    ints = rng.integers(0, 4000, size=(17, 23)).astype(np.float64)
    ints[:, :5] = 0  # background
    q = quantise_slice(ints)
    assert q["step"] == 1.0 and np.array_equal(decode_slice(q, ints.shape), ints)  # integer sources: exact
    big = rng.integers(0, 65536, size=(9, 11)).astype(np.float64)  # residuals wrap modulo 2**16
    assert np.array_equal(decode_slice(quantise_slice(big), big.shape), big)
    assert quantise_slice(np.full((3, 3), 2.5)) == {"lo": 2.5, "step": 0.0}


def test_escaped_bytes_survive_a_script_element():
    data = bytes(range(256)) * 3 + b"</script><!--\r\n\x00\x1b"
    escaped = escape_bytes(data)
    assert not set(escaped) & {0x00, 0x0D, 0x3C}  # nothing the HTML parser rewrites or that ends the element
    assert unescape_bytes(escaped) == data


def test_view_command_writes_one_self_contained_page(tmp_path, capsys):
    paths, _ = _volume_pair(tmp_path, np.diag([-1.0, -1.0, 1.0, 1.0]))
    out = tmp_path / "case.html"
    rc = main(["view", paths[0], paths[1], "-o", str(out), "--seg", paths[2], "--samples", "2", "--steps", "2"])
    assert rc == 0, capsys.readouterr().err
    page = out.read_bytes().decode("latin-1")  # windows-1252 markup around a binary block
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) is None  # nothing fetched from anywhere
    assert "<script src" not in page and "<link" not in page
    assert len(re.findall(r'<input [^>]*type="range" data-role="slice"', page)) == 1
    assert len(re.findall(r'<div data-role="readout"', page)) == 1
    for name in PANELS:
        assert f'data-panel="{name}"' in page
    assert 'min="0" max="2"' in page
    assert "completeness" in capsys.readouterr().out


@pytest.mark.parametrize("args, fragment", [
    (["-o", "case.png"], "name it .html"),
    (["-o", "case.html", "--samples", "0"], "--samples"),
    (["-o", "case.html", "--bits", "20"], "--bits"),
    (["-o", "case.html", "--seg", "nope.nii.gz"], "nope.nii.gz: file not found"),
    (["-o", "missing/case.html"], "does not exist"),
])
def test_view_bad_input(tmp_path, capsys, args, fragment, monkeypatch):
    paths, _ = _volume_pair(tmp_path, np.eye(4), depth=2)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main(["view", paths[0], paths[1], *args, "--no-contributions"])
    err = capsys.readouterr().err
    assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_blank_slices_are_fused_once_and_not_decomposed(tmp_path):
    # slices black in both sources are one network input: their fused image is computed once, and back in
    # the sources' units (range 0) their decomposition is the constant and its std 0, whatever the samples
    import fusioninn

    x = phantom_slices(4, seed=7, size=(24, 20))
    a = np.rint(np.transpose(x.images[:, 0], (2, 1, 0)) * 900).astype(np.int16)
    b = np.rint(np.transpose(x.images[:, 1], (2, 1, 0)) * 400).astype(np.int16)
    a[..., 0] = b[..., 0] = 0  # slice 0 blank in both
    a[..., 3] = b[..., 3] = 0  # and slice 3
    b[..., 2] = 0  # slice 2 blank in one source only: decomposed as usual
    paths = []
    for name, data in (("t1ce", a), ("flair", b)):
        nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / f"{name}.nii.gz")
        paths.append(tmp_path / f"{name}.nii.gz")
    case = build_case(*paths, samples=3, contributions=False)
    model = fusioninn.load_pretrained()
    sa, sb = case.arrays["source-1"], case.arrays["source-2"]
    na = np.stack([(s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else 0 * s for s in sa])
    nb = np.stack([(s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else 0 * s for s in sb])
    fused, _ = model.fuse(na.astype(np.float32), nb.astype(np.float32))
    assert np.abs(case.arrays["fused"] - fused).max() <= 1e-6
    for z in (0, 3):
        for name in ("decomposed-1", "decomposed-2", "uncertainty-1", "uncertainty-2"):
            assert np.all(case.arrays[name][z] == 0), (z, name)
    for z in (1, 2):
        assert case.arrays["uncertainty-1"][z].max() > 0  # really decomposed


def test_panel_bits():
    assert panel_bits("source-1") == 16 and panel_bits("fused") == 11 and panel_bits("share-1") == 9
    assert panel_bits("uncertainty-2", 14) == 14 and panel_bits("source-2", 8) == 16


# --------------------------------------------------------------------------------------------------
# In a real browser


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian packages chromium, chromium-driver)")
    pytest.importorskip("selenium.webdriver", reason="selenium is not installed (test extras)")
    with headless_chromium("fusioninn-chromium-") as driver:
        yield driver


def _open(driver, path: Path) -> float:
    t0 = time.perf_counter()
    driver.get(path.resolve().as_uri())
    for _ in range(200):
        if driver.execute_script("return document.body.dataset.ready === '1'"):
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise AssertionError("the page did not finish drawing")


def _hover(driver, panel: str, row: int, col: int, height: int, width: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    stack = driver.find_element(By.CSS_SELECTOR, f'[data-panel="{panel}"] .stack')
    rect = stack.rect
    dx = (col + 0.5) * rect["width"] / width - rect["width"] / 2
    dy = (row + 0.5) * rect["height"] / height - rect["height"] / 2
    ActionChains(driver).move_to_element_with_offset(stack, int(round(dx)), int(round(dy))).perform()


def _readout(driver) -> tuple[dict, tuple[int, int, int]]:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.CSS_SELECTOR, '[data-role="readout"]')
    pairs = dict(item.split("=", 1) for item in el.text.split())
    return pairs, (int(el.get_attribute("data-i")), int(el.get_attribute("data-j")), int(el.get_attribute("data-k")))


def _display_tolerance(value: float, array_slice: np.ndarray, bits: int) -> float:
    """What the readout may differ by: half a quantisation step plus half a unit of the 4th digit."""
    span = float(array_slice.max() - array_slice.min())
    integers = np.array_equal(array_slice, np.rint(array_slice)) and span <= 65535
    step = 0.0 if span == 0 else (1.0 if integers else span / (2**bits - 1))
    digit = 0.5 * 10 ** (math.floor(math.log10(abs(value))) - 3) if value else 0.0
    return step / 2 + digit + 1e-7


def _check_readout(pairs: dict, case, z: int, r: int, c: int, bits: int | None = None) -> None:
    assert set(READOUT) <= set(pairs), pairs
    for name in READOUT:
        arr = case.arrays[name]
        expected = float(arr[z, r, c])
        shown = float(pairs[name])
        depth = panel_bits(name, bits)
        assert abs(shown - expected) <= _display_tolerance(expected, arr[z], depth), (name, shown, expected)


def _console_errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_browser_volume_slider_hover_readout(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    paths, stored = _volume_pair(tmp_path, np.diag([-1.0, -1.0, 2.0, 1.0]))  # LPS, as BraTS files
    case = build_case(paths[0], paths[1], samples=3, seg=paths[2], steps=2)
    page = tmp_path / "case.html"
    write_viewer(case, page)
    seconds = _open(browser, page)
    z_count, height, width = case.arrays["source-1"].shape
    slider = browser.find_element(By.CSS_SELECTOR, '[data-role="slice"]')
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("0", str(z_count - 1))
    # move the slider to the first slice with the keyboard, then one step up
    slider.click()
    slider.send_keys(Keys.HOME)
    slider.send_keys(Keys.ARROW_RIGHT)
    time.sleep(0.3)
    z = int(slider.get_attribute("value"))
    assert z == 1
    for panel, (r, c) in (("fused", (7, 5)), ("share-1", (12, 14)), ("uncertainty-2", (3, 18))):
        _hover(browser, panel, r, c, height, width)
        time.sleep(0.3)
        pairs, ijk = _readout(browser)
        assert ijk == case.file_index(z, r, c)
        assert float(pairs["source-1"]) == float(stored[ijk])  # the file's own value at (i, j, k)
        _check_readout(pairs, case, z, r, c)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTEFACTS / "viewer_volume.png"))
    assert _console_errors(browser) == []
    print(f"page opened and drew in {seconds:.2f} s")


def test_browser_image_readout_uses_column_row_order(browser, tmp_path):
    x = phantom_slices(1, seed=9, size=(18, 26)).images[0]
    for name, img in (("a", x[0]), ("b", x[1])):
        Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
    case = build_case(tmp_path / "a.png", tmp_path / "b.png", samples=2, method="average")
    page = tmp_path / "image.html"
    write_viewer(case, page)
    _open(browser, page)
    stored = np.asarray(Image.open(tmp_path / "a.png"))
    for r, c in ((2, 20), (15, 3)):
        _hover(browser, "source-2", r, c, 18, 26)
        time.sleep(0.3)
        pairs, ijk = _readout(browser)
        assert ijk == (c, r, 0)
        assert float(pairs["source-1"]) == float(stored[r, c])
        assert pairs["share-1"] == "0.5000"  # the average rule's weight
        assert pairs["decomposed-1"] == "n/a"  # only FusionINN decomposes
        _check_readout({k: v for k, v in pairs.items() if v != "n/a"} | {
            k: "0" for k in READOUT if pairs.get(k) == "n/a"}, _without_missing(case), 0, r, c)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTEFACTS / "viewer_image.png"))
    assert _console_errors(browser) == []


def _without_missing(case):
    import copy

    out = copy.copy(case)
    shape = case.arrays["source-1"].shape
    out.arrays = {k: (v if v is not None else np.zeros(shape, np.float32)) for k, v in case.arrays.items()}
    return out


def test_view_with_a_saved_latent_checks_that_it_belongs(tmp_path, capsys):
    x = phantom_slices(1, seed=5, size=(20, 18)).images[0]
    for name, img in (("a", x[0]), ("b", x[1])):
        Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
    a, b = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    assert main(["fuse", a, b, "-o", str(tmp_path / "f.png"), "--save-latent", str(tmp_path / "z.npz")]) == 0
    assert main(["fuse", b, a, "-o", str(tmp_path / "g.png"), "--save-latent", str(tmp_path / "swapped.npz")]) == 0
    assert main(["view", a, b, "-o", str(tmp_path / "ok.html"), "--latent", str(tmp_path / "z.npz"),
                 "--no-contributions", "--samples", "2"]) == 0
    capsys.readouterr()
    rc = main(["view", a, b, "-o", str(tmp_path / "bad.html"), "--latent", str(tmp_path / "swapped.npz"),
               "--no-contributions", "--samples", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "does not belong" in err and not (tmp_path / "bad.html").exists()
