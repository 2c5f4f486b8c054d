"""The case viewer's budget on a 240x240x155 BraTS pair: seconds to write the page, its size, seconds to open.

    python benchmarks/viewer_budget.py --case ../shared/data/brats-samples/TCGA-FG-6692 \
        --json benchmarks/results/viewer_budget.json

Runs ``fusioninn view`` (``--threads``, default 1, so that its CPU seconds are the time one quiet core
needs) on the case's T1ce and FLAIR with its
segmentation, once with ``--no-contributions`` and once with the share panel (``--steps``), and records
wall and CPU seconds and the file size. Then opens each page ``--repeats`` times in headless Chromium
(/usr/bin/chromium through chromedriver, fresh profile, from file://) and records the time from the start
of the navigation to the page's ``first-slice-painted`` performance mark (every panel of the first slice
drawn). Budget (issue 15): written in <= 30 s without the share panel, <= 25 MB with it, opens in <= 2 s.
Records the load average, because wall times on a shared machine mean little. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from headless_browser import CHROMEDRIVER, CHROMIUM, headless_chromium  # noqa: E402  (the browser tests' set-up)

BUDGET = {"write_seconds_without_share": 30.0, "megabytes_with_share": 25.0, "open_seconds": 2.0}


def write_page(case: Path, out: Path, extra: list[str], threads: int) -> dict:
    sid = case.name
    cmd = [sys.executable, "-m", "fusioninn", "view", str(case / f"{sid}_t1ce.nii.gz"),
           str(case / f"{sid}_flair.nii.gz"), "--seg", str(case / f"{sid}_seg.nii.gz"), "-o", str(out),
           "--threads", str(threads), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"fusioninn view failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(["fusioninn", *cmd[3:]]), "wall_seconds": wall, "cpu_seconds": cpu,
            "bytes": out.stat().st_size, "stdout": done.stdout.strip().splitlines()[-2:]}


def open_times(pages: list[Path], repeats: int) -> dict:
    out = {}
    with headless_chromium("fusioninn-bench-chromium-") as driver:
        for page in pages:
            marks = []
            for _ in range(repeats):
                driver.get("about:blank")
                driver.get(page.resolve().as_uri())
                deadline = time.perf_counter() + 60
                while not driver.execute_script("return !!document.body && document.body.dataset.ready === '1'"):
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"{page}: the page did not finish drawing within 60 s")
                    time.sleep(0.01)
                ms = driver.execute_script("const m = performance.getEntriesByName('first-slice-painted');"
                                           " return m.length ? m[0].startTime : null")
                marks.append(ms / 1000.0)
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] \
                if hasattr(driver, "get_log") else []
            out[page.name] = {"seconds": marks, "median_seconds": sorted(marks)[len(marks) // 2],
                              "max_seconds": max(marks), "console_errors": errors}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, help="BraTS-layout subject folder (…_t1ce, …_flair, …_seg)")
    p.add_argument("--steps", type=int, default=8, help="steps of the share panel (the view command's default)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1,
                   help="threads of the view command (1: its CPU seconds are what a quiet core needs)")
    p.add_argument("--pages", default="", help="folder to keep the pages in (default: a temporary one)")
    p.add_argument("--reuse", action="store_true", help="time opening the pages already in --pages; write nothing")
    p.add_argument("--without-share", action="store_true", help="only the page without the share panel")
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        raise SystemExit(f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian packages chromium, chromium-driver)")
    case = Path(args.case)
    folder = Path(args.pages) if args.pages else Path(tempfile.mkdtemp(prefix="fusioninn-viewer-budget-"))
    folder.mkdir(parents=True, exist_ok=True)
    pages = {"without share panel": folder / "case_no_share.html", "with share panel": folder / "case.html"}
    if args.without_share:
        del pages["with share panel"]
    load_before = os.getloadavg()
    written = {}
    if not args.reuse:
        written["without share panel"] = write_page(case, pages["without share panel"], ["--no-contributions"],
                                                    args.threads)
        if "with share panel" in pages:
            written["with share panel"] = write_page(case, pages["with share panel"], ["--steps", str(args.steps)],
                                                   args.threads)
    opened = open_times(list(pages.values()), args.repeats)
    rows = []
    print(f"{'page':>20} {'MB':>7} {'write wall s':>12} {'write CPU s':>11} {'open median s':>13} {'open max s':>10}")
    for label, page in pages.items():
        w = written.get(label, {"bytes": page.stat().st_size})
        o = opened[page.name]
        row = {"page": label, "megabytes": w["bytes"] / 1e6, "write_wall_seconds": w.get("wall_seconds"),
               "write_cpu_seconds": w.get("cpu_seconds"), "command": w.get("command"), "printed": w.get("stdout"),
               "open_median_seconds": o["median_seconds"], "open_max_seconds": o["max_seconds"],
               "open_seconds": o["seconds"], "console_errors": o["console_errors"]}
        rows.append(row)

        def fmt(v):
            return f"{v:12.1f}" if v is not None else f"{'-':>12}"

        print(f"{label:>20} {row['megabytes']:7.2f} {fmt(row['write_wall_seconds'])} "
              f"{fmt(row['write_cpu_seconds'])[1:]} {row['open_median_seconds']:13.2f} {row['open_max_seconds']:10.2f}")
    load_after = os.getloadavg()
    print(f"budget: write <= {BUDGET['write_seconds_without_share']:.0f} s without the share panel, "
          f"<= {BUDGET['megabytes_with_share']:.0f} MB with it, open <= {BUDGET['open_seconds']:.0f} s; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores)")
    out = {"case": case.name, "steps": args.steps, "threads": args.threads, "rows": rows, "budget": BUDGET,
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "load_average_before": list(load_before), "load_average_after": list(load_after),
                       "chromium": subprocess.run([CHROMIUM, "--version"], capture_output=True,
                                                  text=True).stdout.strip()}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
