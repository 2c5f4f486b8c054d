"""Completeness of FusionINN's integrated-gradients maps against the number of quadrature steps.

    python benchmarks/contribution_convergence.py --case ../shared/data/brats-samples/TCGA-FG-6692 \
        --json benchmarks/results/contribution_convergence.json

On real tumour slices (default: the two with the most tumour), for each step count: max and mean
|fused − baseline − c_1 − c_2| over the slice, and the seconds per slice (1 thread). Prints a table and
writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import fusioninn
from fusioninn.data.volume import axial_slices, minmax_normalise, read_volume


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True)
    p.add_argument("--steps", default="4,8,16,32,64")
    p.add_argument("--slices", default="", help="axial slice indices (default: the two with the most tumour)")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    case = Path(args.case)
    sid = case.name
    t1 = axial_slices(read_volume(case / f"{sid}_t1ce.nii.gz").data)
    fl = axial_slices(read_volume(case / f"{sid}_flair.nii.gz").data)
    seg = axial_slices(read_volume(case / f"{sid}_seg.nii.gz").data)
    if args.slices:
        zs = [int(v) for v in args.slices.split(",")]
    else:
        zs = [int(z) for z in np.argsort(-(seg > 0).sum(axis=(1, 2)))[:2]]
    a, _, _ = minmax_normalise(t1[zs])
    b, _, _ = minmax_normalise(fl[zs])
    model = fusioninn.load_pretrained()
    rows = []
    print(f"{'steps':>5} {'max |residual|':>15} {'mean |residual|':>16} {'s/slice':>8}")
    for steps in (int(v) for v in args.steps.split(",")):
        t0 = time.perf_counter()
        c = model.contributions(a, b, steps=steps)
        seconds = (time.perf_counter() - t0) / len(zs)
        r = np.abs(c.residual)
        rows.append({"steps": steps, "max_abs": float(r.max()), "mean_abs": float(r.mean()),
                     "p99_abs": float(np.percentile(r, 99)), "seconds_per_slice": seconds})
        print(f"{steps:5d} {r.max():15.2e} {r.mean():16.2e} {seconds:8.1f}", flush=True)
    out = {"case": sid, "slices": zs, "quadrature": "Gauss-Legendre", "rows": rows,
           "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                       "note": "shared, loaded 2-core machine"}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
