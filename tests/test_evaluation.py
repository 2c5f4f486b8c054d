"""Batched evaluation with two trivial methods, and the four result files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import ndimage

from fusioninn.errors import UserInputError
from fusioninn.evaluation import DEC_KEYS, GRID_KEYS, R2_KEYS, SCORE_KEYS, evaluate_methods, write_results
from fusioninn.metrics import compute_all


class Average:
    name = "average"

    def fuse(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=1)

    def decompose(self, fused: np.ndarray) -> np.ndarray:
        # The best a non-invertible rule can do: both sources = the fused image.
        return np.stack([fused, fused], axis=1)


class Maximum:
    name = "maximum"
    can_decompose = False

    def fuse(self, x: np.ndarray) -> np.ndarray:
        return x.max(axis=1)

    def decompose(self, fused: np.ndarray) -> np.ndarray:  # pragma: no cover - must not be called
        raise AssertionError("can_decompose = False")


def _batches(n_batches=2, n=3, size=24, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        x = ndimage.gaussian_filter(rng.random((n, 2, size, size)), (0, 0, 1.5, 1.5))
        x = (x - x.min()) / (x.max() - x.min())
        out.append(x.astype(np.float32))
    return out


def test_evaluate_and_write(tmp_path):
    batches = _batches()
    result = evaluate_methods([Average(), Maximum()], iter(batches), protocol="full", progress=False)
    assert [e["method"] for e in result.summary] == ["average", "maximum"]
    assert len(result.rows) == 2 * 6
    # Per-image rows are the metrics of the fused images.
    first = batches[0][0]
    want = compute_all(first[0], first[1], first.mean(axis=0))
    row = result.rows[0]
    assert row["method"] == "average" and row["index"] == 0
    for k, v in want.items():
        assert row[k] == pytest.approx(v, abs=1e-6), k
    avg = result.summary[0]
    vals = np.array([r["q_ssim"] for r in result.rows if r["method"] == "average"])
    assert avg["n"] == 6
    assert avg["q_ssim"]["mean"] == pytest.approx(vals.mean()) and avg["q_ssim"]["std"] == pytest.approx(vals.std())
    assert avg["dec_ssim_1"]["mean"] < 1.0 and avg["seconds_per_pair"] > 0
    assert all(result.summary[1][k] is None for k in DEC_KEYS)

    paths = write_results(result, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(data) == {"methods", "protocol", "metrics"} and data["protocol"] == "full"
    assert data["metrics"] == list(SCORE_KEYS[:9])
    entry = data["methods"][0]
    assert list(entry) == ["method", "n", *SCORE_KEYS, "seconds_per_pair"]
    assert entry["method"] == "average" and entry["n"] == 6
    assert set(entry["q_fmi"]) == {"mean", "std"}
    assert data["methods"][1]["dec_psnr_2"] is None
    md = paths["markdown"].read_text()
    assert "| average | 6 |" in md and " ± " in md and "Q_FMI" in md
    with open(paths["csv"], newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["method"] for r in table] == ["average", "maximum"]
    assert float(table[0]["q_p_mean"]) == pytest.approx(avg["q_p"]["mean"])
    assert table[1]["dec_ssim_1_mean"] == ""
    with open(paths["per_image"], newline="") as fh:
        per_image = list(csv.DictReader(fh))
    assert len(per_image) == 12 and per_image[-1]["method"] == "maximum" and per_image[-1]["index"] == "5"
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "per_image.csv",
        "results.csv",
        "results.json",
        "results.md",
    ]


def test_maximum_beats_average_on_fmi_of_bright_structures():
    # Sanity of ordering on a case with a clear answer: a source that is all background except one
    # blob and another that is all background except another blob - max keeps both blobs intact.
    x = np.zeros((1, 2, 32, 32), dtype=np.float32)
    x[0, 0, 4:12, 4:12] = 1.0
    x[0, 1, 18:28, 16:30] = 0.8
    result = evaluate_methods([Average(), Maximum()], [x], progress=False)
    by = {e["method"]: e for e in result.summary}
    assert by["maximum"]["q_ssim"]["mean"] > by["average"]["q_ssim"]["mean"]
    assert by["maximum"]["psnr"]["mean"] > 0


def test_reference_protocol_is_passed_on():
    batches = _batches(1, 1, 30)
    full = evaluate_methods([Average()], batches, protocol="full", progress=False).rows[0]
    ref = evaluate_methods([Average()], batches, protocol="reference", progress=False).rows[0]
    assert full["q_xy"] != ref["q_xy"] and full["q_ncie"] == ref["q_ncie"]


class Broken:
    name = "broken"

    def __init__(self, out):
        self.out = out

    def fuse(self, x):
        return self.out(x)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda x: x, "returned shape"),
        (lambda x: np.full(x[:, 0].shape, np.nan, dtype=np.float32), "non-finite"),
        (lambda x: x[:, 0] * 3, "expected \\[0, 1\\]"),
    ],
)
def test_bad_method_output(fn, message):
    with pytest.raises(UserInputError, match=message):
        evaluate_methods([Broken(fn)], _batches(1, 1), progress=False)


def test_bad_batches_and_methods():
    good = _batches(1, 1)
    with pytest.raises(UserInputError, match=r"batch 0: expected shape \(N, 2, H, W\)"):
        evaluate_methods([Average()], [np.zeros((1, 3, 16, 16), dtype=np.float32)], progress=False)
    with pytest.raises(UserInputError, match="batch 0: contains NaN"):
        evaluate_methods([Average()], [np.full((1, 2, 16, 16), np.nan, dtype=np.float32)], progress=False)
    with pytest.raises(UserInputError, match="unique"):
        evaluate_methods([Average(), Average()], good, progress=False)
    with pytest.raises(UserInputError, match="protocol"):
        evaluate_methods([Average()], good, protocol="octave", progress=False)


def test_empty_dataset_gives_null_scores(tmp_path):
    result = evaluate_methods([Average()], [], progress=False)
    assert result.summary[0]["n"] == 0 and result.summary[0]["q_ssim"] is None
    write_results(result, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["methods"][0]["seconds_per_pair"] is None


def test_metric_keys_are_scored_summarised_and_written(tmp_path):
    from fusioninn.metrics import compute

    batches = _batches(n_batches=1, n=2)
    keys = ["q_xy", "qabf@vifb", "scd@tang"]
    result = evaluate_methods([Average(), Maximum()], iter(batches), progress=False, metrics=keys)
    assert result.metric_keys == tuple(keys)
    first = batches[0][0]
    want = compute(first[0], first[1], first.mean(axis=0).astype(np.float64), keys)
    for k in keys:
        assert result.rows[0][k] == pytest.approx(want[k], abs=1e-9)
    assert "q_ssim" not in result.rows[0] and "q_ssim" not in result.summary[0]
    paths = write_results(result, tmp_path)
    assert json.loads(paths["json"].read_text())["metrics"] == keys
    header = paths["per_image"].read_text().splitlines()[0].split(",")
    assert header == ["method", "index", *keys, *GRID_KEYS, *DEC_KEYS, *R2_KEYS]
    assert "qabf@vifb" in paths["markdown"].read_text()
    with pytest.raises(UserInputError, match="unknown metric"):
        evaluate_methods([Average()], iter(batches), progress=False, metrics="qabf@nowhere")
