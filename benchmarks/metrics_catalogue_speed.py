"""Speed of every metric variant of the catalogue on one 240x240 triplet, one core.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_catalogue_speed.py \\
          --json benchmarks/results/metrics_catalogue_speed.json

Times each key alone (``compute(a, b, f, [key])``, input checks included) and the groups as a user calls
them (``compute(a, b, f, "vifb")``, ``"paper"``, ``"all"``), best and median of ``--repeats`` runs, wall
clock and process CPU time, with the budgets of issue 14: all VIFB metrics <= 100 ms, ``all`` <= 400 ms.
Side by side with each group: the sum of its keys timed alone (what the group would cost if keys shared
no intermediates and aliases were evaluated again). The glibc allocator is tuned as every ``fusioninn``
command does at start; ``--plain-allocator`` measures a plain Python process calling the API instead.
Triplet: the synthetic brain-like grey triplet of benchmarks/metrics_speed.py (smooth sources inside an
ellipse on a zero background, average fusion), or ``--case DIR`` with a.png, b.png, fused.png. The machine
may be shared: say so with the figures (``load_average`` is recorded).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_speed import load_case, synthetic_triplet  # noqa: E402

from fusioninn.atomic import atomic_write_text  # noqa: E402
from fusioninn.device import tune_cpu_allocator  # noqa: E402
from fusioninn.metrics import compute, registry  # noqa: E402

torch.set_num_threads(1)
BUDGETS_MS = {"vifb": 100.0, "all": 400.0}


def _time(fn, repeats: int) -> dict[str, float]:
    fn()  # warm-up (imports, caches, first-touch pages)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {"wall_best_ms": min(wall), "wall_median_ms": statistics.median(wall),
            "cpu_best_ms": min(cpu), "cpu_median_ms": statistics.median(cpu)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, help="folder with a.png, b.png, fused.png (default: synthetic)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plain-allocator", action="store_true", help="leave glibc's allocator as it is")
    args = parser.parse_args(argv)
    if not args.plain_allocator:
        tune_cpu_allocator(True)  # what every fusioninn command does at start
    a, b, f = load_case(args.case) if args.case else synthetic_triplet()
    keys = list(registry.catalogue())
    per_key = {k: _time(lambda k=k: compute(a, b, f, [k]), args.repeats) for k in keys}
    groups = {g: _time(lambda g=g: compute(a, b, f, g), args.repeats) for g in ("paper", "vifb", "all")}
    for g, t in groups.items():
        t["keys_alone_cpu_median_ms"] = sum(per_key[k]["cpu_median_ms"] for k in registry.group_keys(g))
    print(f"one {a.shape[0]}x{a.shape[1]} triplet, 1 thread, {args.repeats} repeats, "
          f"{'plain' if args.plain_allocator else 'tuned'} allocator, load average {os.getloadavg()[0]:.1f} (ms)")
    print(f"{'key':<24} {'wall best':>10} {'wall med':>10} {'cpu best':>10} {'cpu med':>10} {'keys alone':>11}")
    for name, t in [*per_key.items(), *((f"[{g}]", t) for g, t in groups.items())]:
        alone = f"{t['keys_alone_cpu_median_ms']:11.1f}" if "keys_alone_cpu_median_ms" in t else ""
        print(f"{name:<24} {t['wall_best_ms']:10.1f} {t['wall_median_ms']:10.1f} {t['cpu_best_ms']:10.1f} "
              f"{t['cpu_median_ms']:10.1f} {alone}")
    verdict = {}
    for g, budget in BUDGETS_MS.items():
        got = groups[g]["cpu_median_ms"]
        verdict[g] = {"budget_ms": budget, "cpu_median_ms": got, "met": got <= budget,
                      "keys": len(registry.group_keys(g)),
                      "keys_alone_cpu_median_ms": groups[g]["keys_alone_cpu_median_ms"]}
        print(f"budget {g} ({verdict[g]['keys']} keys): {got:.1f} ms median CPU vs {budget:.0f} ms -> "
              f"{'met' if got <= budget else 'NOT met'} (its keys one by one: "
              f"{verdict[g]['keys_alone_cpu_median_ms']:.1f} ms)")
    if args.json:
        payload = {
            "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_catalogue_speed.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "triplet": str(args.case) if args.case else "synthetic 240x240 (benchmarks/metrics_speed.py)",
            "machine": {"python": platform.python_version(), "numpy": np.__version__, "threads": 1,
                        "load_average": os.getloadavg()[0],
                        "allocator": "plain" if args.plain_allocator else "tuned (tune_cpu_allocator)"},
            "repeats": args.repeats,
            "keys": per_key,
            "groups": groups,
            "budgets": verdict,
        }
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
