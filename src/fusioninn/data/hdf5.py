"""HDF5 slice files: the layout of the published FusionINN data, and our own export of it.

The original processed BraTS 2018 files (Kumar et al. 2024, FusionINN, arXiv 2403.15769) hold one
dataset ``data`` of shape N × 4 × 240 × 240 (float); channels 2 and 3 are T1ce and FLAIR.

Our export (:func:`write_h5`) keeps that layout so the original code reads it, and adds what the
original lacks:

- ``data``: float32 N × 4 × H × W in [0, 1], channels ``t1, t2, t1ce, flair`` (0, 1 = T1, T2;
  2, 3 = T1ce, FLAIR as in the original);
- ``seg``: uint8 N × H × W, BraTS labels 0/1/2/4 (optional);
- ``subject_ids``: N UTF-8 strings, the subject of each slice, so splits stay subject-level;
- ``slice_index``: int32 N, the axial index of each slice;
- attributes ``channels`` (``"t1,t2,t1ce,flair"``) and ``fusioninn_version``.

Files without ``channels`` are taken as the original layout (channels 2, 3 = T1ce, FLAIR; 0, 1 = T1,
T2 by our convention — the original release does not say what they hold).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..validation import check_array
from .volume import minmax_normalise

__all__ = ["H5_CHANNELS", "H5Slices", "inspect_h5", "read_h5", "write_h5"]

#: Channel order of the ``data`` dataset (ours; the original fixes only 2 = T1ce and 3 = FLAIR).
H5_CHANNELS: tuple[str, ...] = ("t1", "t2", "t1ce", "flair")
_CHUNK = 256  # slices per read, so huge files stream


@dataclass
class H5Slices:
    """Selected channels of an HDF5 slice file.

    Attributes:
        images: float32 (N, C, H, W) in [0, 1].
        names: the channel names.
        seg: uint8 (N, H, W) or None.
        subject_ids: list of N ids, or None when the file has none (the original release).
        slice_index: int32 (N,) or None.
        renormalised: True when values outside [0, 1] were found and slices were min-max normalised.
    """

    images: np.ndarray
    names: tuple[str, ...]
    seg: np.ndarray | None
    subject_ids: list[str] | None
    slice_index: np.ndarray | None
    renormalised: bool


@contextmanager
def _open_slice_file(path: Path, names: Sequence[str]):
    """Open an HDF5 slice file and check its layout; yields (file, 'data' dataset, channel indices of names)."""
    import h5py

    if not path.is_file():
        raise DataError("file not found", path)
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"not a readable HDF5 file ({err})", path) from None
    with fh:
        if "data" not in fh:
            keys = ", ".join(sorted(fh.keys())) or "none"
            raise DataError(f"no 'data' dataset (datasets found: {keys})", path)
        ds = fh["data"]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 4:
            raise DataError(f"'data' must be N x C x H x W, got shape {getattr(ds, 'shape', None)}", path)
        attr = fh.attrs.get("channels")
        if isinstance(attr, bytes):
            attr = attr.decode()
        channels = tuple(str(attr).split(",")) if attr is not None else H5_CHANNELS
        if len(channels) != ds.shape[1]:
            if attr is not None:
                raise DataError(f"'channels' attribute names {len(channels)} channels, data has {ds.shape[1]}",
                                path)
            if ds.shape[1] < 4:
                raise DataError(f"expected 4 channels (T1, T2, T1ce, FLAIR), got {ds.shape[1]}", path)
        idx = []
        for n in names:
            if n not in channels:
                raise DataError(f"no channel {n!r} in this file (channels: {', '.join(channels)})", path)
            idx.append(channels.index(n))
        yield fh, ds, idx


def read_h5(path: str | Path, names: Sequence[str] = ("t1ce", "flair"), clip_negative: bool = True) -> H5Slices:
    """Read channels ``names`` of an HDF5 slice file (original layout or our export).

    Values already in [0, 1] are kept as they are; otherwise every slice is min-max normalised per
    channel (negatives clipped first unless ``clip_negative=False``).

    Raises:
        DataError: unreadable file, no ``data`` dataset, wrong shape, unknown channel name, NaN.
    """
    path = Path(path)
    with _open_slice_file(path, names) as (fh, ds, idx):
        n_total = ds.shape[0]
        images = np.empty((n_total, len(idx), ds.shape[2], ds.shape[3]), dtype=np.float32)
        try:
            for start in range(0, n_total, _CHUNK):
                block = ds[start : start + _CHUNK]
                images[start : start + block.shape[0]] = block[:, idx]
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read 'data' ({err})", path) from None
        seg = np.asarray(fh["seg"], dtype=np.uint8) if "seg" in fh else None
        sids = [s.decode() if isinstance(s, bytes) else str(s) for s in fh["subject_ids"][()]] \
            if "subject_ids" in fh else None
        sl = np.asarray(fh["slice_index"], dtype=np.int32) if "slice_index" in fh else None
    if n_total:
        check_array(images, "'data'", ndim=(4,), unit_range=False, path=path, error=DataError)  # finite
    renorm = bool(n_total) and (images.min() < 0.0 or images.max() > 1.0)
    if renorm:
        images = minmax_normalise(images, clip_negative=clip_negative)[0]
    for what, arr in (("seg", seg), ("subject_ids", sids), ("slice_index", sl)):
        if arr is not None and len(arr) != n_total:
            raise DataError(f"'{what}' has {len(arr)} entries, 'data' has {n_total}", path)
    return H5Slices(images=images, names=tuple(names), seg=seg, subject_ids=sids, slice_index=sl,
                    renormalised=renorm)


def inspect_h5(path: str | Path, names: Sequence[str] = ("t1ce", "flair")) -> dict:
    """What a lazy reader needs of an HDF5 slice file, found in one chunked pass (memory: one chunk).

    Returns a dict with ``n``, ``hw`` (H, W), ``channel_index`` (of ``names``), ``renormalise`` (values
    outside [0, 1] were found: slices get min-max normalised as :func:`read_h5` does), ``subject_ids``
    and ``slice_index`` (None when absent). Raises :class:`DataError` as :func:`read_h5` does.
    """
    path = Path(path)
    with _open_slice_file(path, names) as (fh, ds, idx):
        n_total = int(ds.shape[0])
        lo, hi = np.inf, -np.inf
        try:
            for start in range(0, n_total, _CHUNK):
                block = ds[start : start + _CHUNK][:, idx]
                if np.issubdtype(block.dtype, np.floating):  # integers are finite
                    check_array(block, "'data'", ndim=(4,), unit_range=False, path=path, error=DataError)
                lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read 'data' ({err})", path) from None
        sids = [s.decode() if isinstance(s, bytes) else str(s) for s in fh["subject_ids"][()]] \
            if "subject_ids" in fh else None
        sl = np.asarray(fh["slice_index"], dtype=np.int32) if "slice_index" in fh else None
        for what, arr in (("subject_ids", sids), ("slice_index", sl)):
            if arr is not None and len(arr) != n_total:
                raise DataError(f"'{what}' has {len(arr)} entries, 'data' has {n_total}", path)
    return {"n": n_total, "hw": (int(ds.shape[2]), int(ds.shape[3])), "channel_index": idx,
            "renormalise": bool(n_total) and (lo < 0.0 or hi > 1.0), "subject_ids": sids, "slice_index": sl}


def write_h5(
    path: str | Path,
    data: np.ndarray,
    *,
    channels: Sequence[str] = H5_CHANNELS,
    seg: np.ndarray | None = None,
    subject_ids: Sequence[str] | None = None,
    slice_index: np.ndarray | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Write slices in the original layout plus our additions (see the module docstring), atomically.

    Args:
        data: (N, C, H, W) values in [0, 1]; with the default ``channels`` C = 4 (T1, T2, T1ce, FLAIR).
        channels: the channel names, stored in the ``channels`` attribute.
        seg, subject_ids, slice_index: optional per-slice extras (length N).
        compression: h5py compression filter (``None`` for none).
    """
    import h5py

    from .. import __version__
    from ..atomic import atomic_path

    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 4 or data.shape[1] != len(channels):
        raise DataError(f"data must be N x {len(channels)} x H x W, got shape {tuple(data.shape)}", path)
    if not np.isfinite(data).all():
        raise DataError("refusing to write NaN or infinite values", path)
    n = data.shape[0]
    for what, arr in (("seg", seg), ("subject_ids", subject_ids), ("slice_index", slice_index)):
        if arr is not None and len(arr) != n:
            raise DataError(f"{what} has {len(arr)} entries for {n} slices", path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        chunks = (1, data.shape[1], data.shape[2], data.shape[3]) if n else None
        fh.create_dataset("data", data=data, chunks=chunks, compression=compression if n else None)
        if seg is not None:
            fh.create_dataset("seg", data=np.asarray(seg, dtype=np.uint8), compression=compression if n else None)
        if subject_ids is not None:
            fh.create_dataset("subject_ids", data=np.array(list(subject_ids), dtype=h5py.string_dtype()))
        if slice_index is not None:
            fh.create_dataset("slice_index", data=np.asarray(slice_index, dtype=np.int32))
        fh.attrs["channels"] = ",".join(channels)
        fh.attrs["fusioninn_version"] = __version__
    return Path(path)
