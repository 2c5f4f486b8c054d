"""NIfTI volumes: read in one orientation, slice, normalise, and write back as the input was.

Orientation. Files come as RAS, LPS or anything else. :func:`read_volume` reorients the voxel array to
the closest canonical RAS+ orientation (nibabel's orientation transforms, as
``nibabel.as_closest_canonical`` does), remembering the file's own orientation, so that
:func:`write_volume` can put results back on the input's grid with the input's affine and header.

Axial slices for 2-D models come out *the same way up whatever the file*: :func:`axial_slices` turns a
RAS array into (Z, H, W) slices shown the radiological way — rows anterior → posterior, columns from the
patient's right to left. (That is ``vol[:, :, k].T`` of a BraTS file as stored, which is LPS.)

Normalisation. The published method feeds slices min-max normalised to [0, 1] per slice and per
sequence (Kumar et al. 2024, FusionINN, arXiv 2403.15769). Real BraTS-layout files carry small negative
values at the brain edge (interpolation ringing); min-max over a slice with negatives lifts the zero
background off zero and wrecks SSIM there, so negatives are clipped to 0 first by default (the
background is then exactly 0, as in the BraTS releases). Empty and constant slices map to zeros, never
NaN. :func:`denormalise_slices` undoes the mapping so fused or decomposed slices return to the input's
intensity units.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = [
    "Volume",
    "read_volume",
    "write_volume",
    "check_same_grid",
    "minmax_normalise",
    "normalise_slices",
    "denormalise_slices",
    "axial_slices",
    "from_axial_slices",
    "load_nifti_array",
]

_CORRUPT = (EOFError, zlib.error, OSError, ValueError, TypeError, MemoryError)
# float32 copies made while reading and slicing one volume (data, RAS copy, slices, normalised, padded, output)
_WORK_BYTES_PER_VOXEL = 24


@dataclass
class Volume:
    """A 3-D volume in canonical RAS+ voxel order.

    Attributes:
        data: float32 (X, Y, Z), RAS+ (axis 0 → Right, 1 → Anterior, 2 → Superior).
        affine: the 4×4 affine of ``data`` (RAS+ voxel order).
        header: the file's NIfTI header (for writing results back).
        original_affine: the file's affine.
        original_axcodes: the file's orientation, e.g. ``("L", "P", "S")``.
        original_dtype: the file's on-disk data type.
        path: where it was read from (a file, or the folder of a DICOM series).
        dicom: for a DICOM series, the :class:`fusioninn.data.dicom.DicomSeries` a derived series is
            written from (its ``header`` is then a NIfTI header made from the DICOM geometry).
    """

    data: np.ndarray
    affine: np.ndarray
    header: Any
    original_affine: np.ndarray
    original_axcodes: tuple[str, ...]
    original_dtype: np.dtype
    path: Path | None = None
    dicom: Any = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    @property
    def zooms(self) -> tuple[float, ...]:
        return tuple(float(z) for z in self.header.get_zooms()[:3])


def _load_image(path: Path):
    import warnings

    import nibabel as nib

    from ..atomic import note_input
    from ..inputs import check_regular_file

    check_regular_file(path, "NIfTI file", "is a directory, expected a NIfTI file (.nii or .nii.gz)")
    note_input(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # header oddities are checked below, as errors
            img = nib.load(str(path))
    except Exception as err:  # nibabel raises ImageFileError, OSError, EOFError, ...
        msg = " ".join(str(err).split())[:200]
        raise DataError(f"not a readable NIfTI file ({type(err).__name__}: {msg})", path) from None
    _check_header(img, path)
    return img


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_header(img: Any, path: Path) -> None:
    """What a NIfTI header must say for its voxels to make sense: positive dimensions, a finite and
    invertible affine (a grid in space), real (not complex) samples, a scaling that fits float32."""
    hdr = img.header
    try:
        dims = [int(d) for d in hdr["dim"][1 : int(hdr["dim"][0]) + 1]]
    except (KeyError, IndexError, TypeError, ValueError):
        dims = list(img.shape)
    if not dims or any(d <= 0 for d in dims):
        raise DataError(f"header dimensions {dims} must all be >= 1", path)
    dtype = np.dtype(img.get_data_dtype())
    if np.issubdtype(dtype, np.complexfloating):
        raise DataError(f"complex voxel values ({dtype}): fusioninn needs real intensities (the imaginary part "
                        "would be lost); convert to magnitude first", path)
    if dtype.fields is not None or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise DataError(f"unsupported voxel type {dtype} (RGB or structured NIfTI?); expected grey intensities", path)
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.isfinite(affine).all():
        raise DataError("affine holds NaN or infinite values (broken header: no position in space)", path)
    if abs(float(np.linalg.det(affine[:3, :3]))) < 1e-12:
        raise DataError("affine is singular (zero voxel size or all-zero matrix): no voxel grid in space", path)
    # nibabel moves the header's scaling onto the data proxy when it loads a file
    slope, inter = getattr(img.dataobj, "slope", None), getattr(img.dataobj, "inter", None)
    slope = None if slope is None or float(slope) == 1.0 else float(slope)
    inter = None if inter is None or float(inter) == 0.0 else float(inter)
    for name, value in (("scl_slope", slope), ("scl_inter", inter)):
        if value is not None and not np.isfinite(value):
            raise DataError(f"header {name} is {value}: the intensities cannot be scaled", path)
    if slope is not None and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        top = max(abs(info.min), abs(info.max)) * abs(slope) + abs(inter or 0.0)
        if top > _FLOAT32_MAX:
            raise DataError(f"header scl_slope {slope:g} scales {dtype} samples up to {top:.3g}, beyond float32 "
                            f"({_FLOAT32_MAX:.3g}): refusing values that would overflow to infinity", path)


def load_nifti_array(path: str | Path, dtype: Any = np.float32) -> tuple[np.ndarray, Any]:
    """Decode a NIfTI file to a 3-D array (4-D with one volume is squeezed) and its image object.

    ``dtype=None`` keeps the stored type (after the header's scaling; integers stay integers), for readers
    that convert only part of the volume; float data is still checked against float32's range.

    Raises :class:`DataError` naming the file when it is missing, corrupt or truncated, not 3-D, or
    holds NaN or infinite values.
    """
    from .memory import check_memory

    path = Path(path)
    img = _load_image(path)
    shape = tuple(int(s) for s in img.shape)
    voxels = int(np.prod(shape, dtype=np.float64))
    dims = "x".join(str(s) for s in shape)
    # the header says how big the data is: refuse before decoding what cannot fit
    check_memory(voxels * _WORK_BYTES_PER_VOXEL, f"volume of {dims} voxels", path)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise DataError(f"expected a 3-D volume, got shape {shape}", path)
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # overflow while scaling: an error, not a warning
            raw = np.asanyarray(img.dataobj)
    except RuntimeWarning as err:
        raise DataError(f"intensity scaling overflows ({err})", path) from None
    except _CORRUPT as err:
        msg = " ".join(str(err).split())[:200]
        raise DataError(f"corrupt or truncated NIfTI data ({type(err).__name__}: {msg})", path) from None
    raw = raw.reshape(shape)
    if np.issubdtype(raw.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(raw)))
        if bad:
            raise DataError(f"{bad} NaN or infinite voxel values", path)
        if raw.size and (dtype is None or np.dtype(dtype) == np.float32) and raw.dtype.itemsize > 4:
            top = float(np.abs(raw).max())
            if top > _FLOAT32_MAX:
                raise DataError(f"voxel values up to {top:.3g} exceed float32 ({_FLOAT32_MAX:.3g}), the precision "
                                "fusioninn works in; rescale the volume", path)
    data = raw if dtype is None else np.asarray(raw, dtype=dtype)
    return data, img


def _to_ras_transform(affine: np.ndarray) -> np.ndarray:
    from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

    return ornt_transform(io_orientation(affine), axcodes2ornt(("R", "A", "S")))


def read_volume(path: str | Path, series: str | None = None, *, contiguous: bool = True,
                stored_dtype: bool = False) -> Volume:
    """Read a NIfTI volume (``.nii`` or ``.nii.gz``) or a DICOM series folder as float32, RAS+ voxel order.

    A folder is read as DICOM (:func:`fusioninn.data.dicom.read_dicom_series`); ``series`` selects one of
    several series in it by UID, number or description. ``contiguous=False`` returns the RAS+ data as a
    view of the decoded array (NIfTI stores it column-major) for readers that select slices before copying;
    ``stored_dtype=True`` keeps a NIfTI file's stored type instead of float32 (see :func:`load_nifti_array`).

    Raises:
        DataError: missing, corrupt or truncated file, not 3-D, NaN or infinite values; for DICOM folders
            see :mod:`fusioninn.data.dicom`.
    """
    import nibabel as nib
    from nibabel.orientations import apply_orientation, inv_ornt_aff

    from .dicom import is_dicom_folder, read_dicom_series

    path = Path(path)
    if is_dicom_folder(path):
        return read_dicom_series(path, series)
    if series:
        raise DataError("--series selects a series of a DICOM folder; this is a NIfTI file", path)
    data, img = load_nifti_array(path, dtype=None if stored_dtype else np.float32)
    affine = np.asarray(img.affine, dtype=np.float64)
    ornt = _to_ras_transform(affine)
    ras = apply_orientation(data, ornt)
    if contiguous:
        ras = np.ascontiguousarray(ras)
    ras_affine = affine @ inv_ornt_aff(ornt, data.shape)
    return Volume(
        data=ras,
        affine=ras_affine,
        header=img.header.copy(),
        original_affine=affine,
        original_axcodes=tuple(nib.aff2axcodes(affine)),
        original_dtype=img.get_data_dtype(),
        path=path,
    )


def write_volume(path: str | Path, data: np.ndarray, like: Volume, dtype: Any = np.float32) -> Path:
    """Write ``data`` (RAS+, the shape of ``like.data``) back in ``like``'s file orientation, atomically.

    The file gets ``like``'s original affine and header (data type set to ``dtype``, float32 by default,
    scaling reset), so it overlays the input in any viewer.
    """
    import nibabel as nib
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    from ..atomic import atomic_path

    data = np.asarray(data)
    if data.shape != like.data.shape:
        raise DataError(f"volume shape {tuple(data.shape)} does not match the input's {like.shape}", path)
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise DataError("refusing to write NaN or infinite values", path)
    back = apply_orientation(
        data, ornt_transform(axcodes2ornt(("R", "A", "S")), io_orientation(like.original_affine))
    )
    header = like.header.copy()
    header.set_data_dtype(dtype)
    img = nib.Nifti1Image(np.ascontiguousarray(back).astype(dtype), like.original_affine, header)
    img.header.set_slope_inter(None, None)
    name = str(path)
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        raise DataError("output volume name must end in .nii or .nii.gz", path)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return Path(path)


def grid_text(vol: Volume) -> str:
    """``240x240x155 voxels of 1x1x1 mm at RAS origin (..) mm, stored LPS``: one grid, for messages."""
    zooms = np.sqrt((np.asarray(vol.affine)[:3, :3] ** 2).sum(0))
    origin = ", ".join(f"{v:.4g}" for v in np.asarray(vol.affine)[:3, 3])
    shape = "x".join(str(s) for s in vol.shape)
    return (f"{shape} voxels of {'x'.join(f'{z:.4g}' for z in zooms)} mm at RAS origin ({origin}) mm, "
            f"stored {''.join(vol.original_axcodes)}")


def check_same_grid(a: Volume, b: Volume, what: str = "") -> None:
    """Raise :class:`DataError` naming both files and both grids unless ``a`` and ``b`` share shape and affine.

    Nothing is resampled: two series on different grids must be registered first.
    """
    prefix = f"{what}: " if what else ""
    grids = f"[{grid_text(a)} vs {grid_text(b)}; fusioninn does not resample: register one to the other first]"
    if a.shape != b.shape:
        raise DataError(
            f"{prefix}shape {a.shape} differs from {b.shape} of {b.path} {grids}", a.path
        )
    if not np.allclose(a.affine, b.affine, atol=1e-3, rtol=1e-4):
        raise DataError(
            f"{prefix}affine differs from that of {b.path} (volumes are not on one voxel grid) {grids}", a.path
        )


def minmax_normalise(images: np.ndarray, clip_negative: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min-max normalise every 2-D image over its last two axes to [0, 1].

    Args:
        images: (..., H, W) array.
        clip_negative: clip negative values to 0 first (default; see the module docstring).

    Returns:
        (normed float32, lo, hi) with ``lo``/``hi`` of shape ``images.shape[:-2]`` (float64). Empty and
        constant images give zeros, never NaN.
    """
    x = np.asarray(images, dtype=np.float32)
    if clip_negative:
        x = np.maximum(x, 0.0)
    if x.ndim < 2:
        raise DataError(f"expected images of at least 2 dimensions, got shape {tuple(x.shape)}")
    flat = x.reshape(*x.shape[:-2], -1)
    if flat.shape[-1] == 0:
        lo = np.zeros(x.shape[:-2])
        return x.copy(), lo, lo.copy()
    if not np.isfinite(flat).all():
        raise DataError("images contain NaN or infinite values")
    lo = flat.min(-1).astype(np.float64)
    hi = flat.max(-1).astype(np.float64)
    span = hi - lo
    ok = span > 0
    denom = np.where(ok, span, 1.0)[..., None, None]
    out = ((x - lo[..., None, None]) / denom).astype(np.float32)
    out *= ok[..., None, None]
    np.clip(out, 0.0, 1.0, out=out)
    return out, lo, hi


def normalise_slices(
    vol_data: np.ndarray, axis: int = 2, clip_negative: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-slice min-max normalisation of a volume along ``axis`` (default: axial slices of RAS data).

    Returns ``(normed, lo, hi)``: ``normed`` float32 with the shape of ``vol_data``, and per-slice
    ``lo``/``hi`` (length ``vol_data.shape[axis]``) for :func:`denormalise_slices`.
    """
    moved = np.moveaxis(np.asarray(vol_data), axis, 0)
    normed, lo, hi = minmax_normalise(moved, clip_negative=clip_negative)
    return np.moveaxis(normed, 0, axis), lo, hi


def denormalise_slices(normed: np.ndarray, lo: np.ndarray, hi: np.ndarray, axis: int = 2) -> np.ndarray:
    """Map per-slice normalised data back to intensity units: ``normed * (hi - lo) + lo`` per slice."""
    moved = np.moveaxis(np.asarray(normed, dtype=np.float32), axis, 0)
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if lo.shape != (moved.shape[0],) or hi.shape != lo.shape:
        raise DataError(
            f"need one lo/hi per slice ({moved.shape[0]}), got {lo.shape} and {hi.shape}"
        )
    out = moved * (hi - lo)[:, None, None].astype(np.float32) + lo[:, None, None].astype(np.float32)
    return np.moveaxis(out, 0, axis)


def axial_slices(ras: np.ndarray) -> np.ndarray:
    """(X, Y, Z) RAS+ array → (Z, H=Y, W=X) axial slices, anterior at the top, patient's right on the left."""
    return np.ascontiguousarray(axial_view(ras))


def axial_view(ras: np.ndarray) -> np.ndarray:
    """:func:`axial_slices` as a view, without copying (index it first: ``axial_view(ras)[keep]``)."""
    ras = np.asarray(ras)
    if ras.ndim != 3:
        raise DataError(f"expected a 3-D array, got shape {tuple(ras.shape)}")
    return np.transpose(ras[::-1, ::-1, :], (2, 1, 0))


def from_axial_slices(slices: np.ndarray) -> np.ndarray:
    """Inverse of :func:`axial_slices`: (Z, H, W) slices → (X, Y, Z) RAS+ array."""
    slices = np.asarray(slices)
    if slices.ndim != 3:
        raise DataError(f"expected (Z, H, W) slices, got shape {tuple(slices.shape)}")
    return np.ascontiguousarray(np.transpose(slices, (2, 1, 0))[::-1, ::-1, :])
