"""Data at scale: peak memory and time of prepare / train / evaluate on 20, 100 and 400 phantom subjects.

Run (in the background; about 1.5 h on our shared 2-core machine, half of it the 400-subject evaluate):
    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_scale.py --root /tmp/scale > scale.log 2>&1

Collections. ``fusioninn phantom`` writes 20 subjects once per shape; the 100- and 400-subject collections
are hard-linked copies of them under new subject ids (``<id>-c01`` ...), so disk and generation time stay
small while every subject is a separate folder that ``prepare`` decodes on its own. The scale series uses
half the BraTS grid per axis (120 x 120 x 78) so that evaluating every slice of 400 subjects fits in the
session; a 20-subject collection at the full 240 x 240 x 155 gives the per-subject figures that
docs/data.md projects to BraTS 2021 / 2023.

Every command runs as its own process (the shipped CLI) with one thread per process; a monitor samples
``/proc`` every 0.2 s for the process tree's peak resident set (VmHWM per process, the largest reported) and
the largest sum over the tree at one time (workers included). Writes benchmarks/results/data_scale.json
(after every measurement, so ``--resume`` continues a killed run) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))
from scale_helpers import copies  # noqa: E402  (the tests' hard-linked collections, the same layout)

OUT = ROOT / "benchmarks" / "results" / "data_scale.json"
CLI = [sys.executable, "-m", "fusioninn.cli"]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
HALF, FULL = (120, 120, 78), (240, 240, 155)


# ----------------------------------------------------------------------------------------------------
# process-tree memory


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


class TreeMonitor(threading.Thread):
    """Peak resident memory of a process and all its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.hwm: dict[int, int] = {}  # per pid: its own peak (VmHWM)
        self.depth: dict[int, int] = {}
        self.tree_peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            kids = _children()
            level, seen = [(self.pid, 0)], []
            while level:
                nxt = []
                for pid, d in level:
                    seen.append((pid, d))
                    nxt += [(k, d + 1) for k in kids.get(pid, [])]
                level = nxt
            total = 0
            for pid, d in seen:
                st = _status(pid)
                if "VmHWM" in st:
                    self.hwm[pid] = max(self.hwm.get(pid, 0), st["VmHWM"])
                    self.depth[pid] = d
                    total += st.get("VmRSS", 0)
            self.tree_peak = max(self.tree_peak, total)
            self.stop.wait(self.interval)


def measure(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Run ``cmd``; return wall seconds, exit code, the root's peak RSS, the largest descendant peaks."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
        mon = TreeMonitor(proc.pid)
        mon.start()
        _, status, usage = os.wait4(proc.pid, 0)  # CPU time of the process and its reaped children
        rc = os.waitstatus_to_exitcode(status)
        proc.returncode = rc
        mon.stop.set()
        mon.join()
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({rc}); see {log}:\n{text[-1500:]}")
    by_depth: dict[int, list[int]] = {}
    for pid, d in mon.depth.items():
        by_depth.setdefault(d, []).append(mon.hwm[pid])
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "root_peak_rss": mon.hwm.get(proc.pid, 0),
            "children_peak_rss": sorted(by_depth.get(1, []), reverse=True),
            "max_process_peak_rss": max(mon.hwm.values()) if mon.hwm else 0,
            "tree_peak_rss": mon.tree_peak, "last_json": _last_json(text)}


def _last_json(text: str):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


# ----------------------------------------------------------------------------------------------------
# collections


def collection(root: Path, shape: tuple[int, int, int], n: int, base_cases: int = 20) -> Path:
    tag = "full" if shape == FULL else "half" if shape == HALF else "x".join(map(str, shape))
    base = root / f"{tag}-base"
    if not base.is_dir() or len([p for p in base.iterdir() if p.is_dir()]) < base_cases:
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run([*CLI, "phantom", "--out", str(base), "--cases", str(base_cases), "--seed", "0",
                        "--shape", ",".join(map(str, shape))], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if n == base_cases:
        return base
    out = root / f"{tag}-{n}"
    if out.is_dir() and len(list(out.iterdir())) == n:
        return out
    shutil.rmtree(out, ignore_errors=True)
    return copies(base, out, n)


# ----------------------------------------------------------------------------------------------------


def gib(b: float) -> str:
    return f"{b / 1024**3:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="scratch folder for the collections and prepared folders")
    ap.add_argument("--sizes", default="20,100,400")
    ap.add_argument("--resume", action="store_true", help="keep the measurements already in the JSON")
    ap.add_argument("--skip", default="", help="comma-separated measurement names to leave out")
    args = ap.parse_args()
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    skip = {s for s in args.skip.split(",") if s}
    results: dict = json.loads(OUT.read_text()) if args.resume and OUT.exists() else {}
    results.setdefault("measurements", {})
    results["machine"] = {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                          "platform": platform.platform(), "load_average_at_start": os.getloadavg(),
                          "note": "2 cores shared with 7 other engineers' jobs; every process niced, 1 thread"}
    results["shapes"] = {"scale_series": list(HALF), "per_subject": list(FULL)}
    M = results["measurements"]

    def run(name: str, cmd: list[str], env: dict | None = None, clean: tuple[Path, ...] = ()) -> dict | None:
        """Measure ``cmd`` unless it is skipped or already measured; ``clean``: output folders to empty first."""
        if name in skip:
            return None
        if name in M:
            return M[name]
        for folder in clean:
            shutil.rmtree(folder, ignore_errors=True)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd[2:])}", flush=True)
        rec = measure(cmd, logs / f"{name}.log", env)
        rec["load_average"] = os.getloadavg()
        M[name] = rec
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(f"    {rec['wall_s']:.1f} s, peak RSS {gib(rec['max_process_peak_rss'])} GiB "
              f"(tree {gib(rec['tree_peak_rss'])} GiB)", flush=True)
        return rec

    train_args = ["--max-steps", "50", "--batch-size", "8", "--threads", "1", "--quiet", "--device", "cpu",
                  "--seed", "0"]

    # the biggest collection last: the full-grid figures the projections need come before its long evaluate
    plan = [(HALF, n) for n in sizes[:-1]] + [(FULL, 20), (HALF, sizes[-1])]
    for shape, n in plan:
        tag = "full" if shape == FULL else "half"
        src = collection(root, shape, n)
        key = f"{tag}{n}"
        prep = root / f"prep-{key}"
        for w in (1, 2):
            out = root / f"prep-{key}-w{w}"
            run(f"prepare_{key}_w{w}", [*CLI, "prepare", "--data", str(src), "--cache", str(out), "--workers", str(w),
                                        "--quiet"], clean=(out,))
        if not prep.exists():
            os.symlink(root / f"prep-{key}-w1", prep)
        out = root / f"run-s-{key}"
        run(f"train_stream_{key}", [*CLI, "train", "--data", str(prep), "--out", str(out), "--workers", "1",
                                    *train_args], clean=(out,))
        out = root / f"run-m-{key}"
        run(f"train_memory_{key}", [*CLI, "train", "--data", str(src), "--out", str(out), *train_args], clean=(out,))
        out = root / f"eval-{key}"
        if tag == "half":
            if n == max(sizes):
                ddp = root / f"run-d-{key}"
                run(f"torchrun2_stream_{key}",
                    [TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "fusioninn.cli", "train", "--data",
                     str(prep), "--out", str(ddp), "--workers", "1", *train_args], clean=(ddp,))
            allp = root / f"prep-all-{key}"
            run(f"prepare_all_{key}", [*CLI, "prepare", "--data", str(src), "--cache", str(allp), "--slices", "all",
                                       "--workers", "2", "--quiet"])
            # memory over every slice: the average rule scored with PSNR only, so 22,040 slices fit the session
            run(f"evaluate_all_psnr_{key}", [*CLI, "evaluate", "--data", str(allp), "--methods", "average",
                                             "--metrics", "psnr@fusioninn", "--batch-size", "32", "--out", str(out),
                                             "--threads", "1", "--quiet", "--workers", "1"], clean=(out,))
            if n == min(sizes):  # time per slice with every metric
                run(f"evaluate_all_{key}", [*CLI, "evaluate", "--data", str(allp), "--methods", "average",
                                            "--batch-size", "32", "--out", str(out), "--threads", "1", "--quiet",
                                            "--workers", "1"], clean=(out,))
        else:
            run(f"evaluate_val_{key}", [*CLI, "evaluate", "--data", str(prep), "--split", "val", "--methods",
                                        "average", "--batch-size", "16", "--out", str(out), "--threads", "1",
                                        "--quiet", "--workers", "1"], clean=(out,))
    if "read_throughput_full20" not in M and "read_throughput_full20" not in skip:
        M["read_throughput_full20"] = read_throughput(root / "prep-full20")
    summarise(results, sizes)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def read_throughput(prep: Path, batch: int = 8) -> dict:
    """Slices per second a DataLoader delivers from full-grid shards in a random order (no training), with
    0, 1 and 2 reading workers, after one warm pass (page cache) — what a GPU run needs from the data path."""
    import torch

    from fusioninn.data.dataset import EpochBatchSampler, ShardDataset, make_loader
    from fusioninn.data.prepared import open_prepared

    torch.set_num_threads(1)
    ds = ShardDataset(open_prepared(prep, progress=False))
    out = {"slices": len(ds), "batch": batch}
    for workers in (0, 0, 1, 2):  # the first pass warms the page cache
        sampler = EpochBatchSampler(len(ds), batch, seed=0)
        t = time.perf_counter()
        n = sum(len(b) for b in make_loader(ds, sampler, workers))
        out[f"workers_{workers}_slices_per_s"] = n / (time.perf_counter() - t)
    return out


def summarise(results: dict, sizes: list[int]) -> None:
    M = results["measurements"]
    rows = []
    derived: dict = {}
    lo, hi = min(sizes), max(sizes)

    def peak(name):
        return M[name]["max_process_peak_rss"] if name in M else None

    for n in sizes:
        key = f"half{n}"
        for w in (1, 2):
            r = M.get(f"prepare_{key}_w{w}")
            if r:
                subjects = (r["last_json"] or {}).get("subjects", n)
                rows.append((f"prepare {n} subjects, --workers {w}", f"{r['wall_s']:.1f}",
                             gib(r["max_process_peak_rss"]), f"{subjects / r['wall_s']:.2f} subjects/s"))
        for kind in ("stream", "memory"):
            r = M.get(f"train_{kind}_{key}")
            if r:
                ips = (r["last_json"] or {}).get("images_per_second")
                rows.append((f"train --max-steps 50, {n} subjects, {'streaming' if kind == 'stream' else 'in memory'}",
                             f"{r['wall_s']:.1f}", gib(r["max_process_peak_rss"]), f"{ips} images/s"))
        pa = (M.get(f"prepare_all_{key}") or {}).get("last_json") or {}
        for kind, what in (("evaluate_all", "every metric"), ("evaluate_all_psnr", "PSNR only")):
            r = M.get(f"{kind}_{key}")
            if r:
                rows.append((f"evaluate --slices all ({what}), {n} subjects ({pa.get('slices', '?')} slices)",
                             f"{r['wall_s']:.1f}", gib(r["max_process_peak_rss"]), ""))
    r = M.get(f"torchrun2_stream_half{hi}")
    if r:
        ranks = r["children_peak_rss"][:2]
        rows.append((f"torchrun 2 ranks, train --max-steps 50, {hi} subjects", f"{r['wall_s']:.1f}",
                     " / ".join(gib(b) for b in ranks), "per rank"))
        ref = peak(f"train_memory_half{hi}")
        if ref:
            derived["torchrun_rank_peak_vs_in_memory_process"] = max(ranks) / ref
    for kind in ("train_stream", "evaluate_all_psnr", "train_memory"):
        a, b = peak(f"{kind}_half{lo}"), peak(f"{kind}_half{hi}")
        if a and b:
            derived[f"{kind}_peak_rss_growth_{lo}_to_{hi}"] = b / a - 1
    p1, p2 = M.get(f"prepare_half{hi}_w1"), M.get(f"prepare_half{hi}_w2")
    if p1 and p2:
        derived[f"prepare_workers2_speedup_{hi}"] = p1["wall_s"] / p2["wall_s"]
    for key in [f"half{n}" for n in sizes] + ["full20"]:
        s, m = M.get(f"train_stream_{key}"), M.get(f"train_memory_{key}")
        if s and m and s["last_json"] and m["last_json"]:
            derived[f"stream_vs_memory_images_per_s_{key}"] = (
                s["last_json"]["images_per_second"] / m["last_json"]["images_per_second"])
    # per-subject figures at the full BraTS grid (for the projections in docs/data.md)
    f1, f2 = M.get("prepare_full20_w1"), M.get("prepare_full20_w2")
    if f1 and f1["last_json"]:
        j = f1["last_json"]
        derived["full_grid_per_subject"] = {
            "prepare_s_w1": f1["wall_s"] / j["subjects"], "prepare_s_w2": f2["wall_s"] / j["subjects"] if f2 else None,
            "slices": j["slices"] / j["subjects"], "shard_bytes": j["bytes"] / j["subjects"],
            "bytes_per_slice": j["bytes"] / j["slices"]}
        for kind in ("stream", "memory"):
            r = M.get(f"train_{kind}_full20")
            if r and r["last_json"]:
                derived["full_grid_per_subject"][f"train_images_per_s_{kind}"] = r["last_json"]["images_per_second"]
                derived["full_grid_per_subject"][f"train_peak_rss_{kind}"] = r["max_process_peak_rss"]
        r = M.get("evaluate_val_full20")
        if r:
            derived["full_grid_per_subject"]["evaluate_val_wall_s"] = r["wall_s"]
    if "read_throughput_full20" in M:
        derived["read_throughput_full20"] = M["read_throughput_full20"]
    results["derived"] = derived
    print()
    print("| measurement | wall s | peak RSS GiB | |")
    print("|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(json.dumps(derived, indent=1))


if __name__ == "__main__":
    sys.exit(main())
