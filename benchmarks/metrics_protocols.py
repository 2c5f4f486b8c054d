"""How far apart the `full` and `reference` metric protocols land: oracle triplets and real BraTS slices.

Run:
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_protocols.py --json benchmarks/results/metrics_protocols.json

1. The oracle triplets in ../shared/oracle/cases (8-bit PNGs): both protocols next to the stored MATLAB
   values.
2. Real slices (needs ../shared/data/brats-samples; skipped when absent): the tumour slices (>= 50 voxels
   with a tumour label, 43 slices) of TCGA-FG-6692, T1ce and FLAIR read with nibabel, reoriented to RAS
   (np.rot90 of each axial slice for display orientation), negatives clipped to 0, per-slice min-max to
   [0, 1], fused by the average rule. Mean ± std over slices for both protocols.
Data: TCGA-FG-6692 from TCGA via TCIA, BraTS-style preprocessing (see the folder's README).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fusioninn.atomic import atomic_write_text  # noqa: E402
from fusioninn.metrics import METRIC_KEYS, compute_all  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
ORACLE = ROOT.parent / "shared" / "oracle"
SAMPLES = ROOT.parent / "shared" / "data" / "brats-samples"
ORACLE_KEYS = {"q_ssim": "ssim_index_centre", "q_fmi": "fmi", "q_ncie": "ncie", "q_xy": "qabf", "q_p": "piella"}


def oracle_rows() -> list[dict]:
    from PIL import Image

    if not (ORACLE / "expected.json").is_file():
        return []
    expected = json.loads((ORACLE / "expected.json").read_text())
    rows = []
    for case, values in sorted(expected.items()):
        a, b, f = (np.array(Image.open(ORACLE / "cases" / case / f"{n}.png")) for n in ("a", "b", "fused"))
        full, ref = compute_all(a, b, f, "full"), compute_all(a, b, f, "reference")
        for key, okey in ORACLE_KEYS.items():
            rows.append({"case": case, "metric": key, "matlab": values[okey], "reference": ref[key],
                         "full": full[key]})
    return rows


def brats_slices(subject: str = "TCGA-FG-6692", min_tumour: int = 50) -> list[np.ndarray]:
    import nibabel as nib

    folder = SAMPLES / subject
    vols = {}
    for name in ("t1ce", "flair", "seg"):
        img = nib.as_closest_canonical(nib.load(folder / f"{subject}_{name}.nii.gz"))
        vols[name] = np.asarray(img.dataobj, dtype=np.float64)
    keep = np.flatnonzero((vols["seg"] > 0).sum(axis=(0, 1)) >= min_tumour)
    pairs = []
    for z in keep:
        pair = []
        for name in ("t1ce", "flair"):
            x = np.clip(np.rot90(vols[name][:, :, z]), 0.0, None)
            span = x.max() - x.min()
            pair.append((x - x.min()) / span if span > 0 else np.zeros_like(x))
        pairs.append(np.stack(pair))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    payload: dict = {"command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_protocols.py "
                     + " ".join(sys.argv[1:] if argv is None else argv)}

    rows = oracle_rows()
    payload["oracle"] = rows
    if rows:
        print("oracle triplets: MATLAB value, our reference protocol, our full protocol")
        print(f"{'case':<9} {'metric':<7} {'MATLAB':>9} {'reference':>10} {'|diff|':>9} {'full':>9}")
        for r in rows:
            print(f"{r['case']:<9} {r['metric']:<7} {r['matlab']:9.5f} {r['reference']:10.5f} "
                  f"{abs(r['reference'] - r['matlab']):9.1e} {r['full']:9.5f}")

    if (SAMPLES / "TCGA-FG-6692").is_dir():
        pairs = brats_slices()
        scores = {p: {k: [] for k in METRIC_KEYS} for p in ("full", "reference")}
        for pair in pairs:
            fused = pair.mean(axis=0)
            for protocol in scores:
                for k, v in compute_all(pair[0], pair[1], fused, protocol).items():
                    scores[protocol][k].append(v)
        summary = {
            p: {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in s.items()}
            for p, s in scores.items()
        }
        payload["brats"] = {"subject": "TCGA-FG-6692", "slices": len(pairs), "fusion": "average",
                            "preprocessing": "RAS, negatives clipped to 0, per-slice min-max", "scores": summary}
        print(f"\nTCGA-FG-6692, {len(pairs)} tumour slices, average-rule fusion (mean ± std over slices)")
        print(f"{'metric':<7} {'full':>17} {'reference':>17} {'full - ref':>11}")
        for k in METRIC_KEYS:
            f, r = summary["full"][k], summary["reference"][k]
            print(f"{k:<7} {f['mean']:8.4f} ± {f['std']:6.4f} {r['mean']:8.4f} ± {r['std']:6.4f} "
                  f"{f['mean'] - r['mean']:11.4f}")
    else:
        print(f"\n{SAMPLES} not found: BraTS part skipped")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
