"""The criteria of a clean, sharp fused image that still decomposes after a real imaging pipeline.

    python benchmarks/fused_image_criteria.py --set selection --model v1=fusioninn-v1 --model new=RUN/best.safetensors
    python benchmarks/fused_image_criteria.py --set test --json benchmarks/results/fused_image_criteria.json

For each FusionINN weights file and each data set of the chosen ``--set`` it scores, with
``fusioninn.evaluation`` (protocol ``full``): the grid-power ratio and RMS grid amplitude (median and max
over slices, fusioninn.metrics.grid), decomposition R² per source (pooled) from the 8-bit fused image and
after each perturbation of ``fusioninn.perturb`` (jpeg95, jpeg85, blur0.5, shift0.5, noise1), and
Q_SSIM / Q_XY / Q_P beside the Laplacian-pyramid rule's; then checks the three criteria in order:

(a) no pattern: grid ratio <= 2 or RMS grid amplitude <= 0.05 grey levels (median) on the T1ce + FLAIR
    sets, RMS <= 0.25 grey levels (median) on the unseen-modality (T1 + PET-like) pair;
(b) decomposition survives, on the real tumour slices: R² >= 0.8 / 0.7 from the 8-bit image and
    >= 0.6 / 0.5 after JPEG 95 and after blur 0.5;
(c) edges: Q_SSIM, Q_XY and Q_P each >= the Laplacian rule's, on the real tumour slices.

Sets. ``selection`` (what weights are chosen on): the tumour slices of TCGA-DU-7294 (a training case) and
the validation phantom ``phantom:48:777``, plus its T1 + PET-like pair. ``test`` (reported once, at the
end): the tumour slices of TCGA-FG-6692 (never trained on), the held-out phantom ``phantom:50:4242`` and
its T1 + PET-like pair. Model names: a path, or the name of shipped weights (``fusioninn-v1``, ...).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fusioninn.data.spec import load_pairs
from fusioninn.evaluation import evaluate_methods
from fusioninn.methods import resolve_methods

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "brats-samples"
PERTURB = "png,jpeg95,jpeg85,blur0.5,shift0.5,noise1"
SETS = {
    "selection": [("DU-7294 tumour", str(SAMPLES / "TCGA-DU-7294"), "t1ce,flair", "real"),
                  ("phantom:48:777", "phantom:48:777", "t1ce,flair", "phantom"),
                  ("phantom:48:777 T1+PET", "phantom:48:777", "t1,pet", "unseen")],
    "test": [("FG-6692 tumour", str(SAMPLES / "TCGA-FG-6692"), "t1ce,flair", "real"),
             ("phantom:50:4242", "phantom:50:4242", "t1ce,flair", "phantom"),
             ("phantom:50:4242 T1+PET", "phantom:50:4242", "t1,pet", "unseen")],
}


def _grid_stats(rows: list[dict], method: str) -> dict:
    r = [row for row in rows if row["method"] == method]
    ratio = np.array([row["grid_ratio"] for row in r])
    rms = np.array([row["grid_rms"] for row in r])
    return {"grid_ratio_median": float(np.median(ratio)), "grid_rms_median": float(np.median(rms)),
            "grid_rms_max": float(rms.max())}


def score_set(models: dict[str, str], spec: str, pair: str, perturb: str = PERTURB,
              rules: tuple[str, ...] = ("laplacian", "average"), limit: int | None = None) -> dict:
    """Every model and the rules on one data set (its first ``limit`` pairs, if given)."""
    data = load_pairs(spec, pair=tuple(pair.split(",")))
    if limit is not None:
        data = data.subset(np.arange(min(limit, len(data.images))))
    methods = []
    for label, path in models.items():
        m = resolve_methods(["fusioninn"], path)[0]
        m.name = label
        methods.append(m)
    methods += resolve_methods(list(rules))
    t0 = time.perf_counter()
    res = evaluate_methods(methods, data.batches(16), progress=False, perturb=perturb)
    out = {"pairs": int(len(data.images)), "seconds": time.perf_counter() - t0, "methods": {}}
    for e in res.summary:
        entry = {k: e[k]["mean"] for k in ("q_ssim", "q_xy", "q_p")}
        entry.update(_grid_stats(res.rows, e["method"]))
        if e.get("dec_r2_1") is not None:
            entry["r2"] = {"float": [e["dec_r2_1"]["pooled"], e["dec_r2_2"]["pooled"]]}
            for p in res.perturbations:
                entry["r2"][p] = [e[f"dec_r2_1:{p}"]["pooled"], e[f"dec_r2_2:{p}"]["pooled"]]
            entry["dec_ssim"] = [e["dec_ssim_1"]["mean"], e["dec_ssim_2"]["mean"]]
        out["methods"][e["method"]] = entry
    return out


def criteria(sets: dict[str, dict], kinds: dict[str, str], model: str) -> dict:
    """(a), (b), (c) for one model, each with the figures it was decided on."""
    a_parts = {}
    for name, s in sets.items():
        e = s["methods"][model]
        if kinds[name] == "unseen":
            a_parts[name] = e["grid_rms_median"] <= 0.25
        else:
            a_parts[name] = e["grid_ratio_median"] <= 2.0 or e["grid_rms_median"] <= 0.05
    real = next(n for n, k in kinds.items() if k == "real")
    e, lap = sets[real]["methods"][model], sets[real]["methods"]["laplacian"]
    r2 = e["r2"]
    b = (r2["png"][0] >= 0.8 and r2["png"][1] >= 0.7 and all(r2[p][0] >= 0.6 and r2[p][1] >= 0.5
                                                             for p in ("jpeg95", "blur0.5")))
    c = all(e[k] >= lap[k] for k in ("q_ssim", "q_xy", "q_p"))
    return {"a": all(a_parts.values()), "a_parts": a_parts, "b": b, "c": c}


def _table(sets: dict[str, dict], models: list[str], perturbs: list[str]) -> str:
    lines = ["| set | method | grid ratio (median) | grid RMS median / max | "
             + " | ".join(f"R² {'8-bit' if p == 'png' else p}" for p in perturbs) + " | Q_SSIM | Q_XY | Q_P |",
             "|---|---|---:|---:|" + "---:|" * len(perturbs) + "---:|---:|---:|"]
    for name, s in sets.items():
        for m in s["methods"]:
            e = s["methods"][m]
            r2 = e.get("r2")
            cells = [name, m, f"{e['grid_ratio_median']:.2f}", f"{e['grid_rms_median']:.3f} / {e['grid_rms_max']:.3f}"]
            for p in perturbs:
                cells.append("—" if r2 is None else f"{r2[p][0]:.3f} / {r2[p][1]:.3f}")
            cells += [f"{e[k]:.3f}" for k in ("q_ssim", "q_xy", "q_p")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=sorted(SETS), default="selection")
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=PATH_OR_NAME",
                    help="FusionINN weights to score (repeatable; default: the shipped default weights)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--sets", help="comma-separated subset of the chosen --set's data sets, by number (1 = the "
                                   "real case, 2 = the phantom, 3 = its unseen-modality pair); default all. "
                                   "The criteria are only judged when every set is scored")
    ap.add_argument("--real", metavar="SPEC",
                    help="score this data spec in place of the set's real case (e.g. the held-out slab of "
                         "benchmarks/holdout_slab.py); criterion (b) is then judged on it")
    ap.add_argument("--quick", action="store_true",
                    help="for trying weights on a loaded machine: only png,jpeg95,blur0.5, only the Laplacian rule, "
                         "the first 24 pairs of each phantom set")
    args = ap.parse_args()
    perturb = "png,jpeg95,blur0.5" if args.quick else PERTURB
    rules = ("laplacian",) if args.quick else ("laplacian", "average")
    models = dict(m.split("=", 1) for m in args.model) if args.model else {"fusioninn": None}
    chosen = SETS[args.set]
    if args.real:
        chosen = [(Path(args.real).name, args.real, pair, kind) if kind == "real" else (name, spec, pair, kind)
                  for name, spec, pair, kind in chosen]
    if args.sets:
        try:
            picks = sorted({int(k) for k in args.sets.split(",")})
        except ValueError:
            ap.error(f"--sets: expected numbers such as 1,3, got {args.sets!r}")
        if not picks or picks[0] < 1 or picks[-1] > len(chosen):
            ap.error(f"--sets: numbers must be 1-{len(chosen)}, got {args.sets!r}")
        chosen = [chosen[k - 1] for k in picks]
    sets, kinds = {}, {}
    for name, spec, pair, kind in chosen:
        if not spec.startswith("phantom:") and not Path(spec).exists():
            print(f"skipping {name}: {spec} not found")
            continue
        limit = 24 if args.quick and spec.startswith("phantom:") else None
        sets[name] = score_set(models, spec, pair, perturb, rules, limit)
        kinds[name] = kind
        print(f"{name}: {sets[name]['pairs']} pairs, {sets[name]['seconds']:.0f} s", flush=True)
    print(_table(sets, list(models), perturb.split(",")))
    verdicts = {}
    if len(sets) == len(SETS[args.set]):
        for m in models:
            verdicts[m] = criteria(sets, kinds, m)
            v = verdicts[m]
            print(f"{m}: (a) no pattern {'yes' if v['a'] else 'no'} {v['a_parts']}; (b) decomposition survives "
                  f"{'yes' if v['b'] else 'no'}; (c) edges >= Laplacian {'yes' if v['c'] else 'no'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"set": args.set, "models": models, "perturbations": perturb,
                                               "sets": sets, "kinds": kinds, "criteria": verdicts},
                                              indent=2) + "\n")


if __name__ == "__main__":
    main()
