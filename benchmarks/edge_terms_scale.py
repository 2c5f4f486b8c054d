"""Scale of the fusion-loss terms at the start of training, to choose the edge/detail terms' weights.

    OMP_NUM_THREADS=1 python benchmarks/edge_terms_scale.py --data ../shared/data/brats-samples/TCGA-DU-7294

For 16 evenly spaced slices of ``--data`` (whole slices and one random 120-pixel crop each, the fast
recipe's training crop) prints, per method, the SSIM and L2 parts of the published fusion loss (with their
weights 0.8, 0.2 and a = 0.5, 0.5) and the unweighted value of every optional term (gradient, grid,
ms_gradient, laplacian_detail, salience_intensity): fresh FusionINN and UNet (what a run from scratch
starts from), the shipped fusioninn-v1 weights (what the issue-#17 fine-tunes start from) and three
training-free rules (what the terms' targets resemble). Writes benchmarks/results/edge_terms_scale.json.

``--speed N``: also the cost of the three terms in a training step (forward, loss, backward of a batch of 8
crops, FusionINN and UNet): off and on alternately N times each in one process, median process CPU time
per step (CPU time, so that a loaded machine slows both sides alike).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from fusioninn.api import load_model, named_weights_path
from fusioninn.data.dataset import open_slices
from fusioninn.losses import OPTIONAL_FUSION_TERMS, LossWeights
from fusioninn.losses.fusion import _two_source_loss
from fusioninn.models.baselines import rules
from fusioninn.models.factory import build_model
from fusioninn.training.variants import VARIANTS

OUT = Path(__file__).resolve().parent / "results" / "edge_terms_scale.json"


def terms(fused: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    w = LossWeights()
    _, parts = _two_source_loss(fused, x, w)
    row = {"ssim_part": float(w.ssim * (0.5 * (2 - parts["ssim_1"] - parts["ssim_2"]))),
           "l2_part": float(w.l2 * 0.5 * (parts["mse_1"] + parts["mse_2"]))}
    row.update({name: float(term(fused, x)) for name, term in OPTIONAL_FUSION_TERMS.items()})
    return row


@torch.no_grad()
def methods(x: torch.Tensor) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    out = {}
    for label, model in (("fusioninn (fresh)", build_model("fusioninn")),
                         ("fusioninn-v1", load_model(named_weights_path("fusioninn-v1")))):
        y, _ = model.eval()(x)
        out[label] = model.fused_image(y)
    out["unet (fresh)"] = build_model("unet").eval()(x)
    a, b = x[:, 0].numpy(), x[:, 1].numpy()
    for name in ("average", "maximum", "laplacian"):
        out[f"rule {name}"] = torch.from_numpy(getattr(rules, f"fuse_{name}")(a, b))[:, None]
    return out


# the three edge/detail terms at the weights of the "sharp" variant
SHARP = {k: v for k, v in VARIANTS["sharp"]["loss"].items() if k != "gradient"}


def step_seconds(x: torch.Tensor, reps: int) -> dict[str, dict[str, float]]:
    """Median CPU seconds of one training step with the three edge/detail terms off and on."""
    from fusioninn.training.steps import step_for

    out = {}
    for name in ("fusioninn", "unet"):
        torch.manual_seed(0)
        model = build_model(name).train()
        steps = {"off": step_for(model, LossWeights(), 1.0 / 255),
                 "on": step_for(model, LossWeights(**SHARP), 1.0 / 255)}
        times: dict[str, list[float]] = {"off": [], "on": []}
        for rep in range(reps + 1):
            for key, step in steps.items():
                g = torch.Generator().manual_seed(rep)
                t0 = time.process_time()
                loss, _ = step.loss(x, len(x), 0, len(x), 1, 0, g)
                model.zero_grad(set_to_none=True)
                loss.backward()
                if rep:  # the first round warms up the allocator and kernels
                    times[key].append(time.process_time() - t0)
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        out[name] = {"off_s": off, "on_s": on, "ratio": on / off}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"
                                         / "brats-samples" / "TCGA-DU-7294"))
    p.add_argument("--slices", type=int, default=16)
    p.add_argument("--crop", type=int, default=120)
    p.add_argument("--speed", type=int, default=0, metavar="N", help="also time N training steps off and on")
    args = p.parse_args()
    ds = open_slices(args.data)
    idx = torch.linspace(0, len(ds) - 1, min(args.slices, len(ds))).long().tolist()
    full = torch.stack([torch.as_tensor(ds[i]) for i in idx]).float()
    g = torch.Generator().manual_seed(0)
    crops = []
    for xi in full:
        i, j = torch.randint(0, full.shape[2] - args.crop + 1, (2,), generator=g).tolist()
        crops.append(xi[:, i:i + args.crop, j:j + args.crop])
    result = {"data": args.data, "slices": len(idx), "crop": args.crop, "rows": {}}
    for label, x in ((f"crop {args.crop}", torch.stack(crops)), ("whole slices", full)):
        rows = {name: terms(fused, x) for name, fused in methods(x).items()}
        result["rows"][label] = rows
        cols = list(next(iter(rows.values())))
        print(f"\n{label}: " + " | ".join(cols))
        for name, row in rows.items():
            print(f"  {name:18s} " + " ".join(f"{row[c]:9.4f}" for c in cols))
    if args.speed:
        torch.set_num_threads(1)
        result["step_cpu_seconds"] = step_seconds(torch.stack(crops)[:8], args.speed)
        print("\ntraining step (batch 8, 1 thread), median CPU s: model | terms off | on (" +
              ", ".join(f"{k} {v:g}" for k, v in SHARP.items()) + ") | on / off")
        for name, row in result["step_cpu_seconds"].items():
            print(f"  {name:10s} {row['off_s']:.4f} {row['on_s']:.4f} {row['ratio']:.3f}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
