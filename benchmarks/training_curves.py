"""Learning curves of training runs side by side (steps and minutes vs Q_SSIM and decomposition SSIM).

    python benchmarks/training_curves.py RUN_DIR[=LABEL] ... --out docs/figures/training_curves.png

Reads each run's metrics.jsonl (one JSON object per epoch, written by `fusioninn train`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", help="RUN_DIR or RUN_DIR=LABEL")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for spec in a.runs:
        run, _, label = spec.partition("=")
        hist = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
        cfg = json.loads((Path(run) / "config.json").read_text())
        label = label or Path(run).name
        crop = cfg.get("crop") or 240
        images = [h["step"] * cfg["batch_size"] * (crop / 240) ** 2 for h in hist]
        minutes = [h["minutes"] for h in hist]
        q = [h["val_q_ssim"] for h in hist]
        d = [0.5 * (h["val_dec_ssim_1"] + h["val_dec_ssim_2"]) for h in hist]
        axes[0].plot(minutes, q, "-o", ms=3, label=f"{label}: Q_SSIM")
        axes[0].plot(minutes, d, "--o", ms=3, label=f"{label}: dec. SSIM (mean of 2)")
        axes[1].plot(images, q, "-o", ms=3, label=f"{label}: Q_SSIM")
        axes[1].plot(images, d, "--o", ms=3, label=f"{label}: dec. SSIM")
        axes[2].plot([h["step"] for h in hist], d, "--o", ms=3, label=f"{label}: dec. SSIM")
        last = hist[-1]
        print(f"{label}: {last['step']} steps, {last['minutes']:.1f} min, Q_SSIM {last['val_q_ssim']:.4f}, "
              f"dec. SSIM {last['val_dec_ssim_1']:.4f} / {last['val_dec_ssim_2']:.4f}")
    axes[0].set_xlabel("wall minutes (2-core CPU)")
    axes[1].set_xlabel("240x240-equivalent images seen")
    axes[2].set_xlabel("optimizer steps")
    for ax in axes:
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.set_ylabel("validation score")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=100)


if __name__ == "__main__":
    main()
