"""Split one BraTS case into training slices and a held-out slab of its tumour slices (issue #17 selection).

    python benchmarks/holdout_slab.py ../shared/data/brats-samples/TCGA-DU-7294 runs/du7294-slab \
        --hold 107-117 --margin 5

With one real training case, weights chosen on slices they were trained on reward remembering that case.
This writes ``OUT/train.h5`` (every slice with brain, ``slices="all"``, except the held-out slab and
``--margin`` slices either side of it: neighbouring slices of a 1 mm volume are nearly the same image) and
``OUT/heldout-tumour.h5`` (the tumour slices of the slab), both in our HDF5 layout, so that

    fusioninn train --data phantom:600:1 --data OUT/train.h5 ...
    python benchmarks/fused_image_criteria.py --set selection --real OUT/heldout-tumour.h5 --model ...

selects on real slices the weights never saw. It is still the same patient, scanner and normalisation: a
lower bound on the gap to a new case, not a measure of it. A new case's sequences also differ in contrast,
so the held-out slab is written three more times with its intensities shifted, each a stress test of its
own (``--real OUT/heldout-<name>.h5``):

- ``gamma-a``: T1ce to the power 0.75, FLAIR to 1.33; ``gamma-b``: the other way round;
- ``bias``: both sources times a smooth multiplicative field exp(0.35·(u + v)/√2) (u, v the image
  coordinates scaled to [-1, 1], a linear MRI bias field; no training augmentation draws one), rescaled
  to [0, 1] per slice as the loader does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fusioninn.data.hdf5 import write_h5
from fusioninn.data.spec import load_pairs

SHIFTS = ("gamma-a", "gamma-b", "bias")


def shifted(images: np.ndarray, name: str) -> np.ndarray:
    """``images`` (N, 2, H, W) in [0, 1] with the contrast shift ``name`` (module docstring)."""
    x = images.astype(np.float64)
    if name == "gamma-a":
        x = np.stack([x[:, 0] ** 0.75, x[:, 1] ** (1 / 0.75)], 1)
    elif name == "gamma-b":
        x = np.stack([x[:, 0] ** (1 / 0.75), x[:, 1] ** 0.75], 1)
    elif name == "bias":
        h, w = x.shape[-2:]
        v, u = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
        x = x * np.exp(0.35 * (u + v) / np.sqrt(2))
        top = x.max(axis=(2, 3), keepdims=True)
        x = x / np.where(top > 0, top, 1)
    else:
        raise ValueError(f"unknown shift {name!r}")
    return np.clip(x, 0, 1).astype(np.float32)


def _span(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST slice indices, got {text!r}") from None
    if not 0 <= a <= b:
        raise argparse.ArgumentTypeError(f"need 0 <= FIRST <= LAST, got {text!r}")
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", help="one BraTS subject folder")
    ap.add_argument("out", help="folder for train.h5, heldout-tumour.h5 and the shifted copies (created; must not "
                                "hold them yet)")
    ap.add_argument("--hold", type=_span, required=True, metavar="FIRST-LAST",
                    help="axial slice indices of the held-out slab (inclusive)")
    ap.add_argument("--margin", type=int, default=5, help="slices either side of the slab left out of training")
    ap.add_argument("--pair", default="t1ce,flair")
    args = ap.parse_args()
    if args.margin < 0:
        ap.error(f"--margin must be >= 0, got {args.margin}")
    out = Path(args.out)
    targets = [out / "train.h5", out / "heldout-tumour.h5", *(out / f"heldout-{n}.h5" for n in SHIFTS)]
    existing = [t.name for t in targets if t.exists()]
    if existing:
        ap.error(f"{out}: already holds {', '.join(existing)}")
    pair = tuple(args.pair.split(","))
    every = load_pairs(args.case, pair=pair, slices="all")
    tumour = load_pairs(args.case, pair=pair, slices="tumour")
    lo, hi = args.hold
    train = (every.slice_index < lo - args.margin) | (every.slice_index > hi + args.margin)
    held = (tumour.slice_index >= lo) & (tumour.slice_index <= hi)
    if not held.any():
        ap.error(f"--hold {lo}-{hi}: no tumour slice of {args.case} in that range "
                 f"(tumour slices {tumour.slice_index.min()}-{tumour.slice_index.max()})")
    out.mkdir(parents=True, exist_ok=True)
    sets = [(targets[0], every, train, None), (targets[1], tumour, held, None)]
    sets += [(t, tumour, held, n) for t, n in zip(targets[2:], SHIFTS, strict=True)]
    for target, data, keep, shift in sets:
        idx = np.flatnonzero(keep)
        images = data.images[idx] if shift is None else shifted(data.images[idx], shift)
        write_h5(target, images, channels=pair, subject_ids=[data.subject_ids[i] for i in idx],
                 slice_index=data.slice_index[idx], seg=None if data.seg is None else data.seg[idx])
    print(f"{targets[0]}: {int(train.sum())} of {len(every.images)} slices with brain; {targets[1]}: "
          f"{int(held.sum())} tumour slices ({lo}-{hi}), and shifted: {', '.join(SHIFTS)}; left out of training: "
          f"the slab and {args.margin} slices either side")


if __name__ == "__main__":
    main()
