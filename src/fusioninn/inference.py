"""File-level fusion and decomposition: 2-D images (PNG/TIFF/JPEG/NPY), NIfTI volumes and DICOM series.

What the ``fuse`` and ``decompose`` commands do, as functions. Sources are min-max normalised per image
(per axial slice for volumes, negatives clipped), odd sizes are padded and cropped back, and the
normalisation is stored (in the latent file, and for volumes also in a ``.fusioninn.json`` sidecar) so
decomposed outputs come back in the input's intensity units.

A volume is a NIfTI file or a folder holding a DICOM series (``series`` selects one of several). Volume
outputs are NIfTI (``OUT.nii.gz``), or with ``out_format="dicom"`` a derived DICOM series in a new
folder on the first input's grid (:func:`fusioninn.data.dicom.write_derived_series`).
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_path, atomic_write_text, check_output_folder
from .data.pairs import pad_to_multiple, read_image, unpad, write_image
from .data.volume import (
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

__all__ = ["is_volume", "fuse_files", "decompose_file", "FuseReport", "OUTPUT_FORMATS"]

LATENT_FORMAT = "fusioninn-latent-1"
OUTPUT_FORMATS = ("nifti", "dicom")
_PRETTY = {"t1": "T1", "t1ce": "T1ce", "t2": "T2", "flair": "FLAIR", "adc": "ADC"}


def is_volume(path: str | Path) -> bool:
    """A NIfTI file name, or an existing folder (read as a DICOM series)."""
    from .data.dicom import is_dicom_folder

    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz") or is_dicom_folder(path)


def _pretty(name: str) -> str:
    return _PRETTY.get(name.lower(), name)


def _check_format(out: Path, out_format: str | None, volumes: bool) -> str | None:
    """Validate ``--format`` against the inputs and ``-o``; returns ``"dicom"`` or None (by extension)."""
    if out_format is None or out_format == "nifti":
        if out_format == "nifti" and volumes and not is_volume(out):
            raise UserInputError("with --format nifti the output must end in .nii or .nii.gz", out)
        return None
    if out_format != "dicom":
        raise UserInputError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {out_format!r}")
    if not volumes:
        raise UserInputError("--format dicom writes a series from DICOM volume inputs, not from 2-D images")
    if _stem(out) != out.name:
        raise UserInputError("with --format dicom, -o names a folder for the new series, not a file", out)
    check_output_folder(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserInputError("exists and is not an empty folder; a derived series is written to a new folder", out)
    return "dicom"


def _series_selectors(series) -> tuple[str | None, str | None]:
    if series is None or isinstance(series, str):
        return series, series
    series = list(series)
    if len(series) > 2:
        raise UserInputError(f"--series is given at most twice (first input, second input), got {len(series)}")
    if len(series) == 1:
        return series[0], series[0]
    return series[0] or None, series[1] or None


def _read_input_volume(path: Path, selector: str | None):
    from .data.dicom import is_dicom_folder

    return read_volume(path, selector if is_dicom_folder(path) else None)


def _check_dicom_pair(va, vb) -> None:
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


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".npy", ".gif", ".bmp"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


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


def _read_latent(path: Path) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError("latent file not found", path)
    try:
        with np.load(path, allow_pickle=False) as f:
            latent, lo, hi = f["latent"], f["lo"], f["hi"]
            meta = json.loads(bytes(f["meta"]).decode())
    except Exception as err:
        raise DataError(f"not a fusioninn latent file ({type(err).__name__})", path) from None
    if meta.get("format") != LATENT_FORMAT:
        raise DataError("not a fusioninn latent file (unknown format)", path)
    if not np.isfinite(latent).all():
        raise DataError("latent contains NaN or Inf", path)
    return latent, meta, lo, hi


def _check_finite(arr: np.ndarray, path: Path) -> None:
    if not np.isfinite(arr).all():
        raise DataError("contains NaN or infinite values", path)


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
    (one selector for both inputs, or one per input). ``out_format="dicom"`` writes a derived DICOM
    series into the new folder ``out`` (needs a DICOM first input); otherwise ``out``'s extension decides.
    """
    path_a, path_b, out = Path(path_a), Path(path_b), Path(out)
    latent_out = Path(latent_out) if latent_out else None
    if latent_out is not None and latent_out.suffix != ".npz":
        raise UserInputError("--save-latent must name a .npz file", latent_out)
    vol_in = (is_volume(path_a), is_volume(path_b))
    if vol_in[0] != vol_in[1]:
        raise UserInputError(f"cannot fuse a volume with a 2-D image ({path_b.name})", path_a)
    sel_a, sel_b = _series_selectors(series)
    if (sel_a or sel_b) and not vol_in[0]:
        raise UserInputError("--series selects a series of a DICOM folder; these inputs are 2-D images")
    if sel_a or sel_b:
        from .data.dicom import is_dicom_folder

        one_for_both = series is None or isinstance(series, str) or len(tuple(series)) == 1
        for sel, path in ((sel_a, path_a), (sel_b, path_b)):
            if sel and not is_dicom_folder(path) and not (one_for_both and (is_dicom_folder(path_a)
                                                                            or is_dicom_folder(path_b))):
                raise UserInputError("--series selects a series of a DICOM folder; this is a NIfTI file", path)
    dicom_out = _check_format(out, out_format, vol_in[0])
    if not dicom_out and is_volume(out) != vol_in[0]:
        kind = ("a NIfTI volume (.nii.gz), or a folder with --format dicom" if vol_in[0]
                else "an image (.png, .tif, .npy)")
        raise UserInputError(f"output must be {kind} for these inputs", out)
    check_output_folder(out)
    if latent_out is not None:
        check_output_folder(latent_out)
    t0 = time.perf_counter()
    meta = {"format": LATENT_FORMAT, "names": list(names), "model": _model_id(model),
            "sources": [path_a.name, path_b.name]}
    if vol_in[0]:
        va, vb = _read_input_volume(path_a, sel_a), _read_input_volume(path_b, sel_b)
        if dicom_out and va.dicom is None:
            raise UserInputError("--format dicom needs a DICOM series as the first input (its patient, study "
                                 "and geometry are copied); this is a NIfTI file", path_a)
        _check_dicom_pair(va, vb)
        check_same_grid(va, vb)
        sa, sb = axial_slices(va.data), axial_slices(vb.data)  # (Z, H, W)
        na, lo_a, hi_a = minmax_normalise(sa)
        nb, lo_b, hi_b = minmax_normalise(sb)
        (pa, size), (pb, _) = pad_to_multiple(na, 2), pad_to_multiple(nb, 2)
        fused, latent = model.fuse(pa, pb, batch_size=batch_slices)
        fused_ras = from_axial_slices(unpad(fused, size))
        norm = {"format": "fusioninn-normalisation-1", "names": list(names), "axis": "axial (RAS z)",
                "lo": [lo_a.tolist(), lo_b.tolist()], "hi": [hi_a.tolist(), hi_b.tolist()], "model": meta["model"]}
        if dicom_out:
            from pydicom.uid import generate_uid

            from .data.dicom import write_derived_series

            uid = generate_uid()
            label = "+".join(_pretty(n) for n in names)
            derivation = (f"FusionINN image fusion (fusioninn, model {meta['model']}) of {_series_label(va)} and "
                          f"{_series_label(vb)}, slice by slice; values are the fused image in [0, 1] of the "
                          "per-slice min-max normalised sources")
            write_derived_series(out, fused_ras, like=va, description=f"FusionINN fused {label}",
                                 derivation=derivation, sources=[va, vb], series_uid=uid)
            norm["series_uid"] = uid
        else:
            write_volume(out, fused_ras, like=va)
        atomic_write_text(_sidecar(out), json.dumps(norm) + "\n")
        meta.update(kind="volume", size=list(size))
    else:
        ia, ib = read_image(path_a), read_image(path_b)
        if ia.shape != ib.shape:
            raise DataError(f"size {ia.shape[1]}x{ia.shape[0]} differs from {ib.shape[1]}x{ib.shape[0]} of {path_b}",
                            path_a)
        na, lo_a, hi_a = minmax_normalise(ia.grey, clip_negative=False)
        nb, lo_b, hi_b = minmax_normalise(ib.grey, clip_negative=False)
        (pa, size), (pb, _) = pad_to_multiple(na, 2), pad_to_multiple(nb, 2)
        if min(pa.shape) < 2:
            raise DataError(f"image too small to fuse ({ia.shape[1]}x{ia.shape[0]})", path_a)
        fused, latent = model.fuse(pa, pb)
        chroma = ia.chroma if ia.chroma is not None else ib.chroma
        write_image(out, unpad(fused, size), chroma=chroma, bits=16 if out.suffix.lower() in (".tif", ".tiff") else 8)
        latent = latent[None]
        lo_a, hi_a, lo_b, hi_b = (np.atleast_1d(v) for v in (lo_a, hi_a, lo_b, hi_b))
        meta.update(kind="image", size=list(size), value_range=[list(ia.value_range), list(ib.value_range)])
    if latent_out is not None:
        _write_latent(latent_out, np.asarray(latent), meta, np.stack([lo_a, lo_b]), np.stack([hi_a, hi_b]))
    return FuseReport(out, latent_out, tuple(np.asarray(fused).shape), time.perf_counter() - t0)


def _series_label(vol) -> str:
    if vol.dicom is not None:
        return f"series {vol.dicom.label}"
    return Path(vol.path).name if vol.path else "a volume"


def _sidecar(volume_path: Path) -> Path:
    return volume_path.with_name(_stem(volume_path) + ".fusioninn.json")


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
    from .atomic import ensure_writable_dir
    from .data.dicom import is_dicom_folder

    fused_path = Path(fused_path)
    if samples < 1:
        raise UserInputError(f"--samples must be >= 1, got {samples}")
    if out_format not in (None, *OUTPUT_FORMATS):
        raise UserInputError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, got {out_format!r}")
    dicom_in = is_dicom_folder(fused_path)
    if out_format == "dicom" and not dicom_in:
        raise UserInputError("--format dicom needs a fused DICOM series as input (its patient, study and "
                             "geometry are copied)", fused_path)
    if series and not dicom_in:
        raise UserInputError("--series selects a series of a DICOM folder", fused_path)
    out_dir = ensure_writable_dir(out_dir)
    latent = meta = lo = hi = None
    if latent_path is not None:
        latent, meta, lo, hi = _read_latent(Path(latent_path))
        if meta.get("kind") != ("volume" if is_volume(fused_path) else "image"):
            raise DataError(f"latent was saved for a {meta.get('kind')}, not for {fused_path.name}", latent_path)
    sidecar_names = sidecar_series = None
    if is_volume(fused_path) and lo is None and _sidecar(fused_path).exists():
        try:
            norm = json.loads(_sidecar(fused_path).read_text())
            lo, hi, sidecar_names = np.asarray(norm["lo"]), np.asarray(norm["hi"]), norm.get("names")
            sidecar_series = norm.get("series_uid")
        except (ValueError, KeyError, TypeError):
            raise DataError("unreadable normalisation sidecar", _sidecar(fused_path)) from None
    names = tuple(names or (meta or {}).get("names") or sidecar_names or ("source1", "source2"))
    stem = _stem(fused_path)
    written: list[Path] = []
    if is_volume(fused_path):
        vol = read_volume(fused_path, series)
        if sidecar_series and vol.dicom is not None and vol.dicom.series_uid != sidecar_series:
            lo = hi = None  # the sidecar next to the folder belongs to another series of it
        fz = axial_slices(vol.data)
        _check_finite(fz, fused_path)
        if fz.min() < -1e-4 or fz.max() > 1 + 1e-4:
            raise DataError("fused volume values must lie in [0, 1] (written by `fusioninn fuse`)", fused_path)
        padded, size = pad_to_multiple(np.clip(fz, 0, 1), 2)
        outputs = [(f"{stem}_{names[k]}", k) for k in range(2)]
        if out_format == "dicom":
            from .atomic import check_output_folder as _check

            for name, _ in outputs:  # refuse a taken series folder before the slow part
                target = out_dir / name
                _check(target)
                if target.exists() and (not target.is_dir() or any(target.iterdir())):
                    raise UserInputError("exists and is not an empty folder; a derived series is written to a "
                                         "new folder", target)
        dec = _decompose_array(model, padded, latent, samples, seed, batch_slices, latent_path, size)
        mode = "exact inverse with the saved latent" if latent is not None else (
            f"mean over {samples} sampled latents" if samples > 1 else "one sampled latent")
        for k in range(2):
            x = unpad(dec.sources[k], size)
            ras = from_axial_slices(x)
            units = "in [0, 1] (no normalisation record found)"
            if lo is not None:
                if lo.shape != (2, x.shape[0]):
                    raise DataError(f"normalisation has {lo.shape[-1]} slices, volume has {x.shape[0]}",
                                    latent_path or _sidecar(fused_path))
                ras = denormalise_slices(ras, lo[k], hi[k], axis=2)
                units = "in the source's intensity units"
            std = None if dec.std is None else from_axial_slices(unpad(dec.std[k], size))
            if out_format == "dicom":
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
    else:
        if out_format == "dicom":
            raise UserInputError("--format dicom needs a fused DICOM series as input", fused_path)
        img = read_image(fused_path)
        padded, size = pad_to_multiple(img.grey, 2)
        dec = _decompose_array(model, padded[None], latent, samples, seed, batch_slices, latent_path, size)
        for k in range(2):
            x = unpad(dec.sources[k][0], size)
            path = out_dir / f"{stem}_{names[k]}.png"
            write_image(path, x)
            written.append(path)
            if latent is not None:  # float copy in input units, for exact round trips
                scaled = x * (hi[k][0] - lo[k][0]) + lo[k][0]
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
    number = None
    try:
        number = int(float(vol.dicom.number)) + 1 + k
    except ValueError:
        pass
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
