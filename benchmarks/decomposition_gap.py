"""Where a decomposition loses: R² per region and after an oracle intensity recalibration (issue #17).

    python benchmarks/decomposition_gap.py ../shared/data/brats-samples/TCGA-FG-6692 \
        --model robust=fusioninn-robust --model v1=fusioninn-v1 --json gap.json

For each FusionINN weights file this fuses the case's tumour slices, decomposes the 8-bit fused image, and
splits the pooled decomposition R² (``fusioninn.metrics.decomposition_r2``: 1 − ‖x̂ − x‖² / ‖y − x‖²) of
each source into

- **regions**: the tumour (BraTS labels 1, 2, 4) and the rest of the image (what the pooled figure mixes;
  "all" is the figure ``fused_image_criteria.py`` reports as R² 8-bit, up to the latent draw);
- **recalibrated**: R² after the best affine map a·x̂ + b per slice and source, fitted to the truth inside
  the brain, applied there and scored on the whole image (an oracle: it needs the source it is scoring).
  What recalibration recovers is error in each slice's overall intensity scale and offset (a new patient's
  tissue contrasts after per-slice min-max normalisation); what it leaves is error in the image's structure.

It reads ground truth only to split the error, never to choose weights: run it on the test case only
after that case has been reported.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from fusioninn.data.spec import load_pairs
from fusioninn.methods import resolve_methods
from fusioninn.metrics.decomposition_r2 import r2_from_parts
from fusioninn.perturb import parse_perturbations, perturb_fused


def _affine_fit(x_hat: np.ndarray, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a * x_hat + b`` on ``mask`` (x_hat elsewhere), (a, b) the least-squares fit of x_hat to x there."""
    u, v = x_hat[mask].astype(np.float64), x[mask].astype(np.float64)
    if u.size < 2 or u.std() == 0:
        return x_hat
    a, b = np.polyfit(u, v, 1)
    return np.where(mask, a * x_hat + b, x_hat).astype(np.float32)


def gap_report(model: str, spec: str, pair: tuple[str, str] = ("t1ce", "flair")) -> dict:
    """Pooled R² per source: whole image, tumour, the rest, and after recalibration."""
    data = load_pairs(spec, pair=pair, slices="tumour")
    if data.seg is None:
        raise SystemExit(f"{spec}: no segmentation, so no tumour region to split by")
    method = resolve_methods(["fusioninn"], model)[0]
    saved = parse_perturbations("png")[0]  # the saved 8-bit fused image, as fused_image_criteria scores it
    sums = {k: np.zeros((2, 2)) for k in ("all", "tumour", "rest", "recalibrated")}  # [source, (err, gap)]
    for start in range(0, len(data.images), 16):
        x = data.images[start : start + 16]
        fused, _ = perturb_fused(method.fuse(x.copy()), x, saved)
        dec = method.decompose(fused)
        seg = data.seg[start : start + 16]
        for i in range(len(x)):
            brain = (x[i] > 0).any(axis=0)
            regions = {"all": np.ones_like(brain), "tumour": seg[i] > 0, "rest": seg[i] == 0}
            for k in (0, 1):
                gap = (fused[i] - x[i, k]) ** 2
                err = (dec[i, k] - x[i, k]) ** 2
                for name, m in regions.items():
                    sums[name][k] += (err[m].sum(), gap[m].sum())
                fit = _affine_fit(dec[i, k], x[i, k], brain)
                sums["recalibrated"][k] += (((fit - x[i, k]) ** 2).sum(), gap.sum())
    out = {"slices": int(len(data.images))}
    for name, s in sums.items():
        out[name] = [r2_from_parts(*s[k]) for k in (0, 1)]
        out[f"{name}_gap_share"] = [float(s[k, 1] / sums["all"][k, 1]) for k in (0, 1)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", help="a BraTS case (or any spec with a segmentation)")
    ap.add_argument("--model", action="append", required=True, metavar="LABEL=PATH_OR_NAME")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    results = {label: gap_report(path, args.case) for label, path in models.items()}
    print("| model | R² all (T1ce / FLAIR) | tumour | rest | recalibrated per slice |")
    print("|---|---:|---:|---:|---:|")
    for label, r in results.items():
        cells = [f"{r[k][0]:.3f} / {r[k][1]:.3f}" for k in ("all", "tumour", "rest", "recalibrated")]
        print(f"| {label} | " + " | ".join(cells) + " |")
    r = next(iter(results.values()))
    print(f"share of the fused image's gap in the tumour: {r['tumour_gap_share'][0]:.2f} / "
          f"{r['tumour_gap_share'][1]:.2f} ({r['slices']} slices)", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"case": args.case, "models": results}, f, indent=1)


if __name__ == "__main__":
    main()
