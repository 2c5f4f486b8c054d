"""One data spec for every command: a string that names where slice pairs come from.

Accepted forms (see docs/data.md for examples):

- ``phantom:N``, ``phantom:N:SEED`` or ``phantom:N:SEED:spread=S`` — N synthetic phantom slices (seed 0 by
  default; each brain's tissue contrasts vary by a factor in 1 ± S, 0.07 by default, see
  :func:`fusioninn.data.phantom.phantom_subject`);
- a BraTS root folder (subject folders at any depth) or one subject folder;
- ``FILE.h5`` / ``FILE.hdf5`` — the original FusionINN HDF5 layout or our export;
- ``pairs:DIR_A:DIR_B`` — two folders of 2-D images matched by file name;
- ``dicom:DIR_A:DIR_B`` or ``dicom:STUDY:SERIES_A:SERIES_B`` — two co-registered DICOM series (every slice
  with brain; :func:`fusioninn.data.dicom.read_dicom_pairs`);
- ``dicom-studies:ROOT:SERIES_A:SERIES_B`` — a collection: one subject per DICOM study under ROOT, the two
  series picked in each (:func:`fusioninn.data.dicom.read_dicom_collection`).

:func:`load_pairs` returns a :class:`PairSet`: float32 (N, 2, H, W) in [0, 1] plus the subject of every
slice, so that the train/validation split is made per subject (no subject on both sides).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["PairSet", "load_pairs", "split_subjects", "parse_pair", "SPEC_FORMS"]

SPEC_FORMS = (
    "phantom:N[:SEED[:spread=S]] (synthetic slices), a BraTS folder (subject folders with <id>_t1ce.nii.gz ... or "
    "<id>-t1c.nii.gz ...), FILE.h5 (original FusionINN HDF5 or our export), pairs:DIR_A:DIR_B (image folders "
    "matched by file name), dicom:DIR_A:DIR_B or dicom:STUDY:SERIES_A:SERIES_B (two DICOM series), "
    "dicom-studies:ROOT:SERIES_A:SERIES_B (one subject per DICOM study under ROOT)"
)


@dataclass
class PairSet:
    """Slice pairs ready for a fusion model.

    Attributes:
        images: float32 (N, 2, H, W) in [0, 1]; channel 0 = ``names[0]``, channel 1 = ``names[1]``.
        subject_ids: the subject of each pair (length N).
        slice_index: int32 (N,) axial index within the subject (0 for 2-D sources).
        seg: uint8 (N, H, W) BraTS labels when known, else None.
        names: the two sequence names (or the two folder names for ``pairs:``).
        source: the spec this came from.
        meta: source-specific extras (``pairs:`` keeps ``"file_names"``, ``"sizes"`` (original sizes
            before padding) and ``"chroma_a"``/``"chroma_b"`` (lists, None for grey images)).
    """

    images: np.ndarray
    subject_ids: list[str]
    slice_index: np.ndarray
    seg: np.ndarray | None
    names: tuple[str, str]
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def subjects(self) -> list[str]:
        """Distinct subject ids, in order of first appearance."""
        return list(dict.fromkeys(self.subject_ids))

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0) -> Iterator[np.ndarray]:
        """Yield float32 (B, 2, H, W) batches (the last one may be smaller)."""
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}")
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            idx = order[start : start + batch_size]
            yield np.ascontiguousarray(self.images[idx])

    def subset(self, mask_or_index: np.ndarray) -> PairSet:
        """The pairs selected by a boolean mask or an index array."""
        idx = np.asarray(mask_or_index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        meta = {k: ([v[i] for i in idx] if isinstance(v, list) and len(v) == len(self) else v)
                for k, v in self.meta.items()}
        return PairSet(
            images=self.images[idx],
            subject_ids=[self.subject_ids[i] for i in idx],
            slice_index=self.slice_index[idx],
            seg=None if self.seg is None else self.seg[idx],
            names=self.names,
            source=self.source,
            meta=meta,
        )


def parse_pair(text: str | Sequence[str]) -> tuple[str, str]:
    """``"t1ce,flair"`` (or a 2-sequence) → ``("t1ce", "flair")``, checking the names."""
    from .brats import SEQUENCE_NAMES

    names = (*SEQUENCE_NAMES, "pet")  # pet: the phantom's PET-like slices only (BraTS readers refuse it)
    parts = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text)]
    if len(parts) != 2 or any(p not in names for p in parts) or parts[0] == parts[1]:
        raise DataError(f"a pair is two different names from {','.join(names)}, got {text!r}")
    return parts[0], parts[1]


def split_subjects(subject_ids: Sequence[str], val_fraction: float = 0.2, seed: int = 0) -> tuple[set, set]:
    """Split distinct subjects into (train, validation) sets, deterministically for a seed.

    At least one subject goes to each side; ``round(val_fraction * n_subjects)`` to validation.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"validation fraction must be between 0 and 1, got {val_fraction}")
    subjects = sorted(set(subject_ids))
    if len(subjects) < 2:
        raise DataError(f"a subject-level split needs at least 2 subjects, got {len(subjects)}")
    order = np.random.default_rng(seed).permutation(len(subjects))
    n_val = min(max(1, int(round(val_fraction * len(subjects)))), len(subjects) - 1)
    val = {subjects[i] for i in order[:n_val]}
    return set(subjects) - val, val


_PHANTOM_RE = re.compile(r"^phantom:(\d+)(?::(\d+))?(?::spread=([^:]*))?$")


def phantom_spread(match: re.Match) -> float:
    """The ``spread=S`` of a matched ``phantom:`` spec (the phantom's default when not given), refused unless
    0 <= S < 1."""
    from .phantom import CONTRAST_SPREAD, check_contrast_spread

    text = match.group(3)
    if text is None:
        return CONTRAST_SPREAD
    try:
        return check_contrast_spread(text)
    except (ValueError, DataError):
        raise DataError(f"bad phantom spec {match.string!r}: spread must be a number in [0, 1), got {text!r}"
                        ) from None


def load_pairs(
    spec: str,
    *,
    pair: str | Sequence[str] = ("t1ce", "flair"),
    split: str | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    slices: str = "tumour",
    min_tumour_pixels: int = 50,
    min_brain_fraction: float = 0.1,
    clip_negative: bool = True,
    cache_dir: str | Path | None = None,
    skip_bad: bool = False,
    size: tuple[int, int] = (240, 240),
    multiple: int = 2,
    pad_mode: str = "reflect",
) -> PairSet:
    """Load slice pairs from a data spec (see the module docstring for the forms).

    Args:
        spec: the data spec.
        pair: the two sequences (BraTS, HDF5 and phantom), e.g. ``("t1ce", "flair")`` or ``"t1,t2"``.
        split: None (everything), ``"train"`` or ``"val"``: a subject-level split by
            :func:`split_subjects` with ``val_fraction`` and ``seed``.
        slices, min_tumour_pixels, min_brain_fraction, clip_negative, cache_dir, skip_bad: BraTS options
            (see :func:`fusioninn.data.brats.read_brats`).
        size: slice size of ``phantom:`` data.
        multiple, pad_mode: ``pairs:`` images are padded to a multiple of ``multiple`` (and to the
            largest image) with ``pad_mode`` (``"reflect"`` or ``"zero"``); original sizes in ``meta``.

    Raises:
        DataError: unknown spec form (listing the accepted ones), or any reader error.
    """
    if split not in (None, "train", "val"):
        raise DataError(f"split must be None, 'train' or 'val', got {split!r}")
    names = parse_pair(pair)
    spec = str(spec)
    m = _PHANTOM_RE.match(spec)
    if spec.startswith("phantom:") and not m:
        raise DataError(f"bad phantom spec {spec!r}; use phantom:N, phantom:N:SEED or phantom:N:SEED:spread=S")
    if m:
        ps = _load_phantom(int(m.group(1)), int(m.group(2) or 0), names, size, spec, phantom_spread(m))
    elif spec.startswith("pairs:"):
        ps = _load_folder_pairs(spec, multiple, pad_mode)
    elif spec.startswith("dicom:"):
        ps = _load_dicom_pairs(spec, names, min_brain_fraction, clip_negative)
    elif spec.startswith("dicom-studies:"):
        ps = _load_dicom_studies(spec, names, min_brain_fraction, clip_negative, skip_bad)
    elif spec.lower().endswith((".h5", ".hdf5")):
        ps = _load_h5(spec, names, clip_negative)
    elif Path(spec).is_dir():
        from .brats import read_brats

        ss = read_brats(spec, names, slices=slices, min_tumour_pixels=min_tumour_pixels,
                        min_brain_fraction=min_brain_fraction, clip_negative=clip_negative,
                        cache_dir=cache_dir, skip_bad=skip_bad)
        ps = PairSet(images=ss.images, subject_ids=ss.subject_ids, slice_index=ss.slice_index, seg=ss.seg,
                     names=names, source=spec, meta={"skipped": ss.skipped, "subjects_read": ss.subjects})
    elif Path(spec).exists():
        raise DataError(f"not a data spec: a file that is not .h5/.hdf5; accepted: {SPEC_FORMS}", spec)
    else:
        raise DataError(f"unknown data spec (no such folder or file); accepted: {SPEC_FORMS}", spec)
    if len(ps) == 0:
        raise DataError("the data spec selects no pairs", spec)
    if split is None:
        return ps
    train, val = split_subjects(ps.subject_ids, val_fraction, seed)
    keep = val if split == "val" else train
    return ps.subset(np.array([s in keep for s in ps.subject_ids], dtype=bool))


def _load_phantom(n: int, seed: int, names: tuple[str, str], size: tuple[int, int], spec: str,
                  spread: float) -> PairSet:
    from .phantom import phantom_slices

    if n < 1:
        raise DataError("phantom:N needs N >= 1", spec)
    ps = phantom_slices(n, seed=seed, size=size, sequences=names, contrast_spread=spread)
    # every phantom slice is a fresh random brain: each is its own subject
    ids = [f"phantom-{seed}-{i:06d}" for i in range(n)]
    return PairSet(images=ps.images, subject_ids=ids, slice_index=np.zeros(n, dtype=np.int32), seg=ps.seg,
                   names=names, source=spec)


def _load_dicom_pairs(spec: str, names: tuple[str, str], min_brain_fraction: float, clip_negative: bool) -> PairSet:
    from .dicom import read_dicom_pairs

    # DICOM series carry no segmentation: the slices with brain are used whatever ``slices`` says
    images, index, subject, _ = read_dicom_pairs(spec, min_brain_fraction, clip_negative)
    return PairSet(images=images, subject_ids=[subject] * len(index), slice_index=index, seg=None, names=names,
                   source=spec, meta={"selection": "brain fraction (DICOM series have no segmentation)"})


def _load_dicom_studies(spec: str, names: tuple[str, str], min_brain_fraction: float, clip_negative: bool,
                        skip_bad: bool) -> PairSet:
    from .dicom import read_dicom_collection

    images, index, ids, read, skipped = read_dicom_collection(spec, min_brain_fraction, clip_negative, skip_bad)
    return PairSet(images=images, subject_ids=ids, slice_index=index, seg=None, names=names, source=spec,
                   meta={"selection": "brain fraction (DICOM series have no segmentation)", "skipped": skipped,
                         "subjects_read": read})


def _load_h5(spec: str, names: tuple[str, str], clip_negative: bool) -> PairSet:
    from .hdf5 import read_h5

    h = read_h5(spec, names, clip_negative=clip_negative)
    n = h.images.shape[0]
    if h.subject_ids is not None:
        ids = h.subject_ids
    else:
        # the original release has no subject ids (its slices were shuffled): each pair is its own unit,
        # so a split of such a file is per pair, not per subject
        ids = [f"{Path(spec).stem}-{i:06d}" for i in range(n)]
    sl = h.slice_index if h.slice_index is not None else np.zeros(n, dtype=np.int32)
    return PairSet(images=h.images, subject_ids=list(ids), slice_index=sl, seg=h.seg, names=names, source=spec,
                   meta={"subject_ids_in_file": h.subject_ids is not None, "renormalised": h.renormalised})


def _load_folder_pairs(spec: str, multiple: int, pad_mode: str) -> PairSet:
    from .pairs import read_pairs

    if pad_mode not in ("reflect", "zero"):
        raise DataError(f"padding mode must be 'reflect' or 'zero', got {pad_mode!r}")
    rest = spec[len("pairs:") :]
    parts = _split_dirs(rest)
    if parts is None:
        raise DataError(f"bad pairs spec {spec!r}; use pairs:DIR_A:DIR_B")
    dir_a, dir_b = parts
    pi = read_pairs(dir_a, dir_b)
    sizes = [a.shape for a in pi.a]
    H = max(s[0] for s in sizes)
    W = max(s[1] for s in sizes)
    H += (-H) % multiple
    W += (-W) % multiple
    images = np.zeros((len(pi), 2, H, W), dtype=np.float32)
    for i, (a, b) in enumerate(zip(pi.a, pi.b, strict=True)):
        for c, img in enumerate((a, b)):
            h, w = img.shape
            # bottom/right padding up to the common size; reflection needs more pixels than it adds
            reflect = pad_mode == "reflect" and H - h < h and W - w < w
            images[i, c] = np.pad(img.grey, ((0, H - h), (0, W - w)), mode="reflect" if reflect else "constant")
    return PairSet(
        images=images,
        subject_ids=list(pi.names),
        slice_index=np.zeros(len(pi), dtype=np.int32),
        seg=None,
        names=(Path(dir_a).name or "a", Path(dir_b).name or "b"),
        source=spec,
        meta={
            "file_names": list(pi.names),
            "sizes": sizes,
            "chroma_a": [a.chroma for a in pi.a],
            "chroma_b": [b.chroma for b in pi.b],
        },
    )


def _split_dirs(rest: str) -> tuple[str, str] | None:
    """Split ``DIR_A:DIR_B``; a colon inside a path (Windows drive ``C:\\``) is allowed when the split is
    unambiguous because exactly one split point gives two existing folders."""
    pieces = rest.split(":")
    if len(pieces) == 2 and all(pieces):
        return pieces[0], pieces[1]
    candidates = []
    for k in range(1, len(pieces)):
        a, b = ":".join(pieces[:k]), ":".join(pieces[k:])
        if a and b and Path(a).is_dir() and Path(b).is_dir():
            candidates.append((a, b))
    return candidates[0] if len(candidates) == 1 else None
