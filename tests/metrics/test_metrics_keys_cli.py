"""`fusioninn metrics` with catalogue keys: --metrics, --colour, --list, and the folder mode."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from fusioninn.cli import main
from fusioninn.commands.metrics_cmd import match_fused
from fusioninn.metrics import compute, registry


def _img(seed, shape=(40, 36)):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 1.5)
    return ((x - x.min()) / (x.max() - x.min()) * 255).round().astype(np.uint8)


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return str(path)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_metrics_keys_json_with_colour_kept(tmp_path, capsys):
    vi = np.stack([_img(1), _img(2), _img(3)], -1)  # colour source
    ir = _img(4)  # grey source
    fused = np.stack([_img(5), _img(6), _img(7)], -1)
    paths = [_save(tmp_path / n, x) for n, x in (("vi.png", vi), ("ir.png", ir), ("f.png", fused))]
    assert main(["metrics", *paths, "--metrics", "vifb,mi@qu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = compute(vi, ir, fused, "vifb,mi@qu")
    assert list(out) == list(want) and list(out)[-1] == "mi@qu"
    assert out == pytest.approx(want, abs=1e-12)
    # --colour overrides every variant's rule
    assert main(["metrics", *paths, "--metrics", "qabf@vifb", "--colour", "grey", "--json"]) == 0
    grey = json.loads(capsys.readouterr().out)["qabf@vifb"]
    assert grey == pytest.approx(compute(vi, ir, fused, "qabf@vifb", colour="grey")["qabf@vifb"], abs=1e-12)
    assert grey != pytest.approx(out["qabf@vifb"], abs=1e-6)


def test_metrics_table_and_list(tmp_path, capsys):
    paths = [_save(tmp_path / f"{n}.png", _img(i)) for i, n in enumerate("abf")]
    assert main(["metrics", *paths, "--metrics", "paper,rmse@vifb"]) == 0
    out = capsys.readouterr().out
    assert "rmse@vifb" in out and "lower is better" in out and "q_fmi" in out
    assert main(["metrics", "--list"]) == 0
    listing = capsys.readouterr().out
    for key in registry.catalogue():
        assert key in listing
    assert main(["metrics", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["qcv@vifb"]["higher_is_better"] is False
    assert "doi:" in listed["qabf@vifb"]["formula"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "qabf@vifbx"], "unknown metric 'qabf@vifbx'; did you mean qabf@vifb"),
        (["--metrics", "ms_ssim@pytorch_msssim"], "ms_ssim@pytorch_msssim: MS-SSIM needs"),
        (["--colour", "grey"], "--colour applies to --metrics keys"),
    ],
)
def test_metric_name_and_size_errors(tmp_path, capsys, extra, message):
    paths = [_save(tmp_path / f"{n}.png", _img(i)) for i, n in enumerate("abf")]
    assert main(["metrics", *paths, *extra]) == 2
    assert message in _one_error_line(capsys)


@pytest.fixture
def folders(tmp_path):
    """Sources `x`, `y_z` (a stem with an underscore) and `lonely` (only in A); two method layouts."""
    src_a, src_b = tmp_path / "vi", tmp_path / "ir"
    imgs = {}
    for k, stem in enumerate(("x", "y_z")):
        imgs[stem] = (_img(10 + k), _img(20 + k))
        _save(src_a / f"{stem}.png", imgs[stem][0])
        _save(src_b / f"{stem}.bmp" if k else src_b / f"{stem}.png", imgs[stem][1])  # extensions may differ
    _save(src_a / "lonely.png", _img(30))
    fused = {}
    plain = tmp_path / "avg"  # <stem>.<ext>: the method is the folder's name
    for stem, (a, b) in imgs.items():
        fused[("avg", stem)] = ((a.astype(float) + b) / 2).round().astype(np.uint8)
        _save(plain / f"{stem}.png", fused[("avg", stem)])
    mixed = tmp_path / "results"  # <stem>_<method>.<ext>
    for stem, (a, b) in imgs.items():
        fused[("max", stem)] = np.maximum(a, b)
        _save(mixed / f"{stem}_max.png", fused[("max", stem)])
    fused[("min", "y_z")] = np.minimum(*imgs["y_z"])
    _save(mixed / "y_z_min.png", fused[("min", "y_z")])
    _save(mixed / "stranger_max.png", _img(40))
    (mixed / "notes.txt").write_text("not an image")
    return tmp_path, src_a, src_b, plain, mixed, imgs, fused


def test_folder_mode_table(folders, capsys):
    root, src_a, src_b, plain, mixed, imgs, fused = folders
    out = root / "table.csv"
    keys = "qabf@vifb,mi@qu,ce@vifb"
    assert main(["metrics", "--sources", str(src_a), str(src_b), "--fused", str(plain), "--fused", str(mixed),
                 "--metrics", keys, "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 fused file(s) without a matching source: stranger_max.png" in captured.err
    assert "wrote" in captured.out
    rows = list(csv.DictReader(out.open()))
    image_rows = [r for r in rows if r["image"] != "mean"]
    assert sorted((r["method"], r["image"]) for r in image_rows) == sorted(fused)
    for r in image_rows:
        a, b = imgs[r["image"]]
        want = compute(a, b, fused[(r["method"], r["image"])], keys)
        for k, v in want.items():
            assert float(r[k]) == pytest.approx(v, abs=1e-12)
    means = {r["method"]: r for r in rows if r["image"] == "mean"}
    assert {m: int(r["n"]) for m, r in means.items()} == {"avg": 2, "max": 2, "min": 1}
    mx = [float(r["mi@qu"]) for r in image_rows if r["method"] == "max"]
    assert float(means["max"]["mi@qu"]) == pytest.approx(np.mean(mx), abs=1e-12)


def test_folder_mode_json_and_default_metrics(folders, capsys):
    root, src_a, src_b, plain, _, _, _ = folders
    out = root / "t.csv"
    assert main(["metrics", "--sources", str(src_a), str(src_b), "--fused", str(plain), "--out", str(out),
                 "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert list(summary) == ["avg"] and summary["avg"]["n"] == 2
    assert set(summary["avg"]) == {"n", *registry.PAPER_KEYS}


def test_match_prefers_the_longest_stem(tmp_path):
    folder = tmp_path / "f"
    for name in ("a_b_m.png", "a_b.png", "a_x_y.png"):
        _save(folder / name, _img(0))
    rows, unmatched = match_fused({"a", "a_b"}, [folder])
    assert sorted((m, s) for m, s, _ in rows) == [("f", "a_b"), ("m", "a_b"), ("x_y", "a")]
    assert unmatched == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-match", "no fused image matches a source stem"),
        ("both-modes", "not both"),
        ("no-out", "folder mode needs"),
        ("not-csv", "the table must be a .csv file"),
        ("missing-dir", "folder not found"),
        ("overwrite-input", "the table must be a .csv file"),  # so it can never be one of the images
        ("bad-key", "unknown metric"),
    ],
)
def test_folder_mode_errors_write_nothing(folders, capsys, case, message):
    root, src_a, src_b, plain, mixed, _, _ = folders
    out = root / "table.csv"
    base = ["metrics", "--sources", str(src_a), str(src_b), "--quiet"]
    args = {
        "no-match": base + ["--fused", str(src_a / ".."), "--out", str(out)],
        "both-modes": ["metrics", "a", "b", "c", "--sources", str(src_a), str(src_b), "--fused", str(plain),
                       "--out", str(out)],
        "no-out": base + ["--fused", str(plain)],
        "not-csv": base + ["--fused", str(plain), "--out", str(root / "t.txt")],
        "missing-dir": base + ["--fused", str(root / "nope"), "--out", str(out)],
        "overwrite-input": base + ["--fused", str(plain), "--out", str(src_a / "x.png")],
        "bad-key": base + ["--fused", str(plain), "--out", str(out), "--metrics", "paperr"],
    }[case]
    before = sorted(p for p in root.rglob("*"))
    assert main(args) == 2
    assert message in _one_error_line(capsys)
    assert sorted(p for p in root.rglob("*")) == before


def test_undefined_values_are_null_in_json(tmp_path, capsys, monkeypatch):
    from fusioninn.commands import metrics_cmd

    paths = [_save(tmp_path / f"{n}.png", _img(i)) for i, n in enumerate("abf")]
    monkeypatch.setattr("fusioninn.metrics.compute", lambda *a, **k: {"q_xy": 0.5, "mi@qu": float("nan")})
    assert main(["metrics", *paths, "--metrics", "q_xy,mi@qu", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"q_xy": 0.5, "mi@qu": None}
    assert "written as null: mi@qu" in captured.err
    assert metrics_cmd._json({"m": {"k": float("inf")}}) == '{"m": {"k": null}}'
