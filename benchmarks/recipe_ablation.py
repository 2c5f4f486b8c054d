"""Recipe ablation: which change makes FusionINN learn decomposition on a CPU budget.

    python benchmarks/recipe_ablation.py --steps 200 --variants paper,fast,fast_no_logit,fast_lr3e-4 \
        --json benchmarks/results/recipe_ablation.json

Trains each variant for the same number of steps on the tumour slices of TCGA-DU-7294 (plus, with
--phantom N, N phantom slices) and scores the tumour slices of TCGA-FG-6692 every --every steps:
Q_SSIM of the fused image and decomposition SSIM per source from the fused image alone (fresh z).
Needs ../shared/data/brats-samples. One thread per variant (--threads).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from fusioninn.data.spec import load_pairs
from fusioninn.losses import FusionINNLoss, LossWeights
from fusioninn.metrics.ssim import ssim
from fusioninn.models import FusionINN, FusionINNConfig

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats-samples"

VARIANTS = {
    # the published recipe: published network, lr 3e-4, whole 240x240 slices, batch 8 (CPU memory)
    "paper": dict(config=FusionINNConfig.paper(), lr=3e-4, crop=None, clip=None),
    # ours: identity-initialised couplings, logit-space input, exact reverse input, 120 crops, lr 1e-3
    "fast": dict(config=FusionINNConfig.fast(), lr=1e-3, crop=120, clip=1.0),
    # ours without the logit-space input (data-dependent ActNorm as published)
    "fast_no_logit": dict(config=FusionINNConfig(subnet_out_relu=False, zero_init=True, reverse_input="logit",
                                                 output_sigmoid=False), lr=1e-3, crop=120, clip=1.0),
    # ours at the published learning rate
    "fast_lr3e-4": dict(config=FusionINNConfig.fast(), lr=3e-4, crop=120, clip=1.0),
    # ours on whole slices
    "fast_full_slices": dict(config=FusionINNConfig.fast(), lr=1e-3, crop=None, clip=1.0),
}


def score(model: FusionINN, x: torch.Tensor) -> dict:
    model.eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        fused, lat = model.fuse_tensor(x)
        dec = model.decompose_tensor(fused, torch.randn(lat.z.shape, generator=g))
        q = 0.5 * (ssim(fused, x[:, :1], reduction="none") + ssim(fused, x[:, 1:], reduction="none"))
        d1 = ssim(dec[:, :1], x[:, :1], reduction="none")
        d2 = ssim(dec[:, 1:], x[:, 1:], reduction="none")
    model.train()
    return {"q_ssim": float(q.mean()), "dec_ssim_1": float(d1.mean()), "dec_ssim_2": float(d2.mean())}


def run_variant(name: str, train: torch.Tensor, val: torch.Tensor, steps: int, every: int, batch: int,
                seed: int) -> list[dict]:
    v = VARIANTS[name]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = FusionINN(v["config"])
    model.initialise_actnorm(train[:16])
    loss_fn = FusionINNLoss(LossWeights())
    opt = torch.optim.Adam(model.parameters(), lr=v["lr"])
    hist = [{"step": 0, "seconds": 0.0, **score(model, val)}]
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        x = train[torch.from_numpy(rng.integers(0, len(train), batch))]
        if v["crop"]:
            c = v["crop"]
            i, j = (rng.integers(0, (x.shape[-1] - c) // 2 + 1, 2) * 2).tolist()
            x = x[:, :, i : i + c, j : j + c]
        fused, z, dec = model.fused_and_decomposed_for_training(x)
        loss, _ = loss_fn(x, fused, z, dec)
        opt.zero_grad()
        loss.backward()
        if v["clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), v["clip"])
        opt.step()
        if step % every == 0 or step == steps:
            elapsed = time.perf_counter() - t0
            hist.append({"step": step, "seconds": elapsed, **score(model, val)})
            t0 = time.perf_counter() - elapsed  # scoring time is not training time
            h = hist[-1]
            print(f"{name:18} step {step:5d} {elapsed / 60:6.1f} min  Q_SSIM {h['q_ssim']:.4f}  "
                  f"dec {h['dec_ssim_1']:.4f} / {h['dec_ssim_2']:.4f}", flush=True)
    return hist


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--every", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if not SAMPLES.is_dir():
        raise SystemExit(f"needs the BraTS samples at {SAMPLES}")
    train = torch.from_numpy(load_pairs(str(SAMPLES / "TCGA-DU-7294")).images)
    val = torch.from_numpy(load_pairs(str(SAMPLES / "TCGA-FG-6692")).images)
    out = {"train": "TCGA-DU-7294 tumour slices", "val": "TCGA-FG-6692 tumour slices", "steps": a.steps,
           "batch_size": a.batch_size, "threads": a.threads, "variants": {}}
    for name in a.variants.split(","):
        out["variants"][name] = run_variant(name, train, val, a.steps, a.every, a.batch_size, a.seed)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
