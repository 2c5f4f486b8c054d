"""Print the Markdown tables of docs/results.md from docs/results/*/benchmark.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEYS = ("q_ssim", "q_fmi", "q_ncie", "q_xy", "q_p", "dec_ssim_1", "dec_ssim_2")


def table(path: Path) -> str:
    s = json.loads(path.read_text())
    lines = [f"`{s['data']}`, protocol `{s['protocol']}`, {s['pairs']} pairs, {s['wall_seconds']:.0f} s wall "
             f"({s['machine']['cpu_threads']} threads)", "",
             "| method | Q_SSIM | Q_FMI | Q_NCIE | Q_XY | Q_P | dec. SSIM 1 | dec. SSIM 2 | ms / pair | parameters |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    best = {k: max((m[k]["mean"] for m in s["methods"] if m[k]), default=None) for k in KEYS}
    for m in s["methods"]:
        cells = []
        for k in KEYS:
            v = m[k]
            if v is None:
                cells.append("—")
            else:
                txt = f"{v['mean']:.3f}"
                cells.append(f"**{txt}**" if k.startswith("q_") and abs(v["mean"] - best[k]) < 5e-4 else txt)
        ms = 1000 * m["seconds_per_pair"]
        params = f"{m['parameters']:,}" if m["parameters"] else "—"
        lines.append(f"| {m['method']} | " + " | ".join(cells) + f" | {ms:.1f} | {params} |")
    lines.append("| ddfm | not run (needs a 2 GB ImageNet diffusion model we cannot download or ship) |" + " |" * 8)
    return "\n".join(lines)


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results")
    for p in sorted(root.glob("*/benchmark.json")):
        print(f"### {p.parent.name}\n")
        print(table(p))
        print()
