"""The demo's phantom case: NIfTI files, contribution maps and the viewer, linked from the report."""

from __future__ import annotations

import json

import fusioninn
from fusioninn import demo


def test_demo_case_writes_maps_and_viewer(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "CASE_SHAPE", (32, 32, 8))
    monkeypatch.setattr(demo, "CASE_STEPS", 2)
    info = demo._case_viewer(fusioninn.load_pretrained(), tmp_path, seed=3, samples=2, model_path=None)
    case = tmp_path / "case"
    assert (case / "case.html").stat().st_size == info["viewer_bytes"]
    names = sorted(p.name for p in (case / "contributions").iterdir())
    assert names == ["contribution_phantom_flair.nii.gz", "contribution_phantom_t1ce.nii.gz", "explain.json",
                     "share_phantom_t1ce.nii.gz"]
    explained = json.loads((case / "contributions" / "explain.json").read_text())
    assert explained["steps"] == 2 and info["completeness_max_abs"] == explained["completeness_max_abs"]
    lines = "\n".join(demo._case_lines(info))
    assert "[case/case.html](case/case.html)" in lines and "case/contributions/" in lines
