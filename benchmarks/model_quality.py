"""Quality of a FusionINN checkpoint on a held-out phantom set and on real tumour slices.

    python benchmarks/model_quality.py [--model CKPT] [--json FILE]

Prints, per data set: Q_SSIM of the fused image (mean of SSIM against both sources, 11x11 Gaussian,
float images, as published) next to the average rule's; decomposition SSIM/PSNR per source from the
fused image alone (one fresh latent z ~ N(0, I), and the mean of 8); the exact round-trip error with the
latent. Real data: the tumour slices of TCGA-FG-6692 (negatives clipped, per-slice min-max), skipped when
../shared/data/brats-samples is absent.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from fusioninn.api import load_pretrained
from fusioninn.data.spec import load_pairs
from fusioninn.metrics.ssim import ssim

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats-samples"


def _ssim_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ta, tb = torch.from_numpy(a[:, None]).double(), torch.from_numpy(b[:, None]).double()
    return ssim(ta, tb, reduction="none").numpy()


def _psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    mse = ((a.astype(np.float64) - b) ** 2).reshape(len(a), -1).mean(1)
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))


def evaluate(model, x: np.ndarray, seed: int = 0) -> dict:
    t0 = time.perf_counter()
    fused, latent = model.fuse(x[:, 0], x[:, 1])
    t_fuse = time.perf_counter() - t0
    q = 0.5 * (_ssim_per_image(fused, x[:, 0]) + _ssim_per_image(fused, x[:, 1]))
    avg = 0.5 * (x[:, 0] + x[:, 1])
    q_avg = 0.5 * (_ssim_per_image(avg, x[:, 0]) + _ssim_per_image(avg, x[:, 1]))
    out = {"n": len(x), "q_ssim": float(q.mean()), "q_ssim_average_rule": float(q_avg.mean()),
           "seconds_fuse_per_pair": t_fuse / len(x)}
    for label, k in (("one_sample", 1), ("mean_of_8", 8)):
        d = model.decompose(fused, samples=k, seed=seed)
        out[label] = {
            "dec_ssim_1": float(_ssim_per_image(d.x1, x[:, 0]).mean()),
            "dec_ssim_2": float(_ssim_per_image(d.x2, x[:, 1]).mean()),
            "dec_psnr_1": float(_psnr(d.x1, x[:, 0]).mean()),
            "dec_psnr_2": float(_psnr(d.x2, x[:, 1]).mean()),
        }
    # the clinical case of a fused image exported as an 8-bit PNG and decomposed from that file
    fused8 = np.round(fused * 255.0) / 255.0
    d8 = model.decompose(fused8.astype(np.float32), samples=1, seed=seed)
    out["from_8bit_one_sample"] = {
        "dec_ssim_1": float(_ssim_per_image(d8.x1, x[:, 0]).mean()),
        "dec_ssim_2": float(_ssim_per_image(d8.x2, x[:, 1]).mean()),
    }
    e = model.decompose(fused, latent=latent)
    out["exact_max_abs_error"] = float(max(np.abs(e.x1 - x[:, 0]).max(), np.abs(e.x2 - x[:, 1]).max()))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="checkpoint (default: the shipped weights)")
    p.add_argument("--phantom", default="phantom:100:4242", help="held-out phantom spec")
    p.add_argument("--real-case", default="TCGA-FG-6692")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = load_pretrained(a.model)
    results = {"model": a.model or "shipped", "sets": {}}
    sets = {a.phantom: load_pairs(a.phantom).images}
    case = SAMPLES / a.real_case
    if case.is_dir():
        sets[f"{a.real_case} tumour slices"] = load_pairs(str(case)).images
    for name, x in sets.items():
        results["sets"][name] = evaluate(model, x)
    print(f"{'data':32} {'n':>4} {'Q_SSIM':>7} {'avg rule':>8} {'dec1 (1z)':>9} {'dec2 (1z)':>9} "
          f"{'dec1 (8z)':>9} {'dec2 (8z)':>9} {'dec1 8bit':>9} {'dec2 8bit':>9} {'exact err':>9}")
    for name, r in results["sets"].items():
        o, m, q8 = r["one_sample"], r["mean_of_8"], r["from_8bit_one_sample"]
        print(f"{name:32} {r['n']:>4} {r['q_ssim']:7.4f} {r['q_ssim_average_rule']:8.4f} {o['dec_ssim_1']:9.4f} "
              f"{o['dec_ssim_2']:9.4f} {m['dec_ssim_1']:9.4f} {m['dec_ssim_2']:9.4f} {q8['dec_ssim_1']:9.4f} "
              f"{q8['dec_ssim_2']:9.4f} {r['exact_max_abs_error']:9.1e}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
