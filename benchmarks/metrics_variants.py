"""Variants of the same metric side by side, and VIFB's metrics against VIFB's stored MATLAB values.

Run:
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_variants.py --json benchmarks/results/metrics_variants.json

1. Agreement: every ``<name>@vifb`` key on the fused images of ../shared/data/vifb-sample against the values
   VIFB's MATLAB code stored for them (``matlab_metrics.json``, 5 significant digits): median and max
   relative error per metric. ``--vifb-root DIR`` instead reads a full VIFB checkout (``input/``,
   ``output/fused_images/``, ``output/evaluation_metrics_single/``), e.g. 21 pairs x 25 methods;
   ``--agreement-only`` skips parts 2 and 3 (results then go to a separate ``--json`` file), ``--stride N``
   takes every N-th fused image.
2. Differences between variants of one metric on the same images - VIFB's colour images (each variant
   with its own colour rule) and real BraTS slices (the 43 tumour slices of TCGA-FG-6692, average fusion,
   see benchmarks/metrics_protocols.py; on VIFB every ``--every``-th fused image, default 3, i.e. 28 of the
   84, to keep the run short): for every pair of keys of one family (``qabf@vifb`` vs ``q_xy`` vs
   the Liu toolbox's numbers ...), the median of the two, the median difference and the median and max of
   |difference| / |second|. The paper's five also appear under their ``reference`` protocol
   (``q_xy[reference]``: the MATLAB code behind the FusionINN table, the Liu toolbox as it ran).
3. Where ``qabf@vifb`` and ``q_xy`` part (same constants): VIFB's code step by step turned into the
   paper's reading - grey instead of per-channel, orientation folded modulo pi, interior pixels only -
   on the same VIFB images, the median change each step makes.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_protocols import SAMPLES, brats_slices  # noqa: E402

from fusioninn.atomic import atomic_write_text  # noqa: E402
from fusioninn.errors import UserInputError  # noqa: E402
from fusioninn.metrics import compute, registry  # noqa: E402
from fusioninn.metrics.paper import REFERENCE_FUNCTIONS  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
VIFB_SAMPLE = ROOT.parent / "shared" / "data" / "vifb-sample"
VIFB_NAMES = {
    "Avg_gradient": "ag", "Cross_entropy": "ce", "Edge_intensity": "ei", "Entropy": "en", "Mutinf": "mi",
    "Psnr": "psnr", "Qabf": "qabf", "Qcb": "qcb", "Qcv": "qcv", "Rmse": "rmse", "Spatial_frequency": "sf",
    "Ssim": "ssim", "Variance": "sd",
}
#: Families: the paper's keys carry no source suffix; MEFB's qp (Zhao) is not the paper's q_p (Piella).
FAMILY_OF = {"q_xy": "qabf", "q_ssim": "ssim", "q_fmi": "fmi", "q_ncie": "qncie", "q_p": "piella"}


def family(key: str) -> str:
    base = key.split("[")[0].split("@")[0]
    return FAMILY_OF.get(base, base)


def vifb_items(root: Path | None) -> list[tuple[str, Path, Path, Path, dict[str, float]]]:
    """(name, visible, infrared, fused, stored values by VIFB metric name) for each fused image."""
    if root is None:
        if not (VIFB_SAMPLE / "matlab_metrics.json").is_file():
            return []
        stored = json.loads((VIFB_SAMPLE / "matlab_metrics.json").read_text())
        return [(k, VIFB_SAMPLE / "input" / "VI" / f"{k.rsplit('_', 1)[0]}.jpg",
                 VIFB_SAMPLE / "input" / "IR" / f"{k.rsplit('_', 1)[0]}.jpg", VIFB_SAMPLE / "fused" / f"{k}.jpg", v)
                for k, v in sorted(stored.items())]
    items = []
    single = root / "output" / "evaluation_metrics_single"
    pairs = sorted((p.stem for p in (root / "input" / "VI").glob("*.jpg")), key=len, reverse=True)
    for fused in sorted((root / "output" / "fused_images").glob("*.jpg")):
        values = {}
        for metric in VIFB_NAMES:
            txt = single / f"{fused.stem}_{metric}.txt"
            if txt.is_file():
                values[metric] = float(txt.read_text().split()[0])
        pair = next(p for p in pairs if fused.stem.startswith(p + "_"))  # methods may hold "_" (LP_SR)
        items.append((fused.stem, root / "input" / "VI" / f"{pair}.jpg", root / "input" / "IR" / f"{pair}.jpg",
                      fused, values))
    return items


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


def score(a, b, f, keys: list[str]) -> dict[str, float]:
    """Every key that can score the images with a finite value (MS-SSIM needs sides > 160), plus the paper's
    reference protocol."""
    out: dict[str, float] = {}
    for key in keys:
        try:
            value = compute(a, b, f, [key])[key]
        except UserInputError:
            continue
        if np.isfinite(value):  # the Liu qc/qy give NaN on zero backgrounds, as their MATLAB files do
            out[key] = value
    ref = compute(a, b, f, list(REFERENCE_FUNCTIONS), protocol="reference")
    out.update({f"{k}[reference]": v for k, v in ref.items()})
    return out


def qabf_steps(a: np.ndarray, b: np.ndarray, f: np.ndarray, fold: bool, interior: bool) -> float:
    """VIFB's Q^AB/F formula on grey 0..255 images, optionally orientation mod pi and/or interior only."""
    from fusioninn.metrics.vifb_qabf import _DA, _DG, _KA, _KG, _TA, _TG, _strength_orientation

    g, alpha = _strength_orientation(np.stack([a, b, f]))
    if interior:
        g, alpha = g[:, 1:-1, 1:-1], alpha[:, 1:-1, 1:-1]
    num = den = 0.0
    for s in (0, 1):
        hi = np.maximum(g[s], g[2])
        ratio = np.divide(np.minimum(g[s], g[2]), hi, out=np.ones_like(hi), where=hi > 0)
        d = np.abs(alpha[s] - alpha[2])
        if fold:
            d = np.minimum(d % np.pi, np.pi - d % np.pi)
        q = _TG / (1 + np.exp(_KG * (ratio - _DG))) * _TA / (1 + np.exp(_KA * (1 - d / (np.pi / 2) - _DA)))
        num += float((q * g[s]).sum())
        den += float(g[s].sum())
    return num / den


def qabf_breakdown(items, every: int) -> dict:
    from fusioninn.metrics._colour import rgb2gray

    steps: dict[str, list[float]] = {k: [] for k in ("qabf@vifb", "grey", "grey+fold", "grey+fold+interior",
                                                     "q_xy")}
    for n, (_name, vi, ir, fused, _stored) in enumerate(items):
        if n % every:
            continue
        a, b, f = _read(vi), _read(ir), _read(fused)
        ga, gb, gf = (rgb2gray(x.astype(float), True) if x.ndim == 3 else x.astype(float) for x in (a, b, f))
        steps["qabf@vifb"].append(compute(a, b, f, "qabf@vifb")["qabf@vifb"])
        steps["grey"].append(qabf_steps(ga, gb, gf, fold=False, interior=False))
        steps["grey+fold"].append(qabf_steps(ga, gb, gf, fold=True, interior=False))
        steps["grey+fold+interior"].append(qabf_steps(ga, gb, gf, fold=True, interior=True))
        steps["q_xy"].append(compute(a, b, f, "q_xy")["q_xy"])
    names = list(steps)
    out = {"n": len(steps["q_xy"]), "median": {k: float(np.median(v)) for k, v in steps.items()}}
    pairs = zip(names, names[1:], strict=False)
    out["median_step_change"] = {
        f"{p} -> {q}": float(np.median(np.array(steps[q]) - np.array(steps[p]))) for p, q in pairs
    }
    return out


def differences(rows: list[dict[str, float]]) -> list[dict]:
    keys = sorted({k for r in rows for k in r})
    by_family: dict[str, list[str]] = {}
    for k in keys:
        by_family.setdefault(family(k), []).append(k)
    out = []
    for fam, members in sorted(by_family.items()):
        for k1, k2 in itertools.combinations(members, 2):
            both = [(r[k1], r[k2]) for r in rows if k1 in r and k2 in r]
            if not both:
                continue
            x, y = np.array(both).T
            rel = np.abs(x - y) / np.maximum(np.abs(y), 1e-12)
            out.append({"family": fam, "a": k1, "b": k2, "n": len(both), "median_a": float(np.median(x)),
                        "median_b": float(np.median(y)), "median_diff": float(np.median(x - y)),
                        "median_rel": float(np.median(rel)), "max_rel": float(rel.max())})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vifb-root", type=Path, help="a full VIFB checkout (default: ../shared sample)")
    parser.add_argument("--every", type=int, default=3, help="VIFB images for the differences: every n-th")
    parser.add_argument("--agreement-only", action="store_true", help="only part 1 (e.g. with --vifb-root)")
    parser.add_argument("--stride", type=int, default=1, help="part 1 on every n-th fused image (default all)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    keys = list(registry.catalogue())
    payload: dict = {"command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics_variants.py "
                     + " ".join(sys.argv[1:] if argv is None else argv), "keys": keys}

    items = vifb_items(args.vifb_root)[:: args.stride]
    rel: dict[str, list[float]] = {m: [] for m in VIFB_NAMES}
    by_method: dict[str, dict[str, float]] = {}  # method -> worst relative error over its images and metrics
    vifb_rows = []
    for n, (name, vi, ir, fused, stored) in enumerate(items):
        a, b, f = _read(vi), _read(ir), _read(fused)
        if n % args.every == 0 and not args.agreement_only:
            row = score(a, b, f, keys)
            vifb_rows.append(row)
        else:
            row = compute(a, b, f, "vifb")
        for metric, short in VIFB_NAMES.items():
            if metric in stored and np.isfinite(stored[metric]) and stored[metric] != 0:
                err = abs(row[f"{short}@vifb"] - stored[metric]) / abs(stored[metric])
                rel[metric].append(err)
                method = name[len(vi.stem) + 1 :]
                worst = by_method.setdefault(method, {"images": 0, "max_rel": 0.0})
                worst["max_rel"] = max(worst["max_rel"], err)
        by_method.setdefault(name[len(vi.stem) + 1 :], {"images": 0, "max_rel": 0.0})["images"] += 1
        print(f"\r{n + 1}/{len(items)} VIFB images", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if items:
        agreement = {f"{VIFB_NAMES[m]}@vifb": {"vifb_name": m, "n": len(r), "median_rel": float(np.median(r)),
                                               "max_rel": float(np.max(r))} for m, r in rel.items() if r}
        payload["vifb_agreement"] = {"source": str(args.vifb_root or VIFB_SAMPLE), "images": len(items),
                                     "metrics": agreement, "worst_by_method": by_method}
        print(f"VIFB agreement ({len(items)} fused images; stored values have 5 significant digits)")
        print(f"{'key':<12} {'n':>4} {'median rel':>11} {'max rel':>9}")
        for k, v in agreement.items():
            print(f"{k:<12} {v['n']:>4} {v['median_rel']:11.1e} {v['max_rel']:9.1e}")
        print("worst relative error by method: " + ", ".join(
            f"{m} {w['max_rel']:.1e} ({w['images']})" for m, w in sorted(by_method.items())))
    if items and not args.agreement_only:
        payload["vifb_differences"] = differences(vifb_rows)
        payload["vifb_difference_images"] = len(vifb_rows)
        payload["qabf_breakdown"] = qabf_breakdown(items, args.every)
        print("qabf@vifb -> q_xy, step by step (median over the same images):",
              json.dumps(payload["qabf_breakdown"], indent=1))

    if (SAMPLES / "TCGA-FG-6692").is_dir() and not args.agreement_only:
        brats_rows = [score(p[0], p[1], (p[0] + p[1]) / 2, keys) for p in brats_slices()]
        payload["brats_differences"] = differences(brats_rows)
        payload["brats_slices"] = len(brats_rows)
    for label in ("vifb_differences", "brats_differences"):
        if label not in payload:
            continue
        print(f"\n{label}: median a, median b, median(a - b), median and max |a - b| / |b|")
        for d in payload[label]:
            print(f"{d['a']:<24} {d['b']:<24} {d['n']:>4} {d['median_a']:10.4f} {d['median_b']:10.4f} "
                  f"{d['median_diff']:+10.4f} {d['median_rel']:8.1e} {d['max_rel']:8.1e}")
    if args.json:
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
