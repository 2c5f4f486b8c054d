"""explain and view with DICOM series folders: the NIfTI route's maps, output names, readout indices, refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="pydicom is not installed (pip install -e .)")

from fusioninn.cli import main as _main  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "data"))
sys.path.insert(0, str(Path(__file__).parent))
from dicom_factory import phantom_affine, phantom_pair, reorient, write_series  # noqa: E402

from test_viewer import _check_readout, _console_errors, _hover, _open, _readout, browser  # noqa: E402, F401

SHAPE = (24, 20, 8)
STUDY, FOR = "1.2.826.0.1.3680043.8.498.31", "1.2.826.0.1.3680043.8.498.32"


def main(argv: list[str]) -> int:
    try:
        return _main([*argv, "--threads", "1"])
    except SystemExit as stop:  # argparse's own refusals
        return int(stop.code)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """One T1ce + FLAIR pair (integer values, stored exactly) as NIfTI files, as one study folder of two
    series, as two folders both named DICOM, and stored sagittally with shuffled files."""
    root = tmp_path_factory.mktemp("dicom_explain")
    t1ce, flair = phantom_pair(SHAPE, seed=11)
    aff = phantom_affine(SHAPE)
    for name, vol, number, desc in (("t1ce", t1ce, 5, "T1 post"), ("flair", flair, 7, "FLAIR")):
        nib.save(nib.Nifti1Image(vol, aff), str(root / f"{name}.nii.gz"))
        kw = dict(study_uid=STUDY, for_uid=FOR, number=number, description=desc, seed=number)
        write_series(root / "study" / name, vol, aff, shuffle=True, **kw)
        write_series(root / name.upper() / "DICOM", vol, aff, **kw)
        sag, sag_aff = reorient(vol, aff, ("P", "I", "R"))
        write_series(root / "sagittal" / name, sag, sag_aff, shuffle=True, **kw)
    return root


def _maps(folder: Path) -> dict[str, nib.Nifti1Image]:
    return {p.name: nib.load(p) for p in sorted(folder.glob("*.nii.gz"))}


def test_explain_dicom_series_equal_the_nifti_route(tmp_path, case):
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert main(["explain", str(case / "t1ce.nii.gz"), str(case / "flair.nii.gz"), "-o", str(ref),
                 "--method", "maximum"]) == 0
    study = str(case / "study")
    assert main(["explain", study, study, "--series", "5", "--series", "FLAIR", "-o", str(out),
                 "--method", "maximum"]) == 0
    # a series picked out of a folder of several: folder name + SeriesDescription, made file-safe
    maps = _maps(out)
    assert sorted(maps) == ["contribution_study_FLAIR.nii.gz", "contribution_study_T1_post.nii.gz",
                            "share_study_T1_post.nii.gz"]
    expected = _maps(ref)
    for got, want in (("contribution_study_T1_post", "contribution_t1ce"),
                      ("contribution_study_FLAIR", "contribution_flair"), ("share_study_T1_post", "share_t1ce")):
        g, w = maps[got + ".nii.gz"], expected[want + ".nii.gz"]
        assert g.get_data_dtype() == np.float32 and g.shape == SHAPE
        assert np.array_equal(np.asarray(g.dataobj), np.asarray(w.dataobj))  # int16 source: stored exactly
        assert np.abs(g.affine - w.affine).max() < 1e-6  # the affine from the DICOM geometry
    info = json.loads((out / "explain.json").read_text())
    assert info["series"][0].startswith("#5 'T1 post'") and info["series"][1].startswith("#7 'FLAIR'")
    assert set(info["mean_share"]) == {"study_T1_post", "study_FLAIR"}


def test_explain_network_on_sagittal_shuffled_series(tmp_path, case, perturbed_model_path):
    """A sagittal series, shuffled files: maps on the series' own grid, equal to the NIfTI route resliced."""
    ref, out = tmp_path / "ref", tmp_path / "out"
    common = ["--steps", "2", "--model", perturbed_model_path]
    assert main(["explain", str(case / "t1ce.nii.gz"), str(case / "flair.nii.gz"), "-o", str(ref), *common]) == 0
    assert main(["explain", str(case / "sagittal" / "t1ce"), str(case / "sagittal" / "flair"), "-o", str(out),
                 *common]) == 0
    got = nib.load(out / "contribution_t1ce.nii.gz")
    want = nib.load(ref / "contribution_t1ce.nii.gz")
    assert tuple(nib.aff2axcodes(got.affine)) == ("P", "I", "R")  # the series' own storage order
    resliced, resliced_aff = reorient(np.asarray(want.dataobj), want.affine, ("P", "I", "R"))
    assert np.abs(got.affine - resliced_aff).max() < 1e-4
    assert np.abs(np.asarray(got.dataobj) - resliced).max() < 1e-5


def test_explain_two_folders_of_one_name_get_distinct_stems(tmp_path, case):
    out = tmp_path / "out"
    assert main(["explain", str(case / "T1CE" / "DICOM"), str(case / "FLAIR" / "DICOM"), "-o", str(out),
                 "--method", "average"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["contribution_DICOM_s5.nii.gz", "contribution_DICOM_s7.nii.gz",
                                                     "explain.json", "share_DICOM_s5.nii.gz"]


def _images_along_the_normal(folder: Path) -> list[np.ndarray]:
    """The series' images, rescaled, in the order of their position along the slice normal (read with
    pydicom here, independently of our reader)."""
    images = []
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        ori = np.array(ds.ImageOrientationPatient, float)
        normal = np.cross(ori[:3], ori[3:])
        images.append((float(np.array(ds.ImagePositionPatient, float) @ normal),
                       ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)))
    return [img for _, img in sorted(images, key=lambda t: t[0])]


def test_view_dicom_readout_indexes_the_series_as_stored(tmp_path, case, perturbed_model_path):
    """The readout's (i, j, k) of a sagittal, shuffled series: column i, row j of the k-th image along the
    slice normal, and the value there is the DICOM pixel after its rescale."""
    from fusioninn.viewer import build_case

    folder = case / "sagittal" / "t1ce"
    cd = build_case(folder, case / "sagittal" / "flair", samples=2, contributions=False,
                    model_path=perturbed_model_path)
    assert cd.names == ("t1ce", "flair") and "DICOM" in cd.units
    assert any("column i and row j" in n for n in cd.notes)
    stack = _images_along_the_normal(folder)
    src = cd.arrays["source-1"]
    rng = np.random.default_rng(0)
    for _ in range(200):
        z, r, c = (int(rng.integers(n)) for n in src.shape)
        i, j, k = cd.file_index(z, r, c)
        assert stack[k][j, i] == src[z, r, c]


def test_view_command_with_series_selection(tmp_path, case, perturbed_model_path, capsys):
    study, out = str(case / "study"), tmp_path / "case.html"
    assert main(["view", study, study, "--series", "T1 post", "--series", "7", "-o", str(out), "--samples", "2",
                 "--steps", "2", "--model", perturbed_model_path]) == 0, capsys.readouterr().err
    page = out.read_bytes().decode("latin-1")  # a windows-1252 page with a binary block (viewer)
    assert "study_T1_post" in page and "study_FLAIR" in page and "rescaled DICOM values" in page


@pytest.fixture(scope="module")
def other_grid(case):
    """A series of the same patient on another grid (10 slices, not 8)."""
    folder = case / "other_grid"
    if not folder.exists():
        t1ce, _ = phantom_pair((24, 20, 10), seed=11)
        write_series(folder, t1ce, phantom_affine((24, 20, 10)), study_uid=STUDY, for_uid=FOR, number=9)
    return folder


@pytest.mark.parametrize("command", ["explain", "view"])
@pytest.mark.parametrize("inputs, extra, fragments", [
    (("study", "study"), (), ("holds 2 DICOM series", "choose one with --series")),
    (("study", "study"), ("--series", "12", "--series", "7"), ("--series '12' matches none",)),
    (("study", "study"), ("--series", "5"), ("same series",)),
    (("study/t1ce", "other_grid"), (), ("24x20x8 voxels", "24x20x10 voxels", "register")),
    (("t1ce.nii.gz", "flair.nii.gz"), ("--series", "5"), ("--series selects",)),
    (("study/t1ce", "nope"), (), ("nope", "not found")),
    (("study", "study"), ("--series", "1", "--series", "2", "--series", "3"), ("at most 2",)),
])
def test_dicom_bad_input_is_one_line_exit_2_nothing_written(tmp_path, case, other_grid, capsys, command, inputs,
                                                             extra, fragments, perturbed_model_path):
    out = tmp_path / ("out" if command == "explain" else "case.html")
    before = sorted(p.name for p in case.iterdir())
    rc = main([command, *(str(case / p) for p in inputs), "-o", str(out), *extra, "--model", perturbed_model_path])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert list(tmp_path.iterdir()) == [] and sorted(p.name for p in case.iterdir()) == before


@pytest.mark.parametrize("command", ["explain", "view"])
def test_output_inside_an_input_series_is_refused(tmp_path, case, capsys, command):
    series = tmp_path / "t1ce"
    t1ce, _ = phantom_pair(SHAPE, seed=11)
    write_series(series, t1ce, phantom_affine(SHAPE), study_uid=STUDY, for_uid=FOR)
    before = sorted(p.name for p in series.iterdir())
    for out in ([series] if command == "explain" else []) + [series / ("x" if command == "explain" else "c.html")]:
        rc = main([command, str(series), str(case / "flair.nii.gz"), "-o", str(out), "--method", "average"])
        err = capsys.readouterr().err
        assert rc == 2 and "input DICOM folder" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in series.iterdir()) == before



def test_browser_readout_of_a_sagittal_dicom_series(browser, tmp_path, case, perturbed_model_path):  # noqa: F811
    """In the page: over a sagittal series with shuffled files, the readout's (i, j, k) names the DICOM pixel
    whose rescaled value it shows."""
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from fusioninn.viewer import build_case, write_viewer

    folder = case / "sagittal" / "t1ce"
    cd = build_case(folder, case / "sagittal" / "flair", samples=2, steps=2, model_path=perturbed_model_path)
    page = tmp_path / "case.html"
    write_viewer(cd, page)
    _open(browser, page)
    stack = _images_along_the_normal(folder)
    _, height, width = cd.arrays["source-1"].shape
    slider = browser.find_element(By.CSS_SELECTOR, '[data-role="slice"]')
    slider.click()
    slider.send_keys(Keys.HOME)
    for _ in range(3):
        slider.send_keys(Keys.ARROW_RIGHT)
    time.sleep(0.3)
    z = int(slider.get_attribute("value"))
    assert z == 3
    shown = []
    for panel, (r, c) in (("source-1", (10, 12)), ("fused", (6, 15)), ("share-1", (13, 7))):
        _hover(browser, panel, r, c, height, width)
        time.sleep(0.3)
        pairs, (i, j, k) = _readout(browser)
        assert (i, j, k) == cd.file_index(z, r, c)
        assert float(pairs["source-1"]) == stack[k][j, i]  # the series' own pixel, rescaled
        shown.append(float(pairs["source-1"]))
        _check_readout(pairs, cd, z, r, c)
    assert any(v > 0 for v in shown)  # inside the head, not only background
    assert "column i and row j" in browser.page_source
    assert _console_errors(browser) == []
