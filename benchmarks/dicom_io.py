"""DICOM series against the NIfTI route: accuracy and time for one 240 x 240 x 155 T1ce + FLAIR pair.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/dicom_io.py --json benchmarks/results/dicom_io.json

The pair is a real BraTS-layout case when ``--case`` (default ``../shared/data/brats-samples/TCGA-FG-6692``)
exists, else a 155-slice phantom subject. It is written once as ``.nii.gz`` and once as two DICOM series
(one file per slice, by the test suite's independent writer ``tests/data/dicom_factory.py``): the int16
samples as they are (stored exactly), and a float copy (x 0.731 + 0.1, as preprocessing tools write)
stored 16-bit with a rescale slope, so the second case carries real storage quantisation.

Accuracy: the fused volume of DICOM in -> NIfTI out and of DICOM in -> DICOM out against the NIfTI
route's, as a fraction of the fused intensity range (all slices, slices with >= 10 % brain) and of each
slice's own range (the derived series stores one rescale per slice), and the largest affine difference. Time: the whole
``fuse`` of each route (read both, fuse slice batches with the shipped weights, write, sidecar), and the
reading alone by nibabel, by our pydicom reader and by SimpleITK's GDCM series reader; one process, one
thread, the routes interleaved, median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "data"))


def _load_case(case: Path):
    import nibabel as nib

    if case.is_dir():
        sid = case.name
        a, b = (nib.load(str(case / f"{sid}_{s}.nii.gz")) for s in ("t1ce", "flair"))
        return np.asarray(a.dataobj), np.asarray(b.dataobj), np.asarray(a.affine, float), f"{sid} (real)"
    from fusioninn.data.phantom import phantom_subject

    vols = phantom_subject(0, shape=(240, 240, 155), sequences=("t1ce", "flair"))
    aff = np.array([[-1.0, 0, 0, 0], [0, -1.0, 0, 239], [0, 0, 1.0, 0], [0, 0, 0, 1]])
    return vols["t1ce"], vols["flair"], aff, "phantom subject 0"


def _timed(fn, results: list[float]) -> None:
    t0 = time.perf_counter()
    fn()
    results.append(time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default=str(REPO.parent / "shared" / "data" / "brats-samples" / "TCGA-FG-6692"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    import nibabel as nib
    import torch
    from dicom_factory import write_series

    from fusioninn.api import load_pretrained
    from fusioninn.atomic import output_group
    from fusioninn.data.volume import read_volume
    from fusioninn.inference import fuse_files

    torch.set_num_threads(1)
    model = load_pretrained()
    t1ce, flair, aff, what = _load_case(Path(args.case))
    rows_acc, timings = [], {}
    with tempfile.TemporaryDirectory(prefix="dicom-io-") as tmpdir:
        tmp = Path(tmpdir)
        variants = {"int16 stored exactly": (t1ce.astype(np.int16), flair.astype(np.int16), None),
                    "float, 16-bit, one rescale per series": (t1ce * 0.731 + 0.1, flair * 0.731 + 0.1, "series"),
                    "float, 16-bit, one rescale per slice": (t1ce * 0.731 + 0.1, flair * 0.731 + 0.1, "slice")}
        for vname, (a, b, mode) in variants.items():
            d = tmp / f"v{len(rows_acc)}"
            d.mkdir()
            nib.save(nib.Nifti1Image(np.asarray(a, np.float32 if mode else np.int16), aff), str(d / "a.nii.gz"))
            nib.save(nib.Nifti1Image(np.asarray(b, np.float32 if mode else np.int16), aff), str(d / "b.nii.gz"))
            for name, vol, number in (("t1ce", a, 5), ("flair", b, 7)):
                kw = {}
                if mode == "series":
                    lo = float(np.min(vol))
                    kw = dict(slope=(float(np.max(vol)) - lo) / 65000, intercept=lo, signed=False)
                elif mode == "slice":
                    kw = dict(per_slice_rescale=True)
                write_series(d / name, np.asarray(vol, np.float64), aff, study_uid="1.2.826.0.1.3680043.8.498.7",
                             for_uid="1.2.826.0.1.3680043.8.498.8", number=number, description=name, **kw)
            routes = {
                "NIfTI -> NIfTI": (d / "a.nii.gz", d / "b.nii.gz", d / "n.nii.gz", None),
                "DICOM -> NIfTI": (d / "t1ce", d / "flair", d / "dn.nii.gz", None),
                "DICOM -> DICOM": (d / "t1ce", d / "flair", d / "dd", "dicom"),
            }
            first = vname == "int16 stored exactly"
            runs = {k: [] for k in routes}
            reads = {"nibabel (NIfTI)": [], "pydicom (ours)": [], "SimpleITK GDCM": []}
            for _rep in range(args.repeats if first else 1):
                for route, (pa, pb, out, fmt) in routes.items():
                    if out.exists():
                        if out.is_dir():
                            shutil.rmtree(out)
                        else:
                            out.unlink()
                        sidecar = out.with_name(out.name.replace(".nii.gz", "") + ".fusioninn.json")
                        sidecar.unlink(missing_ok=True)

                    def fuse(pa=pa, pb=pb, out=out, fmt=fmt):
                        with output_group():
                            fuse_files(model, pa, pb, out, out_format=fmt)

                    _timed(fuse, runs[route])
                if first:
                    _timed(lambda d=d: [read_volume(d / "a.nii.gz"), read_volume(d / "b.nii.gz")],
                           reads["nibabel (NIfTI)"])
                    _timed(lambda d=d: [read_volume(d / "t1ce"), read_volume(d / "flair")], reads["pydicom (ours)"])
                    _timed(lambda d=d: [_sitk_read(d / "t1ce"), _sitk_read(d / "flair")], reads["SimpleITK GDCM"])
            ref = read_volume(d / "n.nii.gz")
            span = float(ref.data.max() - ref.data.min()) or 1.0
            src = [read_volume(d / "a.nii.gz"), read_volume(d / "b.nii.gz")]
            # slices in which at least 10 % of the pixels are brain (> 0 in either original int16 source); the
            # files are LPS, the volumes RAS: the slice axis is the same
            keep = ((t1ce > 0) | (flair > 0)).mean(axis=(0, 1)) >= 0.1
            dsrc = [read_volume(d / "t1ce"), read_volume(d / "flair")]
            input_err = max(float(np.abs(x.data - y.data).max() / np.ptp(y.data))
                            for x, y in zip(dsrc, src, strict=True))
            for route, out in (("DICOM -> NIfTI", d / "dn.nii.gz"), ("DICOM -> DICOM", d / "dd")):
                got = read_volume(out)
                diff = np.abs(got.data - ref.data)
                # each slice against its own range: what one rescale per slice keeps (near-empty slices too)
                slice_span = np.ptp(ref.data, axis=(0, 1))
                busy = slice_span > 0
                per_slice = float((diff.max(axis=(0, 1))[busy] / slice_span[busy]).max()) if busy.any() else 0.0
                rows_acc.append({"storage": vname, "route": route,
                                 "input_max_abs_diff_of_range": input_err,
                                 "max_abs_diff_of_range": float(diff.max() / span),
                                 "max_abs_diff_of_range_brain_slices": float(diff[:, :, keep].max() / span),
                                 "brain_slices": int(keep.sum()),
                                 "max_abs_diff_of_slice_range": per_slice,
                                 "affine_max_abs_diff_mm": float(np.abs(got.affine - ref.affine).max()),
                                 "shape_equal": got.shape == ref.shape})
            if first:
                timings = {"fuse": {k: statistics.median(v) for k, v in runs.items()},
                           "fuse_all": runs,
                           "read_pair": {k: statistics.median(v) for k, v in reads.items()},
                           "read_all": reads}
    base = timings["fuse"]["NIfTI -> NIfTI"]
    rbase = timings["read_pair"]["nibabel (NIfTI)"]
    print(f"DICOM series vs NIfTI, {what}, {t1ce.shape[0]}x{t1ce.shape[1]}x{t1ce.shape[2]}, 1 thread, "
          f"median of {args.repeats}")
    print(f"{'whole fuse (read, fuse, write)':34s} {'seconds':>8s} {'x NIfTI':>8s}")
    for k, v in timings["fuse"].items():
        print(f"  {k:32s} {v:8.2f} {v / base:8.2f}")
    print(f"{'read the pair':34s} {'seconds':>8s} {'x NIfTI':>8s}")
    for k, v in timings["read_pair"].items():
        print(f"  {k:32s} {v:8.2f} {v / rbase:8.2f}")
    print(f"{'fused vs the NIfTI route, max |diff| / range':58s} {'inputs':>8s} {'all':>9s} "
          f"{'brain sl.':>9s} {'/slice rg':>9s} {'affine mm':>9s}")
    for r in rows_acc:
        print(f"  {r['storage'] + ', ' + r['route']:56s} {r['input_max_abs_diff_of_range']:8.1e} "
              f"{r['max_abs_diff_of_range']:9.2e} {r['max_abs_diff_of_range_brain_slices']:9.2e} "
              f"{r['max_abs_diff_of_slice_range']:9.2e} {r['affine_max_abs_diff_mm']:9.1e}")
    result = {"case": what, "shape": list(t1ce.shape), "threads": 1, "repeats": args.repeats,
              "timings_s": timings, "ratio_dicom_to_dicom_vs_nifti": timings["fuse"]["DICOM -> DICOM"] / base,
              "accuracy": rows_acc,
              "note": "one process, routes interleaved; machine shared with other jobs (see docs/data.md)"}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _sitk_read(folder: Path):
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # the same single thread as the other readers
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


if __name__ == "__main__":
    raise SystemExit(main())
