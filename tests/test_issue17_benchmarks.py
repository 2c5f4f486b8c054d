"""benchmarks/subject_diversity.py and benchmarks/decomposition_gap.py (issue #17) on tiny inputs."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_affine_recalibration_fits_inside_the_mask_only():
    gap = _module("decomposition_gap")
    x = np.zeros((8, 8), np.float32)
    x[2:6, 2:6] = np.linspace(0.2, 0.9, 16).reshape(4, 4)
    mask = x > 0
    x_hat = np.where(mask, 0.5 * x + 0.1, 0.03).astype(np.float32)
    fit = gap._affine_fit(x_hat, x, mask)
    np.testing.assert_allclose(fit[mask], x[mask], atol=1e-6)  # an affine error is removed exactly
    np.testing.assert_array_equal(fit[~mask], x_hat[~mask])  # the background is left as decomposed


def test_decomposition_gap_end_to_end(tmp_path):
    from fusioninn.data.hdf5 import write_h5
    from fusioninn.data.phantom import phantom_slices

    ps = phantom_slices(3, seed=11, size=(64, 64))
    h5 = tmp_path / "case.h5"
    write_h5(h5, ps.images, channels=("t1ce", "flair"), subject_ids=["s"] * 3, slice_index=np.arange(3),
             seg=ps.seg)
    out = tmp_path / "gap.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "decomposition_gap.py"), str(h5),
                          "--model", "v1=fusioninn-v1", "--json", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    r = json.loads(out.read_text())["models"]["v1"]
    assert r["slices"] == 3
    for k in (0, 1):
        # tumour and the rest split the whole image's gap; the oracle recalibration cannot lose
        assert r["tumour_gap_share"][k] + r["rest_gap_share"][k] == pytest.approx(1.0)
        assert r["recalibrated"][k] >= r["all"][k] - 1e-9
        assert -1 < r["all"][k] <= 1
    assert "| v1 |" in run.stdout


def test_subject_diversity_writes_the_cohort_and_refuses_to_overwrite(tmp_path, monkeypatch):
    div = _module("subject_diversity")
    from fusioninn.data import phantom as phantom_mod
    from fusioninn.data.spec import load_pairs

    real = phantom_mod.write_phantom_subjects
    monkeypatch.setattr(div, "write_phantom_subjects",
                        lambda *a, **k: real(*a, **{**k, "shape": (128, 128, 64)}))  # small volumes, same code path
    out = tmp_path / "div"
    monkeypatch.setattr(sys, "argv", ["subject_diversity.py", str(out), "--subjects", "2", "--new", "1"])
    div.main()
    one, many = load_pairs(str(out / "one.h5"), slices="all"), load_pairs(str(out / "many.h5"), slices="all")
    assert len(set(one.subject_ids)) == 1 and len(set(many.subject_ids)) == 2
    assert len(one.images) == 2 * many.subject_ids.count(one.subject_ids[0])  # one subject, written twice over
    new = load_pairs(str(out / "new-tumour.h5"), slices="all")
    assert not set(new.subject_ids) & set(many.subject_ids) and (new.seg > 0).any(axis=(1, 2)).all()
    with pytest.raises(SystemExit) as exc:
        div.main()
    assert exc.value.code == 2
