"""Convergence of FusionINN's integrated-gradients maps against the number of quadrature steps, per rule.

    python benchmarks/contribution_convergence.py --case ../shared/data/brats-samples/TCGA-FG-6692 \
        --slices 86 --steps 8,16,32,64 --json benchmarks/results/contribution_convergence.json

On real tumour slices (default: the two with the most tumour), for each quadrature rule ("secant": the
default, Gauss–Legendre with the ReLUs and the output clamp split at their switching points;
"gauss-legendre": the plain rule) and step count: completeness (max, mean and 99th percentile of
|fused − baseline − c_1 − c_2|) and the distance of c_1 and c_2 to a high-step reference (max and mean
|c_i − c_i^ref|), with the wall and CPU seconds per slice (1 thread). References: ``--reference-steps``
(default: secant 256 and Gauss–Legendre 512; the committed run used secant 128 only, to fit the
session). Every row's distance is to the first reference; with two, the second reference's row gives
their distance, i.e. whether both rules converge to the same integral. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import fusioninn
from fusioninn.data.volume import axial_slices, minmax_normalise, read_volume


def _row(rule: str, steps: int, c, ref, seconds: float) -> dict:
    r = np.abs(c.residual)
    row = {"rule": rule, "steps": steps, "completeness_max_abs": float(r.max()),
           "completeness_mean_abs": float(r.mean()), "completeness_p99_abs": float(np.percentile(r, 99)),
           "seconds_per_slice": seconds}
    if ref is not None:
        for key, mine, theirs in (("c1", c.first, ref.first), ("c2", c.second, ref.second)):
            d = np.abs(mine.astype(np.float64) - theirs)
            row[f"{key}_vs_reference_max_abs"] = float(d.max())
            row[f"{key}_vs_reference_mean_abs"] = float(d.mean())
    return row


def _print(row: dict) -> None:
    dist = (f"{row['c1_vs_reference_max_abs']:10.2e} {row['c1_vs_reference_mean_abs']:10.2e} "
            f"{row['c2_vs_reference_max_abs']:10.2e} {row['c2_vs_reference_mean_abs']:10.2e}"
            if "c1_vs_reference_max_abs" in row else f"{'(reference)':>43}")
    print(f"{row['rule']:>14} {row['steps']:5d} {row['completeness_max_abs']:10.2e} "
          f"{row['completeness_mean_abs']:10.2e} {dist} {row['seconds_per_slice']:8.1f}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True)
    p.add_argument("--steps", default="8,16,32,64")
    p.add_argument("--rules", default="secant,gauss-legendre")
    p.add_argument("--reference-steps", default="secant:256,gauss-legendre:512",
                   help="rule:steps of the references (the first is what the rows are compared with)")
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

    cpu: dict = {}

    def run(rule: str, steps: int):
        t0, c0 = time.perf_counter(), time.process_time()
        c = model.contributions(a, b, steps=steps, rule=rule)
        cpu[(rule, steps)] = (time.process_time() - c0) / len(zs)
        return c, (time.perf_counter() - t0) / len(zs)

    print(f"{'rule':>14} {'steps':>5} {'compl max':>10} {'compl mean':>10} {'c1 ref max':>10} {'c1 ref mean':>10} "
          f"{'c2 ref max':>10} {'c2 ref mean':>10} {'s/slice':>8}")
    references = []
    for spec in args.reference_steps.split(","):
        rule, steps = spec.split(":")
        c, seconds = run(rule, int(steps))
        references.append((rule, int(steps), c, seconds))
    ref = references[0][2]
    rows = []
    for rule, steps, c, seconds in references:
        row = _row(rule, steps, c, ref if c is not ref else None, seconds)
        row["reference"] = True
        row["cpu_seconds_per_slice"] = cpu[(rule, steps)]
        rows.append(row)
        _print(row)
    for rule in args.rules.split(","):
        for steps in (int(v) for v in args.steps.split(",")):
            c, seconds = run(rule, steps)
            rows.append(_row(rule, steps, c, ref, seconds))
            rows[-1]["cpu_seconds_per_slice"] = cpu[(rule, steps)]
            _print(rows[-1])
    out = {"case": sid, "slices": zs, "reference": {"rule": references[0][0], "steps": references[0][1]},
           "rows": rows,
           "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                       "load_average_at_end": list(os.getloadavg()),
                       "note": "shared 2-core machine; seconds are wall time under that load"}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
