"""File-level fusion and decomposition: 2-D images (PNG/TIFF/JPEG/NPY), NIfTI volumes and DICOM series.

What the ``fuse`` and ``decompose`` commands do, as functions. Sources are min-max normalised per image
(per axial slice for volumes, negatives clipped), odd sizes are padded and cropped back, and the
normalisation is stored (in the latent file, and for volumes also in a ``.fusioninn.json`` sidecar) so
decomposed outputs come back in the input's intensity units.

A volume is a NIfTI file or a folder holding a DICOM series (``series`` selects one of several). Volume
outputs are NIfTI (``OUT.nii.gz``), or with ``out_format="dicom"`` a derived DICOM series in a new
folder on the first input's grid (:func:`fusioninn.data.dicom.write_derived_series`); the sidecar of a
series folder ``OUT`` is ``OUT.fusioninn.json`` beside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_path, atomic_write_text, check_output_folder
from .data.memory import check_memory
from .data.pairs import pad_to_multiple, read_image, unpad, write_image
from .data.volume import (
    Volume,
    axial_slices,
    check_same_grid,
    denormalise_slices,
    from_axial_slices,
    minmax_normalise,
    read_volume,
    write_volume,
)
from .errors import DataError, UserInputError
from .models.fusioninn import FusionINN
from .validation import check_array

__all__ = [
    "is_volume",
    "fuse_files",
    "decompose_file",
    "FuseReport",
    "file_sha256",
    "OUTPUT_FORMATS",
    "series_selectors",
    "check_dicom_pair",
    "refuse_outputs_inside_dicom_inputs",
]

LATENT_FORMAT = "fusioninn-latent-1"
OUTPUT_FORMATS = ("nifti", "dicom")
_PRETTY = {"t1": "T1", "t1ce": "T1ce", "t2": "T2", "flair": "FLAIR", "adc": "ADC"}


def is_volume(path: str | Path) -> bool:
    """A NIfTI file name, or an existing folder (read as a DICOM series)."""
    from .data.dicom import is_dicom_folder

    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz") or is_dicom_folder(path)


def _stem(path: Path) -> str:
    """The name without a known file extension (a series folder keeps its whole name)."""
    name = path.name
    for ext in (".nii.gz", ".nii", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".npy", ".gif", ".bmp"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _pretty(name: str) -> str:
    return _PRETTY.get(name.lower(), name)


def _check_format(out: Path, out_format: str | None, volumes: bool) -> bool:
    """Validate ``--format`` against the inputs and ``-o``; True for a DICOM series output."""
    if out_format is None or out_format == "nifti":
        if out_format == "nifti" and volumes and not (str(out).lower().endswith((".nii", ".nii.gz"))):
            raise UserInputError("with --format nifti the output must end in .nii or .nii.gz", out)
        return False
    if out_format != "dicom":
        raise UserInputError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {out_format!r}")
    if not volumes:
        raise UserInputError("--format dicom writes a series from DICOM volume inputs, not from 2-D images")
    if _stem(out) != out.name:
        raise UserInputError("with --format dicom, -o names a folder for the new series, not a file", out)
    _check_series_target(out)
    return True


def _check_series_target(out: Path) -> None:
    check_output_folder(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserInputError("exists and is not an empty folder; a derived series is written to a new folder", out)


def series_selectors(series: str | Sequence[str] | None) -> tuple[str | None, str | None, bool]:
    """``--series`` as given (one selector for both inputs, or one per input) → (selector of A, selector
    of B, one selector given for both)."""
    if series is None or isinstance(series, str):
        return series or None, series or None, True
    series = list(series)
    if len(series) > 2:
        raise UserInputError(f"--series is given at most twice (first input, second input), got {len(series)}")
    if len(series) == 1:
        return series[0] or None, series[0] or None, True
    return series[0] or None, series[1] or None, False


def check_dicom_pair(va: Volume, vb: Volume) -> None:
    """Two DICOM inputs must be two different series of one patient."""
    da, db = va.dicom, vb.dicom
    if da is None or db is None:
        return
    if da.series_uid == db.series_uid:
        raise DataError(f"is the same series as {vb.path} ({da.label}); fuse two different sequences "
                        "(select them with --series A --series B)", va.path)
    pa, pb = da.extra.get("patient_id", ""), db.extra.get("patient_id", "")
    if pa and pb and pa != pb:
        raise DataError(f"PatientID {pa!r} differs from {pb!r} of {vb.path}: the two series are of different "
                        "patients", va.path)


def refuse_outputs_inside_dicom_inputs(
    inputs: Iterable[str | Path | None], outputs: Iterable[str | Path | None], output_folders: bool = False
) -> None:
    """No output inside an input DICOM folder: it would add files to the series (or study) being read, and a
    later read of that folder would find them. With ``output_folders`` the outputs are folders that will
    hold files, so one that is an input folder itself is refused too."""
    from .data.dicom import is_dicom_folder

    folders = [Path(os.path.abspath(p)).resolve() for p in inputs if p is not None and is_dicom_folder(p)]
    for out in outputs:
        if out is None:
            continue
        resolved = Path(os.path.abspath(out)).resolve()
        for folder in folders:
            if (output_folders or resolved != folder) and resolved.is_relative_to(folder):
                where = "is the" if resolved == folder else "is inside the"
                raise UserInputError(f"{where} input DICOM folder {folder}: write outputs next to a series "
                                     "folder, not into it", out)


def _series_label(vol) -> str:
    if getattr(vol, "dicom", None) is not None:
        return f"series {vol.dicom.label}"
    return Path(vol.path).name if vol.path else "a volume"


@dataclass
class FuseReport:
    fused: Path
    latent: Path | None
    shape: tuple[int, ...]
    seconds: float


def _model_id(model: FusionINN) -> str:
    from .training.checkpoint import weights_sha256

    return weights_sha256(model.state_dict())[:16]


def _write_latent(path: Path, latent: np.ndarray, meta: dict, lo: np.ndarray, hi: np.ndarray) -> None:
    if path.suffix != ".npz":
        raise UserInputError("latent file must end in .npz", path)
    buf = io.BytesIO()
    np.savez(buf, latent=latent.astype(np.float32), lo=lo.astype(np.float64), hi=hi.astype(np.float64),
             meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def _read_latent(path: Path, kind: str) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """Read and validate a latent file written by ``fuse --save-latent`` for a ``kind`` input."""
    from .inputs import check_regular_file

    check_regular_file(path, "latent file")
    try:
        with np.load(path, allow_pickle=False) as f:
            latent, lo, hi = f["latent"], f["lo"], f["hi"]
            meta = json.loads(bytes(f["meta"]).decode())
    except Exception as err:
        raise DataError(f"not a fusioninn latent file ({type(err).__name__})", path) from None
    if not isinstance(meta, dict) or meta.get("format") != LATENT_FORMAT:
        raise DataError("not a fusioninn latent file (unknown format)", path)
    if meta.get("kind") != kind:
        raise DataError(f"latent was saved for a {meta.get('kind')}, not for a {kind}", path)
    names = meta.get("names")
    if not (isinstance(names, list) and len(names) == 2 and all(isinstance(n, str) and n for n in names)):
        raise DataError("latent metadata: 'names' must be two non-empty strings", path)
    for key, arr in (("latent", latent), ("lo", lo), ("hi", hi)):
        if not np.issubdtype(arr.dtype, np.floating):
            raise DataError(f"latent file: '{key}' must hold floats, got {arr.dtype}", path)
    if latent.ndim != 4 or latent.shape[1] != 2 or 0 in latent.shape:
        raise DataError(f"latent file: 'latent' must be N x 2 x H x W, got shape {tuple(latent.shape)}", path)
    if lo.shape != (2, latent.shape[0]) or hi.shape != lo.shape:
        raise DataError(f"latent file: 'lo'/'hi' must be 2 x {latent.shape[0]}, got {lo.shape} and {hi.shape}",
                        path)
    if not (np.isfinite(latent).all() and np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise DataError("latent contains NaN or Inf", path)
    if kind == "image":
        vr = meta.get("value_range")
        try:
            ok = np.asarray(vr, dtype=np.float64).shape == (2, 2) and np.isfinite(np.asarray(vr, float)).all()
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise DataError("latent metadata: 'value_range' must be two finite [lo, hi] pairs", path)
    return latent, meta, lo, hi


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file; of a folder (a DICOM series we wrote), over its files' names and contents."""
    h = hashlib.sha256()
    path = Path(path)
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode() + b"\0")
            h.update(bytes.fromhex(file_sha256(f)))
        return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_record(path: Path) -> dict:
    """Who a source file is, so that ``decompose`` never writes its outputs over it. A DICOM folder (maybe
    a whole study) is recorded by its path only: hashing it could take long, and outputs are files or new
    series folders that cannot be a populated input folder."""
    record = {"name": path.name, "path": str(Path(os.path.abspath(path)).resolve())}
    if path.is_dir():
        return record
    return {**record, "sha256": file_sha256(path), "bytes": path.stat().st_size}


# Peak memory of fuse/decompose beyond what the process already holds (interpreter, torch, the model),
# measured by benchmarks/memory_peaks.py (benchmarks/results/memory_peaks.json; least-squares fits: images
# 159 B/pixel, volumes 63 B/voxel plus 48 B per pixel of each slice in a batch; every estimate 1.23-2.9x the
# measured peak), with a margin: an estimate may refuse a little early, never too late.
MEMORY_BASE_BYTES = 32 * 2**20
IMAGE_BYTES_PER_PIXEL = 190  # a 2-D image: read, normalised, padded, fused, latent, written
VOLUME_BYTES_PER_VOXEL = 76  # the whole volume's copies: read, reoriented, slices, normalised, fused, latent
BATCH_BYTES_PER_PIXEL = 64  # model activations per pixel of each slice of a batch


def estimate_peak_bytes(slices: int, height: int, width: int, batch_slices: int = 1, volume: bool = True) -> int:
    """Peak memory of fusing or decomposing an image (``volume=False``) or a volume of ``slices`` axial
    slices of ``height`` x ``width``, ``batch_slices`` at a time."""
    ph, pw = height + height % 2, width + width % 2
    if not volume:
        return MEMORY_BASE_BYTES + ph * pw * IMAGE_BYTES_PER_PIXEL
    per_batch = min(max(1, batch_slices), slices) * ph * pw * BATCH_BYTES_PER_PIXEL
    return MEMORY_BASE_BYTES + slices * ph * pw * VOLUME_BYTES_PER_VOXEL + per_batch


def _check_image_memory(shape: tuple[int, int], path: Path) -> None:
    h, w = shape
    check_memory(estimate_peak_bytes(1, h, w, volume=False), f"fusing an image of {w}x{h} pixels", path)


def _volume_slices(vol) -> tuple[int, int, int]:
    x, y, z = vol.shape
    return z, y, x  # axial slices of (H=Y, W=X)


def _check_volume_memory(vol, batch_slices: int, path: Path) -> int:
    """Refuse a volume whose processing cannot fit in the memory available now, or return the largest
    number of slices per batch (at most ``batch_slices``) that fits."""
    from .data.memory import available_memory, format_bytes

    z, h, w = _volume_slices(vol)
    need = estimate_peak_bytes(z, h, w, batch_slices)
    avail = available_memory()
    if avail is None or need <= avail:
        return batch_slices
    one = estimate_peak_bytes(z, h, w, 1)
    dims = f"{w}x{h}x{z}"
    if one > avail:
        raise DataError(f"processing a volume of {dims} voxels would need {format_bytes(one)} of memory "
                        f"(one slice per batch), only {format_bytes(avail)} available", path)
    per_slice = estimate_peak_bytes(z, h, w, 2) - one
    fits = max(1, int((avail - one) // max(per_slice, 1)) + 1)
    return min(batch_slices, fits)


# ---------------------------------------------------------------------------------------------------
def fuse_files(
    model: FusionINN,
    path_a: str | Path,
    path_b: str | Path,
    out: str | Path,
    latent_out: str | Path | None = None,
    names: tuple[str, str] = ("t1ce", "flair"),
    batch_slices: int = 16,
    series: str | tuple[str | None, ...] | None = None,
    out_format: str | None = None,
) -> FuseReport:
    """Fuse two images or two volumes into ``out`` (and the latent into ``latent_out``).

    Volumes are NIfTI files or DICOM series folders; ``series`` selects a series in a folder of several
    (one selector for every DICOM input, or one per input). ``out_format="dicom"`` writes a derived DICOM
    series into the new folder ``out`` (needs a DICOM first input); otherwise ``out``'s extension decides.
    """
    from .atomic import guard_outputs

    path_a, path_b, out = Path(path_a), Path(path_b), Path(out)
    latent_out = Path(latent_out) if latent_out else None
    volumes, sel_a, sel_b, dicom_out = _check_fuse_request(path_a, path_b, out, latent_out, series, out_format)
    sidecar = _sidecar(out) if volumes else None
    guard_outputs([path_a, path_b], [("-o", out), ("the sidecar of -o", sidecar), ("--save-latent", latent_out)])
    refuse_outputs_inside_dicom_inputs([path_a, path_b], [out, sidecar, latent_out])
    check_output_folder(out)
    if latent_out is not None:
        check_output_folder(latent_out)
    t0 = time.perf_counter()
    meta = {"format": LATENT_FORMAT, "names": list(names), "model": _model_id(model),
            "sources": [path_a.name, path_b.name]}
    if volumes:
        fused, latent, lo, hi = _fuse_volumes(model, (path_a, path_b), (sel_a, sel_b), out, dicom_out, batch_slices,
                                              meta)
    else:
        fused, latent, lo, hi = _fuse_images(model, path_a, path_b, out, latent_out, meta)
    if latent_out is not None:
        _write_latent(latent_out, np.asarray(latent), meta, lo, hi)
    return FuseReport(out, latent_out, tuple(np.asarray(fused).shape), time.perf_counter() - t0)


def _check_fuse_request(path_a: Path, path_b: Path, out: Path, latent_out: Path | None, series,
                        out_format: str | None) -> tuple[bool, str | None, str | None, bool]:
    """Refuse what cannot be fused before anything is read: (volumes?, series selectors, DICOM output?)."""
    from .data.dicom import is_dicom_folder

    if latent_out is not None and latent_out.suffix != ".npz":
        raise UserInputError("--save-latent must name a .npz file", latent_out)
    vol_in = (is_volume(path_a), is_volume(path_b))
    if vol_in[0] != vol_in[1]:
        raise UserInputError(f"cannot fuse a volume with a 2-D image ({path_b.name})", path_a)
    sel_a, sel_b, one_for_both = series_selectors(series)
    if (sel_a or sel_b) and not vol_in[0]:
        raise UserInputError("--series selects a series of a DICOM folder; these inputs are 2-D images")
    dicom_in = (is_dicom_folder(path_a), is_dicom_folder(path_b))
    for sel, path, is_dicom in ((sel_a, path_a, dicom_in[0]), (sel_b, path_b, dicom_in[1])):
        if sel and not is_dicom and not (one_for_both and any(dicom_in)):
            raise UserInputError("--series selects a series of a DICOM folder; this is a NIfTI file", path)
    sel_a, sel_b = (sel_a if dicom_in[0] else None), (sel_b if dicom_in[1] else None)
    dicom_out = _check_format(out, out_format, vol_in[0])
    if not dicom_out and (str(out).lower().endswith((".nii", ".nii.gz"))) != vol_in[0]:
        kind = ("a NIfTI volume (.nii.gz), or a folder with --format dicom" if vol_in[0]
                else "an image (.png, .tif, .npy)")
        raise UserInputError(f"output must be {kind} for these inputs", out)
    if not vol_in[0] and out.suffix.lower() not in (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".npy"):
        raise UserInputError(f"unsupported output type {out.suffix.lower()!r} (use .png, .tif, .jpg or .npy)", out)
    if latent_out is not None and out.suffix.lower() in (".jpg", ".jpeg"):
        raise UserInputError("JPEG is lossy: the latent could not decompose this output exactly; write the fused "
                             "image as .png, .tif or .npy to use --save-latent", out)
    return vol_in[0], sel_a, sel_b, dicom_out


def _fuse_volumes(model: FusionINN, paths: tuple[Path, Path], selectors: tuple[str | None, str | None], out: Path,
                  dicom_out: bool, batch_slices: int, meta: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                           np.ndarray]:
    """Fuse two volumes slice by slice into ``out`` and its normalisation sidecar; ``meta`` gets the latent's
    record. Returns (fused, latent, lo, hi) with the per-slice normalisation of both sources."""
    path_a, path_b = paths
    va, vb = read_volume(path_a, selectors[0]), read_volume(path_b, selectors[1])
    if dicom_out and va.dicom is None:
        raise UserInputError("--format dicom needs a DICOM series as the first input (its patient, study "
                             "and geometry are copied); this is a NIfTI file", path_a)
    check_dicom_pair(va, vb)
    check_same_grid(va, vb)
    batch_slices = _check_volume_memory(va, batch_slices, path_a)
    sa, sb = axial_slices(va.data), axial_slices(vb.data)  # (Z, H, W)
    na, lo_a, hi_a = minmax_normalise(sa)
    nb, lo_b, hi_b = minmax_normalise(sb)
    (pa, size), (pb, _) = pad_to_multiple(na, 2), pad_to_multiple(nb, 2)
    fused, latent = model.fuse(pa, pb, batch_size=batch_slices)
    fused_ras = from_axial_slices(unpad(fused, size))
    extra = {}
    if dicom_out:
        from pydicom.uid import generate_uid

        from .data.dicom import write_derived_series

        uid = generate_uid()
        label = "+".join(_pretty(n) for n in meta["names"])
        derivation = (f"FusionINN image fusion (fusioninn, model {meta['model']}) of {_series_label(va)} and "
                      f"{_series_label(vb)}, slice by slice; values are the fused image in [0, 1] of the "
                      "per-slice min-max normalised sources")
        write_derived_series(out, fused_ras, like=va, description=f"FusionINN fused {label}",
                             derivation=derivation, sources=[va, vb], series_uid=uid)
        extra["series_uid"] = uid
    else:
        write_volume(out, fused_ras, like=va)
    norm = {"format": "fusioninn-normalisation-2", "names": meta["names"], "axis": "axial (RAS z)",
            "lo": [lo_a.tolist(), lo_b.tolist()], "hi": [hi_a.tolist(), hi_b.tolist()], "model": meta["model"],
            "volume": out.name, "volume_sha256": file_sha256(out),
            "source_files": [_source_record(path_a), _source_record(path_b)], **extra}
    atomic_write_text(_sidecar(out), json.dumps(norm) + "\n")
    meta.update(kind="volume", size=list(size), source_files=norm["source_files"])
    return fused, latent, np.stack([lo_a, lo_b]), np.stack([hi_a, hi_b])


def _fuse_images(model: FusionINN, path_a: Path, path_b: Path, out: Path, latent_out: Path | None,
                 meta: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fuse two 2-D images into ``out`` (in colour when a source is); as :func:`_fuse_volumes`."""
    ia, ib = read_image(path_a), read_image(path_b)
    if ia.shape != ib.shape:
        raise DataError(f"size {ia.shape[1]}x{ia.shape[0]} differs from {ib.shape[1]}x{ib.shape[0]} of {path_b}",
                        path_a)
    _check_image_memory(ia.shape, path_a)
    chroma = ia.chroma if ia.chroma is not None else ib.chroma
    if latent_out is not None and chroma is not None:
        colour = path_a if ia.chroma is not None else path_b
        raise UserInputError("is a colour image: the fused output is written in colour, whose 8-bit RGB "
                             "rounding and clipping the latent cannot undo exactly; --save-latent needs grey "
                             "sources", colour)
    na, lo_a, hi_a = minmax_normalise(ia.grey, clip_negative=False)
    nb, lo_b, hi_b = minmax_normalise(ib.grey, clip_negative=False)
    (pa, size), (pb, _) = pad_to_multiple(na, 2), pad_to_multiple(nb, 2)
    if min(pa.shape) < 2:
        raise DataError(f"image too small to fuse ({ia.shape[1]}x{ia.shape[0]})", path_a)
    fused, latent = model.fuse(pa, pb)
    write_image(out, unpad(fused, size), chroma=chroma, bits=16 if out.suffix.lower() in (".tif", ".tiff") else 8)
    meta.update(kind="image", size=list(size), value_range=[list(ia.value_range), list(ib.value_range)],
                source_files=[_source_record(path_a), _source_record(path_b)])
    lo_a, hi_a, lo_b, hi_b = (np.atleast_1d(v) for v in (lo_a, hi_a, lo_b, hi_b))
    return fused, latent[None], np.stack([lo_a, lo_b]), np.stack([hi_a, hi_b])


def _sidecar(volume_path: Path) -> Path:
    """``X.nii.gz`` -> ``X.fusioninn.json``, ``X.nii`` -> ``X.nii.fusioninn.json``, a series folder ``X`` ->
    ``X.fusioninn.json`` beside it: one sidecar per file or folder."""
    stem = _stem(volume_path)
    if volume_path.name.lower().endswith(".nii"):
        stem += volume_path.name[-4:]
    return volume_path.with_name(stem + ".fusioninn.json")


def _read_sidecar(path: Path, fused_path: Path) -> tuple[np.ndarray, np.ndarray, list[str] | None, list]:
    """The normalisation of a fused volume, refused unless it was written for exactly this file."""
    from .inputs import check_regular_file

    check_regular_file(path, "normalisation sidecar")
    try:
        norm = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise DataError("unreadable normalisation sidecar (not JSON)", path) from None
    if not isinstance(norm, dict) or not str(norm.get("format", "")).startswith("fusioninn-normalisation-"):
        raise DataError("not a fusioninn normalisation sidecar", path)
    if norm.get("format") == "fusioninn-normalisation-1":
        raise DataError("sidecar of an older fusioninn, not tied to one volume file (it may belong to a .nii or a "
                        ".nii.gz of the same name): decompose with --latent, or fuse again", path)
    if norm.get("volume") != fused_path.name:
        raise DataError(f"sidecar belongs to {norm.get('volume')!r}, not to {fused_path.name}", path)
    if norm.get("volume_sha256") != file_sha256(fused_path):
        raise DataError(f"sidecar does not match {fused_path.name}: the volume was changed after fusing, so its "
                        "intensity units are unknown (decompose with --latent, or fuse again)", path)
    try:
        lo = np.asarray(norm["lo"], dtype=np.float64)
        hi = np.asarray(norm["hi"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise DataError("sidecar: 'lo' and 'hi' must be two lists of numbers", path) from None
    finite = np.isfinite(lo).all() and np.isfinite(hi).all()
    if lo.ndim != 2 or lo.shape[0] != 2 or hi.shape != lo.shape or not finite:
        raise DataError(f"sidecar: 'lo' and 'hi' must be two equal lists of finite numbers, got shapes {lo.shape} "
                        f"and {hi.shape}", path)
    names = norm.get("names")
    if names is not None and not (isinstance(names, list) and len(names) == 2
                                  and all(isinstance(n, str) and n and "/" not in n for n in names)):
        raise DataError("sidecar: 'names' must be two non-empty strings", path)
    sources = norm.get("source_files") if isinstance(norm.get("source_files"), list) else []
    return lo, hi, names, sources


# ---------------------------------------------------------------------------------------------------
def decompose_file(
    model: FusionINN,
    fused_path: str | Path,
    out_dir: str | Path,
    latent_path: str | Path | None = None,
    samples: int = 1,
    seed: int | None = None,
    names: tuple[str, str] | None = None,
    batch_slices: int = 16,
    series: str | None = None,
    out_format: str | None = None,
) -> list[Path]:
    """Decompose a fused image or volume into ``out_dir``; returns the written files (or series folders).

    A fused volume is a NIfTI file or a DICOM series folder (``series`` selects one of several);
    ``out_format="dicom"`` writes each decomposed volume as a derived DICOM series folder (needs a DICOM
    fused series), otherwise as ``.nii.gz``.
    """
    from .atomic import ensure_writable_dir, guard_outputs

    fused_path = Path(fused_path)
    out_dir = Path(out_dir)
    volume, dicom_out = _check_decompose_request(fused_path, out_dir, samples, series, out_format)
    kind = "volume" if volume else "image"
    latent = meta = lo = hi = None
    sources: list = []
    read_from: list[Path] = [fused_path]
    if latent_path is not None:
        latent, meta, lo, hi = _read_latent(Path(latent_path), kind)
        sources = meta.get("source_files") if isinstance(meta.get("source_files"), list) else []
        read_from.append(Path(latent_path))
    sidecar_names = None
    if volume and lo is None and _sidecar(fused_path).exists():
        lo, hi, sidecar_names, sources = _read_sidecar(_sidecar(fused_path), fused_path)
        read_from.append(_sidecar(fused_path))
    names = tuple(names or (meta or {}).get("names") or sidecar_names or ("source1", "source2"))
    stem = _stem(fused_path)
    planned = _planned_outputs(out_dir, stem, names, "" if dicom_out else ".nii.gz" if volume else ".png",
                               exact_copy=not volume and latent is not None, samples=samples)
    _refuse_writing_over_sources(planned, sources)
    guard_outputs(read_from, planned)
    refuse_outputs_inside_dicom_inputs([fused_path], [out_dir], output_folders=True)
    if dicom_out:
        for _, target in planned:  # refuse a taken series folder before the slow part
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise UserInputError("exists and is not an empty folder; a derived series is written to a new "
                                     "folder", target)
    out_dir = ensure_writable_dir(out_dir)
    if volume:
        return _decompose_volume(model, fused_path, out_dir, stem, names, series, dicom_out, latent, lo, hi,
                                 latent_path, samples, seed, batch_slices)
    return _decompose_image(model, fused_path, out_dir, stem, names, latent, meta, lo, hi, latent_path, samples,
                            seed, batch_slices)


def _check_decompose_request(fused_path: Path, out_dir: Path, samples: int, series: str | None,
                             out_format: str | None) -> tuple[bool, bool]:
    """Refuse options that do not fit the input before anything is read: (volume?, DICOM output?)."""
    from .data.dicom import is_dicom_folder

    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError("exists and is not a directory", out_dir)
    if samples < 1:
        raise UserInputError(f"--samples must be >= 1, got {samples}")
    if out_format not in (None, *OUTPUT_FORMATS):
        raise UserInputError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {out_format!r}")
    dicom_in = is_dicom_folder(fused_path)
    dicom_out = out_format == "dicom"
    if dicom_out and not dicom_in:
        raise UserInputError("--format dicom needs a fused DICOM series as input (its patient, study and "
                             "geometry are copied)", fused_path)
    if series and not dicom_in:
        raise UserInputError("--series selects a series of a DICOM folder", fused_path)
    return is_volume(fused_path), dicom_out


def _planned_outputs(out_dir: Path, stem: str, names: tuple[str, ...], ext: str, exact_copy: bool,
                     samples: int) -> list[tuple[str, Path]]:
    """Every file (or series folder) decompose will write, with the option that names it."""
    planned: list[tuple[str, Path]] = []
    for k in range(2):
        planned.append(("--names", out_dir / f"{stem}_{names[k]}{ext}"))
        if exact_copy:
            planned.append(("--names", out_dir / f"{stem}_{names[k]}.npy"))
        if samples > 1:
            planned.append(("--names", out_dir / f"{stem}_{names[k]}_std{ext}"))
    return planned


def _decompose_volume(model, fused_path: Path, out_dir: Path, stem: str, names, series, dicom_out: bool, latent,
                      lo, hi, latent_path, samples: int, seed, batch_slices: int) -> list[Path]:
    """A fused volume into two volumes (NIfTI, or derived DICOM series), in the sources' units when the
    latent or the sidecar records their normalisation."""
    vol = read_volume(fused_path, series)
    batch_slices = _check_volume_memory(vol, batch_slices, fused_path)
    fz = axial_slices(vol.data)
    check_array(fz, "fused volume", ndim=(3,), path=fused_path, error=DataError,
                range_hint="a fused volume is what `fusioninn fuse` writes")
    padded, size = pad_to_multiple(np.clip(fz, 0, 1), 2)
    if lo is not None and lo.shape != (2, padded.shape[0]):
        raise DataError(f"normalisation has {lo.shape[-1]} slices, volume has {padded.shape[0]}",
                        latent_path or _sidecar(fused_path))
    dec = _decompose_array(model, padded, latent, samples, seed, batch_slices, latent_path, size)
    mode = "exact inverse with the saved latent" if latent is not None else (
        f"mean over {samples} sampled latents" if samples > 1 else "one sampled latent")
    written: list[Path] = []
    for k in range(2):
        x = unpad(dec.sources[k], size)
        ras = from_axial_slices(x)
        units = "in [0, 1] (no normalisation record found)"
        if lo is not None:
            ras = denormalise_slices(ras, lo[k], hi[k], axis=2)
            units = "in the source's intensity units"
        std = None if dec.std is None else from_axial_slices(unpad(dec.std[k], size))
        if dicom_out:
            written.extend(_write_decomposed_series(out_dir, stem, names[k], ras, std, vol, mode, units,
                                                    samples, k))
            continue
        path = out_dir / f"{stem}_{names[k]}.nii.gz"
        write_volume(path, ras, like=vol)
        written.append(path)
        if std is not None:
            path = out_dir / f"{stem}_{names[k]}_std.nii.gz"
            write_volume(path, std, like=vol)
            written.append(path)
    return written


def _decompose_image(model, fused_path: Path, out_dir: Path, stem: str, names, latent, meta, lo, hi, latent_path,
                     samples: int, seed, batch_slices: int) -> list[Path]:
    """A fused 2-D image into two PNGs (plus float copies in the sources' units with the latent)."""
    img = read_image(fused_path)
    _check_image_memory(img.shape, fused_path)
    padded, size = pad_to_multiple(img.grey, 2)
    dec = _decompose_array(model, padded[None], latent, samples, seed, batch_slices, latent_path, size)
    written: list[Path] = []
    for k in range(2):
        x = unpad(dec.sources[k][0], size)
        path = out_dir / f"{stem}_{names[k]}.png"
        write_image(path, x)
        written.append(path)
        if latent is not None:  # float copy in the input's units (the stored values), for exact round trips
            grey = x.astype(np.float64) * (hi[k][0] - lo[k][0]) + lo[k][0]
            v_lo, v_hi = (float(v) for v in meta["value_range"][k])
            scaled = v_lo + grey * (v_hi - v_lo) if v_hi != v_lo else np.full_like(grey, v_lo)
            np_path = out_dir / f"{stem}_{names[k]}.npy"
            write_image(np_path, scaled.astype(np.float32))
            written.append(np_path)
        if dec.std is not None:
            path = out_dir / f"{stem}_{names[k]}_std.png"
            std = dec.std[k][0]
            write_image(path, unpad(std / max(float(std.max()), 1e-8), size))
            written.append(path)
    return written


def _write_decomposed_series(out_dir: Path, stem: str, name: str, ras: np.ndarray, std: np.ndarray | None, vol,
                             mode: str, units: str, samples: int, k: int) -> list[Path]:
    from .data.dicom import write_derived_series

    source = _series_label(vol)
    try:
        number: int | None = int(float(vol.dicom.number)) + 1 + k
    except ValueError:
        number = None
    path = write_derived_series(
        out_dir / f"{stem}_{name}", ras, like=vol, description=f"FusionINN decomposed {_pretty(name)}",
        derivation=f"FusionINN decomposition ({mode}) of the fused {source} into its {_pretty(name)} source; "
                   f"values {units}", series_number=number)
    written = [path]
    if std is not None:
        path = write_derived_series(
            out_dir / f"{stem}_{name}_std", std, like=vol,
            description=f"FusionINN uncertainty {_pretty(name)}",
            derivation=f"per-voxel standard deviation over {samples} FusionINN decompositions of the fused "
                       f"{source} with sampled latents ({_pretty(name)} source, normalised units)",
            series_number=None if number is None else number + 10)
        written.append(path)
    return written


def _refuse_writing_over_sources(planned: list[tuple[str, Path]], sources: list) -> None:
    """Outputs must never replace the files the fused image was made from (same path, or same content:
    a subject folder that was moved or copied)."""
    for _, out in planned:
        if not out.exists():
            continue
        resolved = str(Path(os.path.abspath(out)).resolve())
        digest = None
        for src in sources:
            if not isinstance(src, dict):
                continue
            same_path = src.get("path") == resolved
            if not same_path and src.get("bytes") == out.stat().st_size:
                digest = digest or file_sha256(out)
                same_path = digest == src.get("sha256")
            if same_path:
                raise UserInputError(f"is {src.get('name')!r}, a source this image was fused from: refusing to "
                                     "write the decomposition over it (choose another -o or --names)", out)


@dataclass
class _Decomposed:
    sources: tuple[np.ndarray, np.ndarray]  # each (N, H, W)
    std: tuple[np.ndarray, np.ndarray] | None


def _decompose_array(model, fused: np.ndarray, latent, samples, seed, batch, latent_path, size) -> _Decomposed:
    if latent is not None:
        if latent.shape[0] != fused.shape[0] or latent.shape[2:] != fused.shape[1:]:
            raise DataError(
                f"latent of shape {tuple(latent.shape)} does not match the fused image ({fused.shape[0]} slices of "
                f"{fused.shape[2]}x{fused.shape[1]})", latent_path,
            )
        # The padding of the fused file is gone; take it from the latent's own y so the check passes there.
        with torch.no_grad():
            own = model.fused_image(torch.from_numpy(latent[:, 1:2])).numpy()[:, 0]
        h, w = size
        merged = own.copy()
        merged[:, :h, :w] = fused[:, :h, :w]
        try:
            d = model.decompose(merged, latent=latent, batch_size=batch)
        except ValueError as err:
            raise DataError(str(err), latent_path) from None
        return _Decomposed((d.x1, d.x2), None)
    d = model.decompose(fused, samples=samples, seed=seed, batch_size=batch)
    std = None if d.std is None else (d.std[:, 0], d.std[:, 1])
    return _Decomposed((d.x1, d.x2), std)
