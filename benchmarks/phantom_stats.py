"""Phantom vs real samples: the statistics the phantom was tuned to, and the comparison figure.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/phantom_stats.py
Needs ../shared/data/brats-samples. Writes benchmarks/results/phantom_stats.json and
docs/figures/phantom_vs_real.png, and prints the tables quoted in docs/data.md.

The same estimator runs on both: within the brain outside the tumour, a 3-class k-means on T1 splits
CSF / grey / white matter; every sequence's mean in those classes and in the tumour labels is divided
by its white-matter mean. Tumour size: the largest whole-tumour (labels 1+2+4) cross-section per case,
as an area and as the diameter of a disc of that area, and the whole-tumour volume.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from fusioninn.atomic import atomic_path, atomic_write_text  # noqa: E402
from fusioninn.data.phantom import phantom_subject  # noqa: E402
from fusioninn.data.volume import axial_slices, read_volume  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "data" / "brats-samples"
SEQS = ("t1", "t1ce", "t2", "flair")
N_PHANTOM = 6


def kmeans_1d(x: np.ndarray, k: int = 3, iters: int = 50) -> np.ndarray:
    centres = np.percentile(x, np.linspace(15, 85, k))
    for _ in range(iters):
        lab = np.argmin(np.abs(x[:, None] - centres[None]), axis=1)
        centres = np.array([x[lab == j].mean() for j in range(k)])
    return lab


def case_stats(vols: dict[str, np.ndarray], seg: np.ndarray, voxel_mm3: float, pixel_mm2: float) -> dict:
    brain = vols["t1"] > 0
    healthy = brain & (seg == 0)
    lab = kmeans_1d(vols["t1"][healthy].astype(np.float64))  # 0 CSF, 1 GM, 2 WM (T1 order)
    ratios = {}
    for s in SEQS:
        v = vols[s]
        h = v[healthy]
        wm = h[lab == 2].mean()
        row = {"csf": h[lab == 0].mean() / wm, "grey_matter": h[lab == 1].mean() / wm, "white_matter": 1.0}
        for label, name in ((1, "core_label1"), (2, "oedema_label2"), (4, "enhancing_label4")):
            m = seg == label
            row[name] = float(v[m].mean() / wm) if m.any() else None
        ratios[s] = {k: (None if val is None else round(float(val), 3)) for k, val in row.items()}
    wt = seg > 0
    area = wt.sum(axis=(0, 1)).max() * pixel_mm2
    extent = [int(np.ptp(np.flatnonzero(brain.any(axis=tuple(j for j in range(3) if j != i))))) + 1
              for i in range(3)]
    return {
        "ratios_to_white_matter": ratios,
        "labels_present": sorted(int(v) for v in np.unique(seg) if v),
        "tumour_max_area_mm2": round(float(area), 1),
        "tumour_equiv_diameter_mm": round(float(2 * np.sqrt(area / np.pi)), 1),
        "tumour_volume_cm3": round(float(wt.sum() * voxel_mm3 / 1000), 1),
        "brain_extent_voxels_xyz": extent,
        "negative_voxels": int(sum((vols[s] < 0).sum() for s in SEQS)),
    }


def tumour_slice(seg: np.ndarray) -> int:
    return int(np.argmax((seg > 0).sum(axis=(0, 1))))


def main() -> int:
    if not SAMPLES.is_dir():
        print(f"sample data not found at {SAMPLES}")
        return 1
    real, real_slices = {}, {}
    for case in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        vols = {s: read_volume(case / f"{case.name}_{s}.nii.gz") for s in (*SEQS, "seg")}
        data = {s: vols[s].data for s in SEQS}
        seg = np.rint(vols["seg"].data).astype(np.uint8)
        real[case.name] = case_stats(data, seg, 1.0, 1.0)
        z = tumour_slice(seg)
        real_slices[case.name] = {s: axial_slices(data[s])[z] for s in SEQS} | {"seg": axial_slices(seg)[z]}
    phantom, ph_slices = {}, {}
    for k in range(N_PHANTOM):
        sub = phantom_subject(k, sequences=SEQS)
        data = {s: sub[s].astype(np.float32) for s in SEQS}
        phantom[f"phantom-{k}"] = case_stats(data, sub["seg"], 1.0, 1.0)
        if k < 2:
            z = tumour_slice(sub["seg"])
            ph_slices[f"phantom seed {k}"] = {s: data[s][:, :, z].T for s in SEQS} | {"seg": sub["seg"][:, :, z].T}

    def summary(stats: dict) -> dict:
        out = {}
        for s in SEQS:
            out[s] = {}
            for t in ("csf", "grey_matter", "core_label1", "oedema_label2", "enhancing_label4"):
                vals = [c["ratios_to_white_matter"][s][t] for c in stats.values()
                        if c["ratios_to_white_matter"][s][t] is not None]
                out[s][t] = [round(min(vals), 2), round(max(vals), 2)] if vals else None
        for key in ("tumour_equiv_diameter_mm", "tumour_volume_cm3"):
            vals = [c[key] for c in stats.values()]
            out[key] = [min(vals), max(vals)]
        return out

    result = {"real": real, "phantom": phantom, "summary_real": summary(real), "summary_phantom": summary(phantom)}
    atomic_write_text(ROOT / "benchmarks" / "results" / "phantom_stats.json", json.dumps(result, indent=2) + "\n")

    print("intensity / white matter, range over cases (real samples | phantom subjects 0-5)")
    print(f"{'seq':6s} {'tissue':18s} {'real':>14s} {'phantom':>14s}")
    for s in SEQS:
        for t in ("csf", "grey_matter", "core_label1", "oedema_label2", "enhancing_label4"):
            r, p = result["summary_real"][s][t], result["summary_phantom"][s][t]
            fmt = lambda v: "-" if v is None else f"{v[0]:.2f}-{v[1]:.2f}"  # noqa: E731
            print(f"{s:6s} {t:18s} {fmt(r):>14s} {fmt(p):>14s}")
    for key in ("tumour_equiv_diameter_mm", "tumour_volume_cm3"):
        print(f"{key}: real {result['summary_real'][key]}  phantom {result['summary_phantom'][key]}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    rows = list(real_slices.items()) + list(ph_slices.items())
    cols = (*SEQS, "seg")
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.2 * len(cols), 2.3 * len(rows)))
    seg_cmap = ListedColormap(["black", "tab:red", "tab:green", "black", "yellow"])
    for r, (name, sl) in enumerate(rows):
        for c, s in enumerate(cols):
            ax = axes[r, c]
            img = sl[s]
            if s == "seg":
                ax.imshow(img, cmap=seg_cmap, vmin=0, vmax=4, interpolation="nearest")
            else:
                img = np.maximum(img, 0)
                ax.imshow(img / max(img.max(), 1e-6), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(s.upper() if s != "seg" else "labels 1/2/4", fontsize=10)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle("Real BraTS-layout samples (TCGA via TCIA, top) vs fusioninn phantom (bottom); "
                 "largest tumour slice, per-slice min-max", fontsize=9)
    fig.tight_layout()
    target = ROOT / "docs" / "figures" / "phantom_vs_real.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
