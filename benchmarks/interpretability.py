"""Mean T1ce share per BraTS region for every method, on the tumour slices of one BraTS-layout case.

    python benchmarks/interpretability.py --case ../shared/data/brats-samples/TCGA-FG-6692 \
        --json benchmarks/results/interpretability.json --figure docs/figures/interpretability_maps.png

Tumour slices = axial slices with any label > 0. The networks get integrated gradients (FusionINN at
``--steps``, the CNN baselines at ``--cnn-steps`` Gauss–Legendre points) on every ``--stride``-th tumour
slice and the two figure slices (they cost many forward-mode passes per slice); the rules get their exact
weights on all tumour slices. Prints a table
and writes JSON (shares, completeness, seconds per slice) and a figure of the maps of two slices.
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

from fusioninn.data.volume import axial_slices, minmax_normalise, read_volume
from fusioninn.explain import BRATS_REGIONS, label_shares, resolve_method, slice_contributions
from fusioninn.methods import available_methods
from fusioninn.models.baselines.registry import CNN_BASELINES


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, help="BraTS-layout subject folder (…_t1ce, …_flair, …_seg)")
    p.add_argument("--steps", type=int, default=32, help="Gauss-Legendre steps for FusionINN")
    p.add_argument("--cnn-steps", type=int, default=16, help="Gauss-Legendre steps for the CNN baselines")
    p.add_argument("--stride", type=int, default=13, help="networks: every N-th tumour slice (plus the figure's)")
    p.add_argument("--methods", default="all")
    p.add_argument("--json", required=True)
    p.add_argument("--figure")
    p.add_argument("--figure-slices", default="", help="two axial slice indices (default: most tumour, +8)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    case = Path(args.case)
    sid = case.name
    vol = {k: axial_slices(read_volume(case / f"{sid}_{k}.nii.gz").data) for k in ("t1ce", "flair", "seg")}
    seg = np.rint(vol["seg"]).astype(np.uint8)
    tumour = np.flatnonzero((seg > 0).any(axis=(1, 2)))
    a, _, _ = minmax_normalise(vol["t1ce"][tumour])
    b, _, _ = minmax_normalise(vol["flair"][tumour])
    s = seg[tumour]
    brain = (a > 0) | (b > 0)
    network_rows = np.arange(0, len(tumour), args.stride)
    if args.figure_slices:
        fig_z = [int(v) for v in args.figure_slices.split(",")]
    else:
        most = int(tumour[np.argmax((s > 0).sum(axis=(1, 2)))])
        fig_z = [most, most + 8 if most + 8 in tumour else most - 8]
    fig_rows = [int(np.flatnonzero(tumour == z)[0]) for z in fig_z]
    network_rows = np.union1d(network_rows, fig_rows)
    names = available_methods() if args.methods == "all" else args.methods.split(",")
    names = sorted(names, key=lambda n: (n != "fusioninn", n in CNN_BASELINES))  # FusionINN, rules, then CNNs
    results, maps = {}, {}
    for name in names:
        method_name, thing = resolve_method(name)
        rows = np.arange(len(tumour)) if isinstance(thing, str) else network_rows
        t0 = time.perf_counter()
        steps = args.steps if method_name == "fusioninn" else args.cnn_steps
        c = slice_contributions(method_name, thing, a[rows], b[rows], steps, batch_slices=2)
        seconds = (time.perf_counter() - t0) / len(rows)
        stats = label_shares(c.share_first, s[rows], brain[rows])
        residual = np.abs(c.residual)
        subset = np.flatnonzero(np.isin(rows, network_rows))  # the slices the networks were measured on
        sub = label_shares(c.share_first[subset], s[rows][subset], brain[rows][subset])
        results[name] = {
            "mean_t1ce_share_on_network_slices": {BRATS_REGIONS[k]: sub["mean_share_first"][BRATS_REGIONS[k]]
                                                  for k in (4, 1, 2, 0)},
            "slices": [int(z) for z in tumour[rows]], "steps": c.steps,
            "mean_t1ce_share": {BRATS_REGIONS[k]: stats["mean_share_first"][BRATS_REGIONS[k]] for k in (4, 1, 2, 0)},
            "pixels": {BRATS_REGIONS[k]: stats["pixels"][BRATS_REGIONS[k]] for k in (4, 1, 2, 0)},
            "completeness_max_abs": float(residual.max()), "completeness_mean_abs": float(residual.mean()),
            "seconds_per_slice": seconds,
        }
        for z, r in zip(fig_z, fig_rows, strict=True):
            at = int(np.flatnonzero(rows == r)[0])
            maps[(name, z)] = (c.share_first[at], c.first[at], c.second[at])
        _write(args, sid, tumour, results, fig_z)
        if args.figure:  # redrawn after every method, so a partial run still has its figure
            _figure(Path(args.figure), list(results), fig_z, vol, seg, maps)
        row = results[name]["mean_t1ce_share"]
        print(f"{name:10s} " + " ".join(f"{row[k]:.3f}" if row[k] is not None else "  n/a" for k in row)
              + f"  completeness {residual.max():.1e}  {seconds:.2f} s/slice", flush=True)
    return 0


def _write(args, sid, tumour, results, fig_z) -> None:
    out = {"case": sid, "tumour_slices": [int(z) for z in tumour], "network_stride": args.stride,
           "steps": args.steps, "cnn_steps": args.cnn_steps, "methods": results, "figure_slices": fig_z,
           "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                       "note": "shared, loaded 2-core machine"}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


def _figure(path: Path, names, fig_z, vol, seg, maps) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2 + len(names)
    fig, axes = plt.subplots(len(fig_z), cols, figsize=(1.9 * cols, 2.1 * len(fig_z) + 0.5), squeeze=False)
    for r, z in enumerate(fig_z):
        t1, _, _ = minmax_normalise(vol["t1ce"][z])
        fl, _, _ = minmax_normalise(vol["flair"][z])
        for c, (img, title) in enumerate(((t1, "T1ce"), (fl, "FLAIR"))):
            axes[r, c].imshow(img, cmap="gray", vmin=0, vmax=1)
            axes[r, c].contour(seg[z] > 0, levels=[0.5], colors="yellow", linewidths=0.5)
            axes[r, c].set_title(f"{title} (slice {z})" if c == 0 else title, fontsize=8)
        for k, name in enumerate(names):
            share = maps[(name, z)][0]
            brain = (t1 > 0) | (fl > 0)
            shown = np.where(brain, share, np.nan)
            im = axes[r, 2 + k].imshow(shown, cmap="coolwarm", vmin=0, vmax=1)
            axes[r, 2 + k].contour(seg[z] > 0, levels=[0.5], colors="black", linewidths=0.4)
            axes[r, 2 + k].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, fraction=0.015, pad=0.01, label="T1ce share (0 = FLAIR, 1 = T1ce)")
    fig.suptitle("Per-pixel T1ce share of the fused value (tumour outline)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
