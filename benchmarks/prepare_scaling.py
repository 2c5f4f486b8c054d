"""Does ``prepare --workers 2`` use the second core? Subjects/s against the machine's own two-process ceiling.

Run on a quiet machine (nothing else busy: the figure is a ratio of wall times):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/prepare_scaling.py --root /tmp/scale --repeats 3

Each repeat runs, alternately, ``fusioninn prepare --workers 1`` and ``--workers 2`` (the shipped CLI, one
process tree each, into a fresh folder) over 80 full-grid (240 x 240 x 155) phantom subjects (20 written
by ``fusioninn phantom``, the rest hard-linked copies under new ids: enough that starting the worker pool,
about half a second, is not the figure), and reads the subjects/s from prepare's own JSON line (its
decoding loop, without interpreter start-up). In the same run a CPU probe times a pure-Python loop in one
process, then the same work split over two processes: the speed-up a two-process job can reach on this
machine at that moment (a virtual machine's second vCPU is not always free). Prints a table and writes
benchmarks/results/prepare_scaling.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_scale import CLI, FULL, ROOT, collection  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "prepare_scaling.json"


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def cpu_probe(n: int = 15_000_000) -> dict:
    """Seconds for two units of pure-Python work in one process and split over two processes."""
    t = time.perf_counter()
    _spin(n), _spin(n)
    one = time.perf_counter() - t
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # start both workers before timing
        t = time.perf_counter()
        pool.map(_spin, [n, n])
        two = time.perf_counter() - t
    return {"one_process_s": one, "two_processes_s": two, "speedup": one / two}


def run_prepare(src: Path, dest: Path, workers: int) -> dict:
    shutil.rmtree(dest, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t = time.perf_counter()
    res = subprocess.run([*CLI, "prepare", "--data", str(src), "--cache", str(dest), "--workers", str(workers),
                          "--quiet"], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"prepare --workers {workers} failed ({res.returncode}): {res.stderr[-800:]}")
    info = json.loads(res.stdout.strip().splitlines()[-1])
    shutil.rmtree(dest, ignore_errors=True)
    return {"workers": workers, "subjects": info["subjects"], "seconds": info["seconds"], "wall_s": wall,
            "subjects_per_s": info["subjects"] / info["seconds"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="scratch folder (the phantom collection is written once)")
    ap.add_argument("--subjects", type=int, default=80, help="full-grid phantom subjects (default 80)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=OUT)
    args = ap.parse_args()

    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    src = collection(root, FULL, args.subjects, base_cases=min(args.subjects, 20))
    load_before = os.getloadavg()[0]
    runs, probes = [], []
    for _ in range(args.repeats):
        probes.append(cpu_probe())
        for workers in (1, 2):
            runs.append(run_prepare(src, root / f"prepared-w{workers}", workers))
    rate = {w: statistics.median(r["subjects_per_s"] for r in runs if r["workers"] == w) for w in (1, 2)}
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()[0]},
        "subjects": args.subjects, "grid": list(FULL), "runs": runs, "cpu_probe": probes,
        "subjects_per_s_workers1": rate[1], "subjects_per_s_workers2": rate[2],
        "prepare_speedup": rate[2] / rate[1],
        "cpu_probe_speedup": statistics.median(p["speedup"] for p in probes),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    print(f"| {'measurement':<44} | {'workers 1':>10} | {'workers 2':>10} | {'speed-up':>8} |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 12}|{'-' * 10}|")
    print(f"| {'prepare, subjects/s (median of ' + str(args.repeats) + ')':<44} | {rate[1]:>10.2f} | "
          f"{rate[2]:>10.2f} | {result['prepare_speedup']:>7.2f}x |")
    p1 = statistics.median(p["one_process_s"] for p in probes)
    p2 = statistics.median(p["two_processes_s"] for p in probes)
    print(f"| {'CPU probe: pure-Python loop, seconds':<44} | {p1:>10.2f} | {p2:>10.2f} | "
          f"{result['cpu_probe_speedup']:>7.2f}x |")
    print(f"load average before/after: {load_before:.2f} / {result['machine']['load_average_after']:.2f}; "
          f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
