"""Fused images at 4x zoom beside the rules': can one see a pixel-grid pattern?

    python benchmarks/zoom_figure.py --model v1=fusioninn-v1 --model fusioninn=fusioninn \\
        --out docs/figures/zoom_4x.png

Two rows: a real tumour slice (T1ce + FLAIR, the slice of ``--real`` with the most content in both
sources) and an MRI + PET-style pair from the phantom (T1 + the PET-like sequence, ``--pet``). Each row
shows both sources and the fused images of every ``--model`` and of the average, maximum, Laplacian and
guided-filter rules, all cut to the same 56 x 56 window and enlarged 4x with nearest-neighbour
interpolation (every pixel a 4 x 4 block, so a two-pixel pattern stays a pattern). The window is where the
first model's fused image has the strongest local grid amplitude - the place to look for the artefact;
each title gives the whole image's RMS grid amplitude in grey levels (fusioninn.metrics.grid).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fusioninn.data.spec import load_pairs
from fusioninn.losses.grid import _demodulated
from fusioninn.methods import resolve_methods
from fusioninn.metrics.grid import grid_amplitude

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats-samples"
WINDOW = 56
RULES = ["average", "maximum", "laplacian", "guided"]


def _pick_slice(x: np.ndarray) -> int:
    return int(np.argmax((x[:, 0] > 0.05).mean((1, 2)) + (x[:, 1] > 0.05).mean((1, 2))))


def _strongest_window(fused: np.ndarray) -> tuple[int, int]:
    d = _demodulated(torch.from_numpy(fused[None, None].astype(np.float32)))[0, 0]  # (3, H-2, W-2)
    local = F.avg_pool2d(d, 8, stride=1).pow(2).sum(0)
    i, j = np.unravel_index(int(local.argmax()), tuple(local.shape))
    h, w = fused.shape
    top = int(np.clip(i + 5 - WINDOW // 2, 0, h - WINDOW))
    left = int(np.clip(j + 5 - WINDOW // 2, 0, w - WINDOW))
    return top - top % 2, left - left % 2  # keep the pixel grid's phase


def _row(x: np.ndarray, names: tuple[str, str], models: dict[str, str | None]) -> list[tuple[str, np.ndarray]]:
    panels = [(names[0], x[0]), (names[1], x[1])]
    methods = []
    for label, path in models.items():
        m = resolve_methods(["fusioninn"], path)[0]
        m.name = label
        methods.append(m)
    methods += resolve_methods(RULES)
    for m in methods:
        panels.append((m.name, m.fuse(x[None].astype(np.float32))[0]))
    return panels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=PATH_OR_NAME")
    ap.add_argument("--real", default=str(SAMPLES / "TCGA-FG-6692"), help="BraTS folder (its tumour slices)")
    ap.add_argument("--pet", default="phantom:50:4242", help="phantom spec for the T1 + PET-like pair")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    models = dict(m.split("=", 1) for m in args.model) if args.model else {"fusioninn": None}

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    real = load_pairs(args.real, pair=("t1ce", "flair")).images
    rows.append((f"{Path(args.real).name} (T1ce + FLAIR)", _row(real[_pick_slice(real)], ("T1ce", "FLAIR"), models)))
    pet = load_pairs(args.pet, pair=("t1", "pet")).images
    rows.append((f"{args.pet} (T1 + PET-like)", _row(pet[_pick_slice(pet)], ("T1", "PET-like"), models)))
    cols = len(rows[0][1])
    fig, axes = plt.subplots(2, cols, figsize=(2.2 * cols, 6.0), squeeze=False)
    for r, (label, panels) in enumerate(rows):
        top, left = _strongest_window(panels[2][1])
        for c, (name, img) in enumerate(panels):
            crop = img[top : top + WINDOW, left : left + WINDOW]
            ax = axes[r, c]
            ax.imshow(np.kron(crop, np.ones((4, 4))), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}\ngrid {255 * grid_amplitude(img):.2f} grey lv.", fontsize=8)
        axes[r, 0].set_ylabel(f"{label}\nrows {top}-{top + WINDOW}, cols {left}-{left + WINDOW}", fontsize=7)
    fig.suptitle("4x zoom (nearest neighbour) where the first model's grid is strongest", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
