"""BraTS-layout subject folders → normalised axial slice pairs, with a decode-once cache.

Layouts read:

- BraTS 2018–2021 naming: ``<id>/<id>_t1.nii.gz``, ``_t1ce``, ``_t2``, ``_flair``, ``_seg``;
- BraTS 2023 naming: ``<id>/<id>-t1n.nii.gz``, ``-t1c``, ``-t2w``, ``-t2f``, ``-seg`` (its enhancing
  label 3 is read as 4, so labels are 0/1/2/4 whatever the release);
- an ADC volume as ``_adc`` / ``-adc``; ``.nii`` or ``.nii.gz``; a root of subject folders at any depth
  (BraTS 2018 keeps them under ``HGG/`` and ``LGG/``) or one subject folder.

Every volume is reoriented to RAS+ and cut into axial slices shown the radiological way
(:func:`fusioninn.data.volume.axial_slices`), so RAS and LPS files give identical slices. Each slice is
min-max normalised per sequence, negatives clipped to 0 first (see :mod:`fusioninn.data.volume`).

Slice selection: ``slices="tumour"`` keeps slices whose segmentation has at least ``min_tumour_pixels``
pixels with a tumour label (1, 2 or 4) — our reading of the paper's rule (Kumar et al. 2024: slices
whose annotation shows the tumour sub-regions); the default 50 px gives the 43 tumour slices of
TCGA-FG-6692 quoted in our brief. ``slices="all"`` keeps every slice in which at least
``min_brain_fraction`` of the pixels are brain (non-zero in either sequence) and needs no segmentation.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .volume import Volume, axial_view, check_same_grid, minmax_normalise, read_volume

__all__ = [
    "SEQUENCE_NAMES",
    "SliceSet",
    "find_subject_folders",
    "subject_files",
    "read_brats",
]

SEQUENCE_NAMES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair", "adc")
# file-name suffixes per sequence: (BraTS 2018-2021, BraTS 2023)
_SUFFIXES: dict[str, tuple[str, str]] = {
    "t1": ("_t1", "-t1n"),
    "t1ce": ("_t1ce", "-t1c"),
    "t2": ("_t2", "-t2w"),
    "flair": ("_flair", "-t2f"),
    "adc": ("_adc", "-adc"),
    "seg": ("_seg", "-seg"),
}
_EXTS = (".nii.gz", ".nii")
_FILE_RE = re.compile(
    r"^(?P<id>.+?)(?P<suffix>_t1|_t1ce|_t2|_flair|_adc|_seg|-t1n|-t1c|-t2w|-t2f|-adc|-seg)\.nii(\.gz)?$"
)
_CACHE_VERSION = 1


@dataclass
class SliceSet:
    """Normalised slices of several subjects.

    Attributes:
        images: float32 (N, C, H, W) in [0, 1], one channel per name in ``names``.
        seg: uint8 (N, H, W) labels 0/1/2/4, or None when no segmentation was read.
        subject_ids: subject of each slice (length N).
        slice_index: axial index (in RAS+ order, 0 = lowest) of each slice, int32 (N,).
        names: sequence names of the channels.
        skipped: (subject id, reason) of each subject left out under ``skip_bad=True``.
        subjects: ids of the subjects read, in order.
    """

    images: np.ndarray
    seg: np.ndarray | None
    subject_ids: list[str]
    slice_index: np.ndarray
    names: tuple[str, ...]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _check_names(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    bad = [n for n in names if n not in SEQUENCE_NAMES]
    if bad or not names:
        raise DataError(f"unknown sequence {bad[0] if bad else '(none)'!r}; use names from "
                        f"{', '.join(SEQUENCE_NAMES)}")
    if len(set(names)) != len(names):
        raise DataError(f"a sequence is named twice: {','.join(names)}")
    return names


def find_subject_folders(root: str | Path) -> list[Path]:
    """Subject folders under ``root`` (``root`` itself when it is one), sorted by path.

    A subject folder holds NIfTI files named like ``<id>_t1ce.nii.gz`` or ``<id>-t1c.nii.gz``.
    """
    root = Path(root)
    if not root.exists():
        raise DataError("folder not found", root)
    if not root.is_dir():
        raise DataError("expected a folder of BraTS subjects (or one subject folder)", root)
    if any(_FILE_RE.match(p.name) for p in root.iterdir() if p.is_file()):
        return [root]
    folders = sorted({p.parent for p in root.rglob("*.nii*") if p.is_file() and _FILE_RE.match(p.name)})
    if not folders:
        raise DataError(
            "no BraTS subject folders found (expected <id>/<id>_t1ce.nii.gz, _flair, ... or "
            "<id>/<id>-t1c.nii.gz, -t2f, ...)",
            root,
        )
    return folders


def subject_files(folder: str | Path, names: Sequence[str], seg: bool) -> dict[str, Path]:
    """The files of ``names`` (and ``"seg"`` if ``seg``) in one subject folder, in either naming.

    Raises:
        DataError: a file is missing or ambiguous (naming the subject and what was looked for).
    """
    folder = Path(folder)
    sid = folder.name
    files = [p for p in folder.iterdir() if p.is_file()]
    out: dict[str, Path] = {}
    wanted = list(names) + (["seg"] if seg else [])
    for name in wanted:
        hits = [p for p in files for suffix in _SUFFIXES[name] for ext in _EXTS if p.name.endswith(suffix + ext)]
        if not hits:
            a, b = _SUFFIXES[name]
            raise DataError(
                f"subject {sid}: no {name} file (looked for {sid}{a}.nii[.gz] or {sid}{b}.nii[.gz])", folder
            )
        if len(hits) > 1:
            listed = ", ".join(sorted(p.name for p in hits))
            raise DataError(f"subject {sid}: more than one {name} file ({listed})", folder)
        out[name] = hits[0]
    return out


def _seg_labels(vol: Volume, sid: str) -> np.ndarray:
    seg = vol.data if np.issubdtype(vol.data.dtype, np.integer) else np.rint(vol.data)
    # labels by counting, not np.unique (a sort of every voxel): out-of-range values are checked first
    lo, hi = (float(seg.min()), float(seg.max())) if seg.size else (0.0, 0.0)
    if lo < 0 or hi > 4:
        labels = np.unique(seg).astype(np.int64).tolist()
        raise DataError(f"subject {sid}: segmentation labels {labels} are not BraTS labels 0/1/2/3/4", vol.path)
    seg = seg.astype(np.uint8)  # a copy also when stored as uint8: the caller may relabel it
    counts = np.bincount(seg.ravel(order="K"), minlength=5)
    if counts[3] and not counts[4]:  # BraTS 2023 numbers enhancing tumour 3
        seg[seg == 3] = 4
    elif counts[3]:
        raise DataError(f"subject {sid}: segmentation has both labels 3 and 4", vol.path)
    return seg


def _read_subject(
    folder: Path,
    names: tuple[str, ...],
    slices: str,
    min_tumour_pixels: int,
    min_brain_fraction: float,
    clip_negative: bool,
    files: dict[str, Path],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    sid = folder.name
    # views in the stored type, not float32 copies: only the selected slices are copied out of the decoded
    # (column-major) volumes and converted, which keeps the memory traffic per subject low (prepare runs
    # several of these at once; memory bandwidth, not arithmetic, is what two of them share)
    vols = {name: read_volume(files[name], contiguous=False, stored_dtype=True) for name in names}
    first = vols[names[0]]
    for name in names[1:]:
        check_same_grid(vols[name], first, what=f"subject {sid}")
    seg = None
    if "seg" in files:
        seg_vol = read_volume(files["seg"], contiguous=False, stored_dtype=True)
        check_same_grid(seg_vol, first, what=f"subject {sid}")
        seg = axial_view(_seg_labels(seg_vol, sid))
    stacks = [axial_view(vols[name].data) for name in names]  # each (Z, H, W), views
    if slices == "tumour":
        if seg is None:
            raise DataError(f"subject {sid}: slices='tumour' needs a segmentation", folder)
        keep = np.flatnonzero(np.count_nonzero(seg, axis=(1, 2)) >= min_tumour_pixels)
        why = f"no slice with >= {min_tumour_pixels} tumour pixels"
        where = files["seg"]
    else:
        brain = stacks[0] > 0
        for st in stacks[1:]:
            brain |= st > 0
        keep = np.flatnonzero(brain.mean(axis=(1, 2)) >= min_brain_fraction)
        why = f"no slice with >= {min_brain_fraction:g} brain fraction"
        where = files[names[0]]
    if keep.size == 0:
        raise DataError(f"subject {sid}: empty selection ({why})", where)
    images = np.empty((keep.size, len(names), *stacks[0].shape[1:]), dtype=np.float32)
    for c, st in enumerate(stacks):
        images[:, c] = minmax_normalise(st[keep], clip_negative=clip_negative)[0]
    return images, (seg[keep] if seg is not None else None), keep.astype(np.int32)  # indexing copies, C order


def _cache_key(files: dict[str, Path], options: dict) -> str:
    items = []
    for name in sorted(files):
        p = files[name].resolve()
        st = p.stat()
        items.append([name, str(p), st.st_size, st.st_mtime_ns])
    blob = json.dumps({"v": _CACHE_VERSION, "files": items, "options": options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _cache_load(cache_dir: Path, sid: str, key: str):
    base = cache_dir / f"{_safe(sid)}-{key}"
    paths = [Path(f"{base}.{part}.npy") for part in ("images", "index", "seg")]
    if not (paths[0].is_file() and paths[1].is_file()):
        return None
    try:
        images = np.load(paths[0], mmap_mode="r")
        index = np.load(paths[1])
        seg = np.load(paths[2], mmap_mode="r") if paths[2].is_file() else None
    except (OSError, ValueError, EOFError):
        return None  # a damaged cache entry is decoded again
    if images.shape[0] != index.shape[0] or (seg is not None and seg.shape[0] != index.shape[0]):
        return None
    return images, seg, index


def _cache_store(cache_dir: Path, sid: str, key: str, images, seg, index) -> None:
    from ..atomic import atomic_path

    base = cache_dir / f"{_safe(sid)}-{key}"
    # seg and index first: the images file is what marks an entry complete
    if seg is not None:
        with atomic_path(f"{base}.seg.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(seg))
    with atomic_path(f"{base}.index.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, index)
    with atomic_path(f"{base}.images.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(images))


def _safe(sid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", sid)[:80]


def _subject_slices(folder: Path, options: dict, with_seg: bool | None,
                    cache: Path | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One subject's selected slices (images, seg, slice index): from the cache when it holds them."""
    names, slices = tuple(options["names"]), options["slices"]
    need_seg = slices == "tumour" or bool(with_seg)
    files = subject_files(folder, names, seg=need_seg)
    if with_seg is None and not need_seg:  # read the segmentation when there is one
        try:
            files = subject_files(folder, names, seg=True)
        except DataError:
            pass
    key = _cache_key(files, options) if cache is not None else ""
    got = _cache_load(cache, folder.name, key) if cache is not None else None
    if got is None:
        got = _read_subject(folder, names, slices, options["min_tumour_pixels"], options["min_brain_fraction"],
                            options["clip_negative"], files)
        if cache is not None:
            _cache_store(cache, folder.name, key, *got)
    return got


def read_brats(
    root: str | Path,
    names: Sequence[str] = ("t1ce", "flair"),
    *,
    slices: str = "tumour",
    min_tumour_pixels: int = 50,
    min_brain_fraction: float = 0.1,
    clip_negative: bool = True,
    cache_dir: str | Path | None = None,
    skip_bad: bool = False,
    with_seg: bool | None = None,
) -> SliceSet:
    """Read the selected axial slices of every subject under ``root``.

    Args:
        root: a folder of subject folders (at any depth) or one subject folder.
        names: sequences to read, one channel each (default the paper's pair T1ce, FLAIR).
        slices: ``"tumour"`` (the paper's selection) or ``"all"`` (every slice with enough brain).
        min_tumour_pixels: tumour pixels a slice needs under ``slices="tumour"``.
        min_brain_fraction: brain fraction a slice needs under ``slices="all"``.
        clip_negative: clip negative intensities to 0 before the per-slice min-max (default True).
        cache_dir: if given, decoded and selected slices are stored there as ``.npy`` files keyed by the
            files' paths, sizes and modification times and by these options, and read back memory-mapped
            on the next call instead of decoding NIfTI again.
        skip_bad: leave out subjects that cannot be read, with a warning per subject naming the reason,
            instead of raising. Skipped subjects are listed in ``SliceSet.skipped``.
        with_seg: read the segmentation (default: when present, required for ``slices="tumour"``).

    Raises:
        DataError: missing sequence, mismatched shapes or affines, corrupt files, empty selection
            (naming the subject and file) — unless ``skip_bad`` — and when no slice at all is left.
    """
    names = _check_names(names)
    if slices not in ("tumour", "all"):
        raise DataError(f"slices must be 'tumour' or 'all', got {slices!r}")
    if min_tumour_pixels < 1:
        raise DataError(f"min_tumour_pixels must be >= 1, got {min_tumour_pixels}")
    if not 0.0 <= min_brain_fraction <= 1.0:
        raise DataError(f"min_brain_fraction must be in [0, 1], got {min_brain_fraction}")
    folders = find_subject_folders(root)
    cache = None
    if cache_dir is not None:
        from ..atomic import ensure_writable_dir

        cache = ensure_writable_dir(cache_dir)
    options = {
        "names": list(names), "slices": slices, "min_tumour_pixels": int(min_tumour_pixels),
        "min_brain_fraction": float(min_brain_fraction), "clip_negative": bool(clip_negative),
    }
    parts: list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray]] = []
    skipped: list[tuple[str, str]] = []
    for folder in folders:
        sid = folder.name
        try:
            parts.append((sid, *_subject_slices(folder, options, with_seg, cache)))
        except DataError as err:
            if not skip_bad:
                raise
            skipped.append((sid, str(err)))
            warnings.warn(f"skipping subject {sid}: {err}", stacklevel=2)
    if not parts:
        reasons = "; ".join(f"{s}: {r}" for s, r in skipped[:5])
        raise DataError(f"no slices selected from {len(folders)} subject(s)" + (f" ({reasons})" if reasons else ""),
                        root)
    shapes = {p[1].shape[2:] for p in parts}
    if len(shapes) > 1:
        listed = ", ".join(f"{p[0]} {p[1].shape[2]}x{p[1].shape[3]}" for p in parts[:6])
        raise DataError(f"subjects have different slice sizes ({listed}); read them separately", root)
    images = np.concatenate([np.asarray(p[1]) for p in parts]) if len(parts) > 1 else np.array(parts[0][1])
    has_seg = all(p[2] is not None for p in parts)
    seg = np.concatenate([np.asarray(p[2]) for p in parts]) if has_seg else None
    subject_ids = [p[0] for p in parts for _ in range(p[1].shape[0])]
    index = np.concatenate([p[3] for p in parts]).astype(np.int32)
    if skipped:
        warnings.warn(
            f"read {len(parts)} of {len(folders)} subjects; skipped {len(skipped)}: "
            + "; ".join(f"{s} ({r})" for s, r in skipped),
            stacklevel=2,
        )
    return SliceSet(images=images, seg=seg, subject_ids=subject_ids, slice_index=index, names=names,
                    skipped=skipped, subjects=[p[0] for p in parts])
