"""Peak memory of ``fuse`` and ``decompose`` per input kind and size, against the up-front estimate.

Each measurement runs in a fresh process: imports and the model are loaded, the peak resident set size
is reset (``/proc/self/clear_refs``), one file-level fuse (or decompose) runs, and the new peak minus the
resident size before it is the memory the command needed *beyond what the process already held* -- what
``fusioninn.inference.estimate_peak_bytes`` must predict so that a too-large input is refused up front.
Fits ``bytes per voxel`` (whole-volume copies) and ``bytes per pixel of a batch`` (model activations)
by least squares, prints a table and writes ``benchmarks/results/memory_peaks.json``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_peaks.py            # ~2 minutes, 1 thread
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_peaks.py --quick    # smaller sizes

Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "memory_peaks.json"

_CHILD = r"""
import json, sys, numpy as np
from pathlib import Path
kind, folder = sys.argv[1], Path(sys.argv[6])
h, w, z, batch = (int(v) for v in sys.argv[2:6])
import torch
torch.set_num_threads(1)
from fusioninn.api import load_pretrained
from fusioninn.inference import fuse_files, decompose_file
model = load_pretrained()
rng = np.random.default_rng(0)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
if kind.startswith("volume"):
    import nibabel as nib
    for name in ("a", "b"):
        data = (rng.random((w, h, z)) * 500).astype(np.int16)
        nib.Nifti1Image(data, np.eye(4)).to_filename(folder / f"{name}.nii.gz")
    a, b, out = folder / "a.nii.gz", folder / "b.nii.gz", folder / "f.nii.gz"
else:
    from PIL import Image
    for name in ("a", "b"):
        Image.fromarray((rng.random((h, w)) * 255).astype(np.uint8)).save(folder / f"{name}.png")
    a, b, out = folder / "a.png", folder / "b.png", folder / "f.png"
if kind.endswith("decompose"):
    fuse_files(model, a, b, out, batch_slices=batch)
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current size
base = status("VmRSS:")
if kind.endswith("decompose"):
    decompose_file(model, out, folder / "dec", samples=1, seed=0, batch_slices=batch)
else:
    fuse_files(model, a, b, out, batch_slices=batch)
print(json.dumps({"extra_bytes": status("VmHWM:") - base, "base_bytes": base}))
"""


def measure(kind: str, h: int, w: int, z: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", _CHILD, kind, str(h), str(w), str(z), str(batch), tmp],
                              capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
        if proc.returncode:
            raise SystemExit(f"{kind} {h}x{w}x{z}: {proc.stderr.strip().splitlines()[-1]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a quick check)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from fusioninn.inference import estimate_peak_bytes

    if args.quick:
        plan = [("image", 256, 256, 1, 1), ("image", 512, 512, 1, 1), ("volume", 128, 128, 16, 4),
                ("volume", 128, 128, 32, 16)]
    else:
        plan = [("image", 512, 512, 1, 1), ("image", 1024, 1024, 1, 1), ("image", 2048, 2048, 1, 1),
                ("image-decompose", 1024, 1024, 1, 1),
                ("volume", 128, 128, 64, 4), ("volume", 128, 128, 64, 16), ("volume", 240, 240, 155, 4),
                ("volume", 240, 240, 155, 16), ("volume-decompose", 240, 240, 155, 16)]
    rows = []
    for kind, h, w, z, batch in plan:
        got = measure(kind, h, w, z, batch)
        est = estimate_peak_bytes(z, h, w, batch, volume=kind.startswith("volume"))
        rows.append({"kind": kind, "height": h, "width": w, "slices": z, "batch_slices": batch,
                     "measured_extra_bytes": got["extra_bytes"], "estimate_bytes": est,
                     "estimate_over_measured": round(est / max(got["extra_bytes"], 1), 3)})
        print(f"{kind:<17} {w:>5}x{h:<5}x{z:<4} batch {batch:>2}: measured {got['extra_bytes'] / 2**20:8.1f} MiB, "
              f"estimate {est / 2**20:8.1f} MiB ({rows[-1]['estimate_over_measured']:.2f}x)", flush=True)
    # least-squares fits: images extra = base + per_pixel * pixels; volumes (fuse rows) extra = base +
    # per_voxel * voxels + per_batch_pixel * batch * pixels
    img = [r for r in rows if r["kind"] == "image"]
    vol = [r for r in rows if r["kind"] == "volume"]
    fit = {}
    if len(img) >= 2:
        a = np.asarray([[1.0, r["height"] * r["width"]] for r in img])
        c, *_ = np.linalg.lstsq(a, np.asarray([r["measured_extra_bytes"] for r in img], float), rcond=None)
        fit["image"] = {"base_bytes": float(c[0]), "bytes_per_pixel": float(c[1])}
    if len(vol) >= 3:
        a = np.asarray([[1.0, r["height"] * r["width"] * r["slices"],
                         min(r["batch_slices"], r["slices"]) * r["height"] * r["width"]] for r in vol])
        c, *_ = np.linalg.lstsq(a, np.asarray([r["measured_extra_bytes"] for r in vol], float), rcond=None)
        fit["volume"] = {"base_bytes": float(c[0]), "bytes_per_voxel": float(c[1]),
                         "bytes_per_batch_pixel": float(c[2])}
    print("fit:", json.dumps(fit))
    worst = min(r["estimate_over_measured"] for r in rows)
    print(f"lowest estimate/measured: {worst:.2f} (must be >= 1: the estimate may refuse early, never late)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": rows, "fit": fit, "lowest_estimate_over_measured": worst,
                               "note": "shared 2-core machine; 1 thread"}, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0 if worst >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
