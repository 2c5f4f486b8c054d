"""Trade-offs of every fusion method in three plots: edges against similarity, pattern against
decomposition, and robust decomposition against fusion quality.

    python benchmarks/pareto.py --data ../shared/data/brats-samples/TCGA-DU-7294 \\
        --model fusioninn-v1=fusioninn-v1 --model fusioninn=fusioninn --out docs/figures/pareto.png

Every training-free rule and every shipped CNN baseline is scored beside the FusionINN weights given with
``--model`` (label=path or shipped name; default: the shipped weights), with ``fusioninn.evaluation``
(protocol ``full``, decomposition from the fused image with one fresh latent). The three panels:

1. Q_SSIM (similarity to both sources) against Q_XY (edge transfer);
2. grid-power ratio of the fused image (median over slices, log scale) against decomposition R² from the
   8-bit fused image (mean of both sources, pooled over slices);
3. decomposition R² after JPEG at quality 95 against Q_SSIM.

Methods that cannot decompose are drawn at R² = 0: what returning the fused image as both sources
scores, by the definition of R². Writes the PNG and, with ``--json``, the figures behind it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fusioninn.data.spec import load_pairs
from fusioninn.evaluation import evaluate_methods
from fusioninn.methods import available_methods, resolve_methods


def collect(data: str, pair: str, models: dict[str, str | None]) -> dict[str, dict]:
    """Per method: q_ssim, q_xy, q_p, grid ratio (median), R² from 8-bit and after JPEG 95 (or None)."""
    x = load_pairs(data, pair=tuple(pair.split(",")))
    methods = []
    for label, path in models.items():
        m = resolve_methods(["fusioninn"], path)[0]
        m.name = label
        methods.append(m)
    methods += resolve_methods([n for n in available_methods() if n != "fusioninn"])
    res = evaluate_methods(methods, x.batches(16), progress=False, perturb="png,jpeg95")
    out = {}
    for e in res.summary:
        rows = [r for r in res.rows if r["method"] == e["method"]]
        r2 = None
        if e["dec_r2_1"] is not None:
            r2 = {p: [e[f"dec_r2_1:{p}"]["pooled"], e[f"dec_r2_2:{p}"]["pooled"]] for p in ("png", "jpeg95")}
        out[e["method"]] = {
            "kind": "fusioninn" if e["method"] in models else ("cnn" if getattr(
                next(m for m in methods if m.name == e["method"]), "parameter_count", 0) else "rule"),
            "q_ssim": e["q_ssim"]["mean"], "q_xy": e["q_xy"]["mean"], "q_p": e["q_p"]["mean"],
            "grid_ratio": float(np.median([r["grid_ratio"] for r in rows])),
            "r2": r2,
        }
    return out


_STYLE = {"fusioninn": ("o", "tab:red"), "cnn": ("s", "tab:blue"), "rule": ("^", "tab:green")}


def plot(points: dict[str, dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))

    def r2_mean(p, key):
        return 0.0 if p["r2"] is None else float(np.mean(p["r2"][key]))

    panels = [
        ("Q_XY (edge transfer)", "Q_SSIM", lambda p: p["q_xy"], lambda p: p["q_ssim"], False),
        ("grid-power ratio (median, log)", "decomposition R² from the 8-bit image",
         lambda p: p["grid_ratio"], lambda p: r2_mean(p, "png"), True),
        ("Q_SSIM", "decomposition R² after JPEG 95", lambda p: p["q_ssim"], lambda p: r2_mean(p, "jpeg95"), False),
    ]
    for k, (ax, (xl, yl, fx, fy, logx)) in enumerate(zip(axes, panels, strict=True)):
        for name, p in points.items():
            marker, colour = _STYLE[p["kind"]]
            ax.scatter(fx(p), fy(p), marker=marker, color=colour, s=40, zorder=3)
            if k > 0 and p["r2"] is None:  # the row at R² = 0: vertical labels do not overlap
                ax.annotate(name, (fx(p), fy(p)), fontsize=6, xytext=(0, 6), textcoords="offset points",
                            rotation=90, ha="center", va="bottom")
            else:
                ax.annotate(name, (fx(p), fy(p)), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if logx:
            from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

            ax.set_xscale("log")
            # a few labelled ticks instead of matplotlib's default minor labels, which overlap here
            lo, hi = ax.get_xlim()
            ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if lo <= t <= hi]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.axvline(2.0, color="grey", ls=":", lw=1)
            ax.text(2.0, ax.get_ylim()[0], " ratio 2", fontsize=7, color="grey", va="bottom")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    for kind, (marker, colour) in _STYLE.items():
        axes[0].scatter([], [], marker=marker, color=colour, label=kind)
    axes[0].legend(fontsize=8, loc="lower left")
    axes[1].text(0.02, 0.97, "methods without a decomposition at R² = 0\n(= returning the fused image)", va="top",
                 transform=axes[1].transAxes, fontsize=7, color="grey")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="data spec (BraTS folder: its tumour slices); required without --from-json")
    ap.add_argument("--pair", default="t1ce,flair")
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=PATH_OR_NAME")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--title", help="figure title (default: the data spec)")
    ap.add_argument("--from-json", metavar="FILE", help="re-plot the figures a previous --json run wrote "
                    "(no computation; --data, --pair and --model are taken from it)")
    args = ap.parse_args()
    if not args.from_json and not args.data:
        ap.error("--data is required (or --from-json FILE)")
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        args.data, args.pair, models, points = saved["data"], saved["pair"], saved["models"], saved["points"]
    else:
        models = dict(m.split("=", 1) for m in args.model) if args.model else {"fusioninn": None}
        points = collect(args.data, args.pair, models)
    for name, p in points.items():
        r2 = p["r2"]
        r2s = "—" if r2 is None else (f"{r2['png'][0]:.3f}/{r2['png'][1]:.3f}, "
                                      f"JPEG95 {r2['jpeg95'][0]:.3f}/{r2['jpeg95'][1]:.3f}")
        print(f"{name:14s} Q_SSIM {p['q_ssim']:.3f} Q_XY {p['q_xy']:.3f} Q_P {p['q_p']:.3f} "
              f"grid ratio {p['grid_ratio']:.2f}  R² {r2s}")
    plot(points, args.title or f"{args.data} ({args.pair})", Path(args.out))
    if args.json and not args.from_json:
        Path(args.json).write_text(json.dumps({"data": args.data, "pair": args.pair, "models": models,
                                               "points": points}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
