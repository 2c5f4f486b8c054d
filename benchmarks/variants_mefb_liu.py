"""Same-named metric variants side by side: the MEFB / Liu / FusionINN / VIFB readings on the same images.

Run:
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/variants_mefb_liu.py --json benchmarks/results/variants_mefb_liu.json

Image sets (each skipped when its folder under ../shared is absent):
1. oracle: the two 240x240 triplets of ../shared/oracle/cases.
2. brats: the 43 tumour slices of TCGA-FG-6692 as in benchmarks/metrics_protocols.py (T1ce, FLAIR, negatives
   clipped, per-slice min-max, average-rule fusion), quantised to 8 bits.
3. vifb: the 21 visible/infrared pairs of ../shared/data/vifb-sample with the fused images of its four
   methods (84 triplets, colour; each key's own colour rule).
Prints, per family, the mean (and for brats/vifb the std) of every variant, and writes them as JSON. Keys
missing from the catalogue (e.g. VIFB kernels not on this branch) are left out.

``--octave`` also prints, per key, the largest relative difference from the Octave runs of the MEFB and
Liu files stored in tests/metrics/fixtures/octave_reference.json (the test's comparison, as a table).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from fusioninn.atomic import atomic_write_text  # noqa: E402
from fusioninn.metrics import compute, registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

FAMILIES = {
    "Q^AB/F": ["qabf@fusioninn", "qabf@liu", "qabf@vifb", "qabf@mefb", "q_xy"],
    "SSIM": ["ssim@fusioninn", "ssim@liu", "ssim@vifb", "q_ssim"],
    "Piella Q (FusionINN's Q_P)": ["piella@fusioninn", "qs@liu", "q_p", "qw@liu", "qw@mefb", "qe@piella"],
    "Zhao's phase-congruency Qp (MEFB's qp)": ["qp@mefb"],
    "FMI": ["fmi@fusioninn", "fmi@haghighat2014", "fmi@mefb", "fmi_edge@haghighat2014"],
    "MI": ["mi@qu", "mi@vifb", "nmi@liu"],
    "Tsallis": ["te@liu", "te@cvejic2006", "te_nava@liu"],
    "Q_C (Cvejic)": ["qc@liu", "qc@mefb", "qc@cvejic2005"],
    "Q_Y (Yang)": ["qy@liu", "qy@mefb", "qy@yang2008"],
    "NCIE": ["qncie@liu", "q_ncie"],
    "PSNR": ["psnr@mefb", "psnr@fusioninn"],
    "others (MEFB/Liu only)": ["vif@mefb", "mef_ssim@mefb", "qsf@liu", "qm@liu"],
}


def _oracle() -> list[tuple[str, list[np.ndarray]]]:
    folder = SHARED / "oracle" / "cases"
    if not folder.is_dir():
        return []
    return [
        (c.name, [np.array(Image.open(c / f"{n}.png")) for n in ("a", "b", "fused")]) for c in sorted(folder.iterdir())
    ]


def _brats() -> list[tuple[str, list[np.ndarray]]]:
    if not (SHARED / "data" / "brats-samples").is_dir():
        return []
    spec = importlib.util.spec_from_file_location("metrics_protocols", ROOT / "benchmarks" / "metrics_protocols.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = []
    for i, pair in enumerate(module.brats_slices()):
        t1ce, flair = pair
        fused = (t1ce + flair) / 2
        out.append((f"slice{i}", [np.floor(255 * x + 0.5).astype(np.uint8) for x in (t1ce, flair, fused)]))
    return out


def _vifb() -> list[tuple[str, list[np.ndarray]]]:
    folder = SHARED / "data" / "vifb-sample"
    if not folder.is_dir():
        return []
    out = []
    for f in sorted((folder / "fused").glob("*.jpg")):
        stem = f.stem.rsplit("_", 1)[0]
        a = np.array(Image.open(folder / "input" / "VI" / f"{stem}.jpg"))
        b = np.array(Image.open(folder / "input" / "IR" / f"{stem}.jpg"))
        out.append((f.stem, [a, b, np.array(Image.open(f))]))
    return out


def _octave_agreement() -> dict:
    """Largest relative difference per key from the Octave fixture (round-off cases listed apart)."""
    spec = importlib.util.spec_from_file_location("oct", ROOT / "tests" / "metrics" / "test_octave_reference.py")
    test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test)
    known = registry.catalogue()
    worst: dict[str, dict] = {}
    for e in test._entries():
        key = test.KEYS[(e["toolbox"].replace("-rgb", ""), e["metric"])]
        if key is None or key not in known or e["error"]:
            continue
        images = []
        for p, st in zip(e["images"], e["pixel_stats"], strict=True):
            img = np.array(Image.open(SHARED / p))
            if img.ndim == 3 and st[2] == 1 and (img == img[..., :1]).all():
                img = img[..., 0]
            images.append(img)
        got = compute(*images, names=[key])[key]
        want = e["value"]
        row = worst.setdefault(key, {"n": 0, "max_rel": 0.0, "nan_both": 0, "roundoff": []})
        row["n"] += 1
        if (key, e["images"][2]) in test.ROUNDOFF:
            row["roundoff"].append({"image": e["images"][2], "octave": want, "ours": got})
        elif want is None:
            row["nan_both"] += int(bool(np.isnan(got)))
        else:
            row["max_rel"] = max(row["max_rel"], abs(got - want) / max(abs(want), 1e-12))
    print("\n[octave] largest relative difference per key (n triplets; NaN where Octave gives NaN)")
    for key, row in worst.items():
        extra = f", {row['nan_both']} NaN in both" if row["nan_both"] else ""
        extra += "".join(
            f", {Path(r['image']).parent.name}: Octave {r['octave']:.4g} vs {r['ours']:.4g} (round-off)"
            for r in row["roundoff"]
        )
        print(f"  {key:24s} n={row['n']}  max rel {row['max_rel']:.1e}{extra}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--sets", default="oracle,brats,vifb", help="comma-separated subset of oracle,brats,vifb")
    parser.add_argument("--octave", action="store_true", help="also compare with the Octave fixture")
    parser.add_argument("--vifb-every", type=int, default=1, help="use every K-th VIFB triplet (default all 84)")
    args = parser.parse_args(argv)
    known = registry.catalogue()
    keys = [k for family in FAMILIES.values() for k in family if k in known]
    loaders = {"oracle": _oracle, "brats": _brats, "vifb": _vifb}
    payload: dict = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/variants_mefb_liu.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "sets": {},
    }
    for name in args.sets.split(","):
        triplets = loaders[name]()
        if name == "vifb":
            triplets = triplets[:: args.vifb_every]
        if not triplets:
            print(f"[{name}] skipped: images not found under {SHARED}")
            continue
        t0 = time.perf_counter()
        values = {k: [] for k in keys}
        per_image = {}
        cpu_ms = {k: [] for k in keys}
        total_ms = []
        all_ms = []
        for label, (a, b, f) in triplets:
            scores = {}
            t_all = time.process_time()
            for k in keys:  # one at a time to time each (each call cold: intermediates are shared within a call)
                t = time.process_time()
                scores.update(compute(a, b, f, names=[k]))
                cpu_ms[k].append(1000 * (time.process_time() - t))
            total_ms.append(1000 * (time.process_time() - t_all))
            if name != "vifb":  # 240x240 grey sets: also a cold call of every registered key
                t = time.process_time()
                compute(a, b, f, names="all")
                all_ms.append(1000 * (time.process_time() - t))
            per_image[label] = scores
            for k in keys:
                values[k].append(scores[k])
        summary = {
            k: {"mean": float(np.nanmean(v)), "std": float(np.nanstd(v)), "nan": int(np.isnan(v).sum())}
            for k, v in values.items()
        }
        for k in keys:
            summary[k]["cpu_ms_median"] = float(np.median(cpu_ms[k]))
        payload["sets"][name] = {
            "n": len(triplets),
            "summary": summary,
            "cpu_ms_these_keys_median": float(np.median(total_ms)),
            "cpu_ms_names_all_median": float(np.median(all_ms)) if all_ms else None,
            "keys_in_all": len(known),
            "per_image": per_image,
        }
        cold = f"; compute(names='all'), {len(known)} keys, cold: median {np.median(all_ms):.0f} ms" if all_ms else ""
        print(
            f"\n[{name}] {len(triplets)} triplets ({time.perf_counter() - t0:.1f} s; these {len(keys)} keys: "
            f"median {np.median(total_ms):.0f} ms CPU per triplet{cold})"
        )
        for family, members in FAMILIES.items():
            present = [k for k in members if k in summary]
            if not present:
                continue
            cells = []
            for k in present:
                s = summary[k]
                nan = f" ({s['nan']} NaN)" if s["nan"] else ""
                cells.append(f"{k} {s['mean']:.4g}±{s['std']:.2g}{nan}")
            print(f"  {family}: " + " | ".join(cells))
        ranked = sorted(keys, key=lambda k: -summary[k]["cpu_ms_median"])
        print("  CPU ms per key (median): " + ", ".join(f"{k} {summary[k]['cpu_ms_median']:.1f}" for k in ranked))
    if args.octave:
        payload["octave"] = _octave_agreement()
    if args.json:
        atomic_write_text(args.json, json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
