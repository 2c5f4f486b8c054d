"""Data-layer speed: reading the BraTS samples (decode vs cache) and the phantom generator, one core.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_speed.py
Prints a table and writes benchmarks/results/data_speed.json. The sample part needs
../shared/data/brats-samples (skipped when absent).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from fusioninn.atomic import atomic_write_text  # noqa: E402
from fusioninn.data.brats import read_brats  # noqa: E402
from fusioninn.data.phantom import phantom_slices, phantom_subject  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "data" / "brats-samples"
OUT = ROOT / "benchmarks" / "results" / "data_speed.json"


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> int:
    results: dict = {
        "machine": {"python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform(),
                    "cpu_count": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
    }
    rows = []
    if SAMPLES.is_dir():
        decode_s, ss = best_of(lambda: read_brats(SAMPLES), 3)
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            read_brats(SAMPLES, cache_dir=cache)
            first_s = time.perf_counter() - t
            cached_s, cached = best_of(lambda: read_brats(SAMPLES, cache_dir=cache), 5)
        assert np.array_equal(cached.images, ss.images)
        per_subject = {s: ss.subject_ids.count(s) for s in ss.subjects}
        results["brats_samples"] = {
            "subjects": ss.subjects, "pair": list(ss.names), "rule": "slices='tumour', min_tumour_pixels=50",
            "slices": len(ss), "slices_per_subject": per_subject,
            "decode_select_s": decode_s, "first_run_with_cache_s": first_s, "cached_s": cached_s,
            "cache_speedup": decode_s / cached_s,
        }
        rows += [
            ("samples: slices selected (paper rule, >= 50 tumour px)", f"{len(ss)} ({per_subject})"),
            ("samples: decode NIfTI + select, s (best of 3)", f"{decode_s:.3f}"),
            ("samples: first run writing the cache, s", f"{first_s:.3f}"),
            ("samples: second run from cache, s (best of 5)", f"{cached_s:.4f}"),
            ("samples: cache speed-up", f"{decode_s / cached_s:.0f}x"),
        ]
    else:
        rows.append(("samples", f"skipped: {SAMPLES} not found"))
    phantom_slices(4)  # builds the per-size tables once
    n = 400
    slice_s, _ = best_of(lambda: phantom_slices(n, seed=1), 3)
    vol_s, _ = best_of(lambda: phantom_subject(0), 1)
    results["phantom"] = {
        "slices": n, "size": [240, 240], "sequences": ["t1ce", "flair"], "seconds": slice_s,
        "slices_per_s": n / slice_s, "ms_per_slice": 1000 * slice_s / n,
        "subject_240x240x155_5_sequences_s": vol_s,
    }
    rows += [
        (f"phantom: {n} slice pairs 240x240, s (best of 3)", f"{slice_s:.3f}"),
        ("phantom: slice pairs per second, one core", f"{n / slice_s:.0f}"),
        ("phantom: one 240x240x155 subject, 5 sequences, s", f"{vol_s:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT, json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
