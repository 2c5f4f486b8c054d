"""benchmarks/speed.py runs end to end on a tiny size and reports what the issue asks (no timing asserts)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, tmp_path):
    out = tmp_path / "speed.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--size", "32", "--repeats", "1",
                             "--json", str(out), *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result.stdout


def test_comparison_reports_ratios_equality_and_the_native_kernel(tmp_path):
    data, stdout = _run("--batch-sizes", "2", tmp_path=tmp_path)
    assert set(data["ratios"]) >= {"train", "infer", "train_cpu", "infer_cpu", "batch", "train_vs_tuned_reference",
                                   "infer_vs_tuned_reference"}
    assert isinstance(data["native_kernel"], bool) and "native fused subnet kernel" in stdout
    for row in data["batches"].values():
        assert row["equality"]["loss_abs_diff"] < 1e-4
        assert row["equality"]["fused_max_abs_diff"] < 1e-5
        assert row["ratio_infer"] > 0 and row["our_infer_gflops_cpu"] > 0
        for key in ("ref_train_peak_mb", "our_train_peak_mb", "our_saving_train_peak_mb", "our_infer_peak_mb"):
            assert key in row


def test_levers_table_lists_every_lever(tmp_path):
    data, stdout = _run("--levers", "--batch-sizes", "2", "--no-memory", tmp_path=tmp_path)
    variants = data["levers"]["variants"]
    for name in ("fast path, all levers", "fast path, no native fused subnet",
                 "fast path, channels-last coupling slices",
                 "fast path, memory-saving backprop (default allocator)", "fast path, no native training kernels",
                 "reference (FrEIA GraphINN, original loss)"):
        assert name in variants and name in stdout
