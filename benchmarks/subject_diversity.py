"""Write the data of the subject-diversity experiment of issue #17: one training subject against eight.

    python benchmarks/subject_diversity.py runs/diversity --spread 0.2

Pattern-free decomposition on the one real training case (TCGA-DU-7294) did not carry over to the test
case, and held-out slices of the training case did not predict that (docs/training.md, third round). With
two real cases there is no second training patient to check the obvious explanation: that what a
decomposition learns from one patient is that patient. The phantom can stand in for a cohort. This writes,
in our HDF5 layout, a "site" of phantom subjects whose tissue contrasts vary per subject by a factor in
1 ± ``--spread`` (the shipped phantom data vary by 1 ± 0.07, see ``fusioninn phantom --contrast-spread``):

- ``OUT/one.h5``: every slice with brain of one subject (seed ``--seed``), written ``--subjects`` times
  over, so that a run sees as many site images per epoch as with ``many.h5``;
- ``OUT/many.h5``: every slice with brain of ``--subjects`` subjects (seeds ``--seed`` onwards);
- ``OUT/own-tumour.h5``: the tumour slices of the one subject (what the one-subject run was trained on);
- ``OUT/new-tumour.h5``: the tumour slices of ``--new`` further subjects no run sees (seeds from
  ``--seed + 1000``), the stand-in for a new patient.

Then train both from the same start and score both on ``new-tumour.h5``:

    fusioninn train BASE --data phantom:600:1 --data OUT/one.h5 --out runs/div-one
    fusioninn train BASE --data phantom:600:1 --data OUT/many.h5 --out runs/div-many
    python benchmarks/fused_image_criteria.py --set selection --sets 1 --real OUT/new-tumour.h5 \
        --model one=runs/div-one/last.safetensors --model many=runs/div-many/last.safetensors
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fusioninn.data.hdf5 import write_h5
from fusioninn.data.phantom import check_contrast_spread, write_phantom_subjects
from fusioninn.data.spec import load_pairs
from fusioninn.errors import DataError

PAIR = ("t1ce", "flair")
NAMES = ("one.h5", "many.h5", "own-tumour.h5", "new-tumour.h5")


def _write(target: Path, sets: list) -> int:
    images = np.concatenate([s.images for s in sets])
    seg = None if any(s.seg is None for s in sets) else np.concatenate([s.seg for s in sets])
    write_h5(target, images, channels=PAIR, subject_ids=[i for s in sets for i in s.subject_ids],
             slice_index=np.concatenate([s.slice_index for s in sets]), seg=seg)
    return len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="folder for one.h5, many.h5, own-tumour.h5, new-tumour.h5 (must not hold them)")
    ap.add_argument("--spread", type=float, default=0.2, help="per-subject contrast spread (default 0.2)")
    ap.add_argument("--subjects", type=int, default=8, help="training subjects of many.h5 (default 8)")
    ap.add_argument("--new", type=int, default=3, help="held-out subjects of new-tumour.h5 (default 3)")
    ap.add_argument("--seed", type=int, default=5000, help="seed of the first subject (default 5000)")
    args = ap.parse_args()
    try:
        check_contrast_spread(args.spread)
    except DataError:
        ap.error(f"--spread must be in [0, 1), got {args.spread}")
    if args.subjects < 1 or args.new < 1:
        ap.error("--subjects and --new must be >= 1")
    out = Path(args.out)
    existing = [n for n in NAMES if (out / n).exists()]
    if existing:
        ap.error(f"{out}: already holds {', '.join(existing)}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fusioninn-diversity-") as tmp:
        def cohort(seed: int, n: int) -> list[Path]:
            return write_phantom_subjects(Path(tmp) / f"s{seed}", n, seed=seed, sequences=PAIR, compress=False,
                                          contrast_spread=args.spread)

        def read(folders: list[Path], slices: str) -> list:
            return [load_pairs(str(f), pair=PAIR, slices=slices) for f in folders]

        site = cohort(args.seed, args.subjects)
        train, own = read(site, "all"), read(site[:1], "tumour")
        new = read(cohort(args.seed + 1000, args.new), "tumour")
        out.mkdir(parents=True, exist_ok=True)
        counts = [_write(out / NAMES[0], train[:1] * args.subjects), _write(out / NAMES[1], train),
                  _write(out / NAMES[2], own), _write(out / NAMES[3], new)]
    for name, n in zip(NAMES, counts, strict=True):
        print(f"{out / name}: {n} slices")
    print(f"spread {args.spread}: {args.subjects} training subjects, {args.new} new ones, "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
