"""File-level fusion and decomposition: 2-D images (PNG/TIFF/JPEG/NPY) and NIfTI volumes.

What the ``fuse`` and ``decompose`` commands do, as functions. Sources are min-max normalised per image
(per axial slice for volumes, negatives clipped), odd sizes are padded and cropped back, and the
normalisation is stored (in the latent file, and for volumes also in a ``.fusioninn.json`` sidecar) so
decomposed outputs come back in the input's intensity units.
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

__all__ = ["is_volume", "fuse_files", "decompose_file", "FuseReport"]

LATENT_FORMAT = "fusioninn-latent-1"


def is_volume(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


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
) -> FuseReport:
    """Fuse two images or two NIfTI volumes into ``out`` (and the latent into ``latent_out``)."""
    path_a, path_b, out = Path(path_a), Path(path_b), Path(out)
    latent_out = Path(latent_out) if latent_out else None
    if latent_out is not None and latent_out.suffix != ".npz":
        raise UserInputError("--save-latent must name a .npz file", latent_out)
    vol_in = (is_volume(path_a), is_volume(path_b))
    if vol_in[0] != vol_in[1]:
        raise UserInputError(f"cannot fuse a volume with a 2-D image ({path_b.name})", path_a)
    if is_volume(out) != vol_in[0]:
        kind = "a NIfTI volume (.nii.gz)" if vol_in[0] else "an image (.png, .tif, .npy)"
        raise UserInputError(f"output must be {kind} for these inputs", out)
    check_output_folder(out)
    if latent_out is not None:
        check_output_folder(latent_out)
    t0 = time.perf_counter()
    meta = {"format": LATENT_FORMAT, "names": list(names), "model": _model_id(model),
            "sources": [path_a.name, path_b.name]}
    if vol_in[0]:
        va, vb = read_volume(path_a), read_volume(path_b)
        check_same_grid(va, vb)
        sa, sb = axial_slices(va.data), axial_slices(vb.data)  # (Z, H, W)
        na, lo_a, hi_a = minmax_normalise(sa)
        nb, lo_b, hi_b = minmax_normalise(sb)
        (pa, size), (pb, _) = pad_to_multiple(na, 2), pad_to_multiple(nb, 2)
        fused, latent = model.fuse(pa, pb, batch_size=batch_slices)
        write_volume(out, from_axial_slices(unpad(fused, size)), like=va)
        norm = {"format": "fusioninn-normalisation-1", "names": list(names), "axis": "axial (RAS z)",
                "lo": [lo_a.tolist(), lo_b.tolist()], "hi": [hi_a.tolist(), hi_b.tolist()], "model": meta["model"]}
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
) -> list[Path]:
    """Decompose a fused image or volume into ``out_dir``; returns the written files."""
    from .atomic import ensure_writable_dir

    fused_path = Path(fused_path)
    out_dir = ensure_writable_dir(out_dir)
    if samples < 1:
        raise UserInputError(f"--samples must be >= 1, got {samples}")
    latent = meta = lo = hi = None
    if latent_path is not None:
        latent, meta, lo, hi = _read_latent(Path(latent_path))
        if meta.get("kind") != ("volume" if is_volume(fused_path) else "image"):
            raise DataError(f"latent was saved for a {meta.get('kind')}, not for {fused_path.name}", latent_path)
    sidecar_names = None
    if is_volume(fused_path) and lo is None and _sidecar(fused_path).exists():
        try:
            norm = json.loads(_sidecar(fused_path).read_text())
            lo, hi, sidecar_names = np.asarray(norm["lo"]), np.asarray(norm["hi"]), norm.get("names")
        except (ValueError, KeyError):
            raise DataError("unreadable normalisation sidecar", _sidecar(fused_path)) from None
    names = tuple(names or (meta or {}).get("names") or sidecar_names or ("source1", "source2"))
    stem = _stem(fused_path)
    written: list[Path] = []
    if is_volume(fused_path):
        vol = read_volume(fused_path)
        fz = axial_slices(vol.data)
        _check_finite(fz, fused_path)
        if fz.min() < -1e-4 or fz.max() > 1 + 1e-4:
            raise DataError("fused volume values must lie in [0, 1] (written by `fusioninn fuse`)", fused_path)
        padded, size = pad_to_multiple(np.clip(fz, 0, 1), 2)
        dec = _decompose_array(model, padded, latent, samples, seed, batch_slices, latent_path, size)
        for k in range(2):
            x = unpad(dec.sources[k], size)
            ras = from_axial_slices(x)
            if lo is not None:
                if lo.shape != (2, x.shape[0]):
                    raise DataError(f"normalisation has {lo.shape[-1]} slices, volume has {x.shape[0]}",
                                    latent_path or _sidecar(fused_path))
                ras = denormalise_slices(ras, lo[k], hi[k], axis=2)
            path = out_dir / f"{stem}_{names[k]}.nii.gz"
            write_volume(path, ras, like=vol)
            written.append(path)
            if dec.std is not None:
                path = out_dir / f"{stem}_{names[k]}_std.nii.gz"
                write_volume(path, from_axial_slices(unpad(dec.std[k], size)), like=vol)
                written.append(path)
    else:
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
