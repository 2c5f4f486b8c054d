"""Run every case of the bad-input suite and write the table of docs/reliability.md.

For each case: the command, the input, the exit code, the stderr line (paths shortened to file names) and
the files left behind. Writes ``docs/reliability.md`` (the table between its two markers) and
``benchmarks/results/reliability.json``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliability_table.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "reliability"))

DOC = REPO / "docs" / "reliability.md"
BEGIN, END = "<!-- reliability-table:begin -->", "<!-- reliability-table:end -->"


def _short(text: str, root: Path, assets: Path) -> str:
    for base in (str(root) + "/", str(assets) + "/", str(root)):
        text = text.replace(base, "")
    return text.strip().replace("|", "\\|").replace("`", "'")


def main() -> int:
    import torch

    torch.set_num_threads(1)
    from cases import CASES, make_assets, run_case

    from fusioninn.cli import _available

    available = _available()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        assets = make_assets(tmp / "assets")
        for k, case in enumerate(CASES):
            if case.command not in available:
                rows.append({"id": case.id, "command": case.command, "input": case.what, "skipped": True})
                continue
            root = tmp / f"case{k:03d}"
            t0 = time.perf_counter()
            res = run_case(case, root, assets)
            lines = res.stderr.splitlines()
            ok = (res.code == case.code and "Traceback" not in res.stderr
                  and (len(lines) == 1 if case.code else not lines)
                  and (not res.new_files if case.code else True)
                  and not res.changed_inputs
                  and (res.named is None or res.named in res.stderr)
                  and all(p.lower() in res.stderr.lower() for p in case.expect))
            rows.append({
                "id": case.id, "command": case.command, "input": case.what, "fault": case.fault,
                "exit_code": res.code, "expected_exit_code": case.code,
                "stderr": _short(res.stderr, root, assets),
                "left_behind": res.new_files if case.code else [],
                "inputs_changed": res.changed_inputs,
                "ok": ok, "seconds": round(time.perf_counter() - t0, 3),
            })
    ran = [r for r in rows if not r.get("skipped")]
    n_ok = sum(r["ok"] for r in ran)
    lines = [
        f"{len(ran)} cases run, {n_ok} as required; "
        f"{sum(1 for r in ran if r['expected_exit_code'] == 2)} must be refused (exit 2), "
        f"{sum(1 for r in ran if r['expected_exit_code'] == 1)} internal error (exit 1), "
        f"{sum(1 for r in ran if r['expected_exit_code'] == 0)} must work (exit 0).",
        "",
        "| # | command | input | exit | stderr (paths shortened to names in the case folder) | left behind "
        "(files, folders, temporaries) | ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        if r.get("skipped"):
            lines.append(f"| {i} | {r['command']} | {r['input']} | – | command not available | – | skipped |")
            continue
        left = ", ".join(r["left_behind"]) or "nothing"
        if r["inputs_changed"]:
            left += "; **changed: " + ", ".join(r["inputs_changed"]) + "**"
        err = f"`{r['stderr']}`" if r["stderr"] else "(empty: success)"
        lines.append(f"| {i} | {r['command']} | {r['input']} | {r['exit_code']} | {err} | {left} | "
                     f"{'yes' if r['ok'] else '**NO**'} |")
    table = "\n".join(lines)
    text = DOC.read_text() if DOC.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
    out = REPO / "benchmarks" / "results" / "reliability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"{n_ok}/{len(ran)} cases as required; wrote {DOC.relative_to(REPO)} and {out.relative_to(REPO)}")
    return 0 if n_ok == len(ran) else 1


if __name__ == "__main__":
    sys.exit(main())
