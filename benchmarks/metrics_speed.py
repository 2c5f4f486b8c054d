"""Speed of the fusion metrics on one 240x240 triplet, one core, both protocols.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_speed.py --json benchmarks/results/metrics_speed.json
Options: --case DIR (a folder with a.png, b.png, fused.png; default: a synthetic brain-like triplet),
--repeats N (default 20). Prints a per-metric table (best and median over the repeats, wall clock and
process CPU time) and writes JSON with --json FILE. The machine may be shared: the best-of-N wall time is
the figure to compare with the 50 ms budget; the CPU time shows what the process itself used.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import ndimage  # noqa: E402

from fusioninn.atomic import atomic_write_text  # noqa: E402
from fusioninn.metrics import (  # noqa: E402
    compute_all,
    entropy,
    mutual_information,
    psnr,
    q_fmi,
    q_ncie,
    q_p,
    q_ssim,
    q_xy,
    standard_deviation,
)

torch.set_num_threads(1)


def synthetic_triplet(size: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two smooth 'sources' inside an elliptic 'brain' on a zero background, and their average."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    brain = (xx / 0.38) ** 2 + (yy / 0.45) ** 2 < 1
    out = []
    for s in (3.0, 1.5):
        x = ndimage.gaussian_filter(rng.random((size, size)), s)
        x = (x - x.min()) / (x.max() - x.min()) * brain
        out.append((x * 255).round().astype(np.uint8))
    fused = ((out[0].astype(float) + out[1]) / 2).round().astype(np.uint8)
    return out[0], out[1], fused


def load_case(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from PIL import Image

    return tuple(np.array(Image.open(folder / f"{n}.png").convert("L")) for n in ("a", "b", "fused"))


def measure(fn, repeats: int) -> dict[str, float]:
    fn()  # warm-up (imports, allocator)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "best_ms": 1e3 * min(wall),
        "median_ms": 1e3 * statistics.median(wall),
        "cpu_best_ms": 1e3 * min(cpu),
        "cpu_median_ms": 1e3 * statistics.median(cpu),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, help="folder with a.png, b.png, fused.png")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--tune-allocator", action="store_true",
                        help="keep freed memory in the heap (fusioninn.device.tune_cpu_allocator), as the CLI does")
    args = parser.parse_args(argv)
    if args.tune_allocator:
        from fusioninn.device import tune_cpu_allocator

        tune_cpu_allocator(True)
    a, b, f = load_case(args.case) if args.case else synthetic_triplet()
    rows = []
    for protocol in ("full", "reference"):
        funcs = {
            "q_ssim": lambda p=protocol: q_ssim(a, b, f, p),
            "q_fmi": lambda p=protocol: q_fmi(a, b, f, p),
            "q_ncie": lambda p=protocol: q_ncie(a, b, f, p),
            "q_xy": lambda p=protocol: q_xy(a, b, f, p),
            "q_p": lambda p=protocol: q_p(a, b, f, p),
            "five Q metrics": lambda p=protocol: [
                fn(a, b, f, p) for fn in (q_ssim, q_fmi, q_ncie, q_xy, q_p)
            ],
            "psnr+mi+en+sd": lambda: (psnr(a, b, f), mutual_information(a, b, f), entropy(f), standard_deviation(f)),
            "compute_all": lambda p=protocol: compute_all(a, b, f, p),
        }
        for name, fn in funcs.items():
            rows.append({"protocol": protocol, "metric": name, **measure(fn, args.repeats)})
    head = f"{'protocol':<10} {'metric':<15} {'best ms':>8} {'median ms':>10} {'cpu best':>9} {'cpu med':>8}"
    print(f"triplet: {args.case or 'synthetic 240x240'}, {args.repeats} repeats, 1 thread")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['protocol']:<10} {r['metric']:<15} {r['best_ms']:8.1f} {r['median_ms']:10.1f} "
            f"{r['cpu_best_ms']:9.1f} {r['cpu_median_ms']:8.1f}"
        )
    if args.json:
        payload = {
            "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_speed.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "triplet": str(args.case) if args.case else "synthetic 240x240",
            "shape": list(a.shape),
            "repeats": args.repeats,
            "threads": 1,
            "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                        "cpus": os.cpu_count(), "loadavg_1min": os.getloadavg()[0]},
            "rows": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
