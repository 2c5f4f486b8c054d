"""VIFB metrics (`<name>@vifb`) against the values VIFB's own MATLAB code stored for its fused images.

Reads ../shared/data/vifb-sample (the JPEG sources and fused images, and `matlab_metrics.json`: the
stored `output/evaluation_metrics_single/<image>_<method>_<Metric>.txt` values, 5 significant digits)
in place; nothing of it is copied into the repository. The stored values are rounded to 5 significant
digits, so a relative error up to ~1e-4 (5e-5 / 0.5 at worst) is the rounding alone; JPEG decoding by
Pillow and by MATLAB's imread gave identical pixels on these files (no larger residual appears).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fusioninn.metrics import compute

VIFB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "vifb-sample"

#: VIFB's metric file names -> our keys.
NAMES = {
    "Avg_gradient": "ag@vifb",
    "Cross_entropy": "ce@vifb",
    "Edge_intensity": "ei@vifb",
    "Entropy": "en@vifb",
    "Mutinf": "mi@vifb",
    "Psnr": "psnr@vifb",
    "Qabf": "qabf@vifb",
    "Qcb": "qcb@vifb",
    "Qcv": "qcv@vifb",
    "Rmse": "rmse@vifb",
    "Spatial_frequency": "sf@vifb",
    "Ssim": "ssim@vifb",
    "Variance": "sd@vifb",
}
#: The fast default run: four image pairs (grey and colour infrared sources, portrait and landscape)
#: with all four methods; the `slow` test takes all 84 fused images.
DEFAULT_PAIRS = ("kettle", "manWalking", "carLight", "snow")


def _stored() -> dict[str, dict[str, float]]:
    path = VIFB / "matlab_metrics.json"
    if not path.is_file():
        pytest.skip(f"VIFB sample not found at {VIFB}")
    return json.loads(path.read_text())


def _errors(items: list[str]) -> dict[str, list[float]]:
    from PIL import Image

    stored = _stored()
    errors: dict[str, list[float]] = {m: [] for m in NAMES}
    for item in items:
        pair = item.rsplit("_", 1)[0]
        vi, ir, fused = (
            np.asarray(Image.open(p))
            for p in (VIFB / "input" / "VI" / f"{pair}.jpg", VIFB / "input" / "IR" / f"{pair}.jpg",
                      VIFB / "fused" / f"{item}.jpg")
        )
        got = compute(vi, ir, fused, names="vifb")
        for metric, key in NAMES.items():
            want = stored[item][metric]
            errors[metric].append(abs(got[key] - want) / abs(want))
    return errors


def _check(errors: dict[str, list[float]]) -> None:
    for metric, rel in errors.items():
        rel_arr = np.array(rel)
        assert np.median(rel_arr) <= 1e-4, (metric, np.median(rel_arr))
        # the worst case is still within the 5-digit rounding of the stored value (plus a margin)
        assert rel_arr.max() <= 2e-4, (metric, rel_arr.max())


def test_vifb_group_is_the_13_metrics():
    assert set(compute(*(np.zeros((16, 16), np.uint8),) * 3, names="vifb")) >= set(NAMES.values())


def test_vifb_metrics_match_stored_matlab_values():
    stored = _stored()
    items = sorted(k for k in stored if k.rsplit("_", 1)[0] in DEFAULT_PAIRS)
    assert len(items) == 16
    _check(_errors(items))


@pytest.mark.slow
def test_vifb_metrics_match_stored_matlab_values_all_84():
    items = sorted(_stored())
    assert len(items) == 84
    _check(_errors(items))
