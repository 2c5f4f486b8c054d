"""FusionINN capacity and initialisation (issue #17): parameters, training and inference speed of wider
subnets and extra couplings, and what the network does at step 0 with each initial mixing.

    nice -n 15 python benchmarks/capacity.py --json benchmarks/results/capacity.json

Capacity table: each configuration (fast recipe) is timed side by side in one process, its repeats
interleaved with the others' (round-robin), so a shared machine's load falls on all alike; the ratios
to the published size are the figures to compare. Training: images/s of full optimiser steps (the fast
recipe's loss, Adam, batch 8 of 120x120 crops of phantom slices). Inference: fuse + clinical decompose
(fresh latent) in ms per 240x240 slice, batches of 4. One thread (--threads).

Step-0 table: on the held-out phantom (phantom:N:777, 240x240) the untrained fast-recipe network with
init_mixing "interleave" (identity couplings) and "average" — fused image against the sources' average
(max and mean |difference|), grid-power ratio and RMS grid amplitude (fusioninn.metrics.grid, median
over slices) and Q_SSIM (published protocol, mean); the average rule itself as the reference row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from fusioninn.atomic import atomic_write_text
from fusioninn.data.phantom import phantom_slices
from fusioninn.losses import LossWeights
from fusioninn.metrics.grid import grid_scores
from fusioninn.metrics.q_ssim import q_ssim
from fusioninn.models.factory import build_model
from fusioninn.training.steps import step_for

CONFIGS = {
    "published (32,64,32)": {},
    "wide (64,128,64)": {"widths": (64, 128, 64)},
    "+2 couplings": {"extra_couplings": 2},
    "wide +2 couplings": {"widths": (64, 128, 64), "extra_couplings": 2},
    "wide +4 couplings": {"widths": (64, 128, 64), "extra_couplings": 4},
}


def _training_step(model, step, optimizer, x: torch.Tensor, generator: torch.Generator) -> None:
    loss, _ = step.loss(x, len(x), 0, len(x), 1, 0, generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def capacity_table(repeats: int, steps: int, batch: int, crop: int) -> list[dict]:
    slices = torch.from_numpy(phantom_slices(batch, seed=11).images)
    lo = (240 - crop) // 2
    crops = slices[:, :, lo:lo + crop, lo:lo + crop].contiguous()
    infer_x = torch.from_numpy(phantom_slices(4, seed=12).images)
    runs = {}
    for name, overrides in CONFIGS.items():
        torch.manual_seed(0)
        model = build_model("fusioninn", "fast", **overrides)
        model.initialise_actnorm(crops)
        step = step_for(model, LossWeights(), 1.0 / 255)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(0)
        _training_step(model, step, optimizer, crops, generator)  # warm-up: allocations, kernel caches
        runs[name] = {"model": model, "step": step, "optimizer": optimizer, "generator": generator,
                      "train_s": [], "infer_s": []}
    z = torch.randn(len(infer_x), 1, 240, 240, generator=torch.Generator().manual_seed(1))
    for _ in range(repeats):
        for r in runs.values():  # round-robin: every configuration sees the same machine load
            model = r["model"]
            model.train()
            t0 = time.perf_counter()
            for _ in range(steps):
                _training_step(model, r["step"], r["optimizer"], crops, r["generator"])
            r["train_s"].append((time.perf_counter() - t0) / steps)
            model.eval()
            with torch.inference_mode():
                t0 = time.perf_counter()
                fused, _ = model.fuse_tensor(infer_x)
                model.decompose_tensor(fused, z)
                r["infer_s"].append((time.perf_counter() - t0) / len(infer_x))
    base = runs[next(iter(runs))]
    base_train, base_infer = statistics.median(base["train_s"]), statistics.median(base["infer_s"])
    rows = []
    for name, r in runs.items():
        train_s, infer_s = statistics.median(r["train_s"]), statistics.median(r["infer_s"])
        rows.append({"config": name, **{k: list(v) if isinstance(v, tuple) else v for k, v in CONFIGS[name].items()},
                     "parameters": r["model"].parameter_count(),
                     "train_images_per_s": batch / train_s, "train_time_ratio": train_s / base_train,
                     "fuse_decompose_ms": 1000 * infer_s, "inference_time_ratio": infer_s / base_infer})
    return rows


def step0_table(n: int) -> list[dict]:
    x = torch.from_numpy(phantom_slices(n, seed=777).images)
    average = x.mean(1, keepdim=True)
    fused_by = {"average rule": average}
    for mixing in ("interleave", "average"):
        model = build_model("fusioninn", "fast", init_mixing=mixing)
        model.initialise_actnorm(x)
        with torch.inference_mode():
            fused_by[f"FusionINN step 0, init_mixing={mixing}"] = model.fuse_tensor(x)[0]
    rows = []
    for name, fused in fused_by.items():
        a, b, f = x[:, 0].numpy(), x[:, 1].numpy(), fused[:, 0].numpy()
        grid = [grid_scores(a[i], b[i], f[i]) for i in range(n)]
        diff = (fused - average).abs()
        rows.append({"method": name, "max_abs_diff_vs_average": float(diff.max()),
                     "mean_abs_diff_vs_average": float(diff.mean()),
                     "grid_ratio_median": float(np.median([g["grid_ratio"] for g in grid])),
                     "grid_rms_median": float(np.median([g["grid_rms"] for g in grid])),
                     "q_ssim": float(np.mean([q_ssim(a[i], b[i], f[i]) for i in range(n)]))})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds (median reported)")
    p.add_argument("--steps", type=int, default=3, help="optimiser steps per configuration and round")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=120)
    p.add_argument("--phantom", type=int, default=16, help="held-out phantom slices of the step-0 table")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=str(Path(__file__).parent / "results" / "capacity.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    step0 = step0_table(args.phantom)
    capacity = capacity_table(args.repeats, args.steps, args.batch, args.crop)
    print(f"capacity (fast recipe, {args.threads} thread(s), training batch {args.batch} of "
          f"{args.crop}x{args.crop}, inference 240x240; medians of {args.repeats} interleaved rounds)")
    print(f"{'configuration':<22} {'parameters':>10} {'train img/s':>11} {'x time':>7} {'fuse+dec ms':>11} "
          f"{'x time':>7}")
    for r in capacity:
        print(f"{r['config']:<22} {r['parameters']:>10,} {r['train_images_per_s']:>11.2f} "
              f"{r['train_time_ratio']:>7.2f} {r['fuse_decompose_ms']:>11.1f} {r['inference_time_ratio']:>7.2f}")
    print(f"\nstep 0 on phantom:{args.phantom}:777 (240x240)")
    print(f"{'method':<40} {'max|f-avg|':>10} {'mean|f-avg|':>11} {'grid ratio':>10} {'grid RMS':>9} {'Q_SSIM':>7}")
    for r in step0:
        print(f"{r['method']:<40} {r['max_abs_diff_vs_average']:>10.4f} {r['mean_abs_diff_vs_average']:>11.5f} "
              f"{r['grid_ratio_median']:>10.2f} {r['grid_rms_median']:>9.3f} {r['q_ssim']:>7.4f}")
    load = os.getloadavg()
    result = {"settings": {**vars(args), "load_average": [round(v, 2) for v in load],
                           "torch": torch.__version__},
              "capacity": capacity, "step0": step0}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json} (load average {load[0]:.1f}: a shared machine, compare the ratios)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
