"""Slice datasets for every data spec, read lazily, and the DataLoaders that feed training and evaluation.

Every data spec opens as a :class:`SliceDataset` (a ``torch.utils.data.Dataset``) that indexes
(subject, slice) pairs in the order :func:`fusioninn.data.spec.load_pairs` gives them:

- a prepared folder (:mod:`fusioninn.data.prepared`), or a BraTS folder with ``cache=DIR`` (prepared on the
  fly): :class:`ShardDataset`, slices read from per-subject memory-mapped ``.npy`` shards;
- ``phantom:N`` with more than :data:`IN_MEMORY_BYTES` of slices: :class:`PhantomDataset`, each slice
  generated on demand from (seed, index), exactly the slice ``phantom_slices`` would give;
- an HDF5 file larger than :data:`IN_MEMORY_BYTES`: :class:`H5Dataset` (h5py reads are lazy);
- everything else (small phantoms and HDF5 files, ``pairs:``, a BraTS folder without a cache) stays in
  memory: :class:`ArrayDataset` — faster when it fits, behind the same interface.

A process reading a lazy dataset holds the batches in flight (batch x workers x prefetch), never the
collection. :class:`EpochBatchSampler` gives each data-parallel rank its share of every global batch,
deterministically from (seed, epoch), and :func:`make_loader` wraps it all in a ``DataLoader``.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import DataError

__all__ = [
    "IN_MEMORY_BYTES",
    "ArrayDataset",
    "ConcatSlices",
    "EpochBatchSampler",
    "H5Dataset",
    "PhantomDataset",
    "ShardDataset",
    "SliceDataset",
    "SubsetSlices",
    "epoch_generator",
    "make_loader",
    "open_slices",
    "sequential_batches",
]

#: Lazily read sources up to this size are read into memory instead (faster, and small).
IN_MEMORY_BYTES = 512 * 1024**2


class SliceDataset(Dataset):
    """Slice pairs float32 (C, H, W) in [0, 1], indexed in a fixed order.

    Attributes every implementation sets: ``names`` (the two sequences), ``subject_ids`` (one per item),
    ``slice_index`` (int32, axial index per item), ``shape`` ((C, H, W) of every item), ``source`` (the
    spec) and ``meta`` (source-specific extras, as :class:`fusioninn.data.spec.PairSet`).
    """

    names: tuple[str, str]
    subject_ids: list[str]
    slice_index: np.ndarray
    shape: tuple[int, int, int]
    source: str
    meta: dict
    in_memory: bool = False

    def __len__(self) -> int:
        return len(self.subject_ids)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """float32 (len(indices), C, H, W) for the given item indices (in that order)."""
        raise NotImplementedError

    def __getitem__(self, i: int) -> torch.Tensor:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"slice {i} out of range for {n} slices")
        return torch.from_numpy(self.read([i % n])[0])

    def __getitems__(self, indices: Sequence[int]) -> torch.Tensor:
        # DataLoader hands a whole batch of indices here: one read per batch, grouped by shard
        return torch.from_numpy(self.read([int(i) for i in indices]))

    @property
    def subjects(self) -> list[str]:
        """Distinct subject ids, in order of first appearance."""
        return list(dict.fromkeys(self.subject_ids))

    def subset(self, indices: Sequence[int] | np.ndarray) -> SliceDataset:
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return SubsetSlices(self, idx.astype(np.int64))

    def split(self, part: str, val_fraction: float = 0.2, seed: int = 0) -> SliceDataset:
        """The ``"train"`` or ``"val"`` side of the subject-level split (see ``split_subjects``)."""
        from .spec import split_subjects

        train, val = split_subjects(self.subject_ids, val_fraction, seed)
        keep = val if part == "val" else train
        return self.subset(np.array([s in keep for s in self.subject_ids], dtype=bool))

    def batches(self, batch_size: int, workers: int = 0) -> Iterator[np.ndarray]:
        """float32 (B, C, H, W) batches in order (the last may be smaller), read ahead by ``workers``."""
        return sequential_batches(self, batch_size, workers)

    def nbytes(self) -> int:
        c, h, w = self.shape
        return len(self) * c * h * w * 4


class ArrayDataset(SliceDataset):
    """Slices held in memory (a :class:`fusioninn.data.spec.PairSet` or an (N, C, H, W) array)."""

    in_memory = True

    def __init__(self, images: np.ndarray, subject_ids: Sequence[str] | None = None,
                 slice_index: np.ndarray | None = None, names: tuple[str, str] = ("t1ce", "flair"),
                 source: str = "", meta: dict | None = None, seg: np.ndarray | None = None) -> None:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise DataError(f"expected (N, C, H, W) slices, got shape {tuple(images.shape)}")
        n = images.shape[0]
        self.images = images
        self.subject_ids = list(subject_ids) if subject_ids is not None else [f"slice-{i:06d}" for i in range(n)]
        self.slice_index = (np.asarray(slice_index, dtype=np.int32) if slice_index is not None
                            else np.zeros(n, dtype=np.int32))
        self.names = tuple(names)  # type: ignore[assignment]
        self.shape = tuple(int(s) for s in images.shape[1:])  # type: ignore[assignment]
        self.source = source
        self.meta = dict(meta or {})
        self.seg = seg

    @classmethod
    def from_pairs(cls, ps) -> ArrayDataset:
        return cls(ps.images, ps.subject_ids, ps.slice_index, ps.names, ps.source, ps.meta, ps.seg)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return self.images[np.asarray(indices, dtype=np.int64)]

    def subset(self, indices) -> ArrayDataset:
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        n = len(self)
        meta = {k: ([v[i] for i in idx] if isinstance(v, list) and len(v) == n else v) for k, v in self.meta.items()}
        return ArrayDataset(self.images[idx], [self.subject_ids[i] for i in idx], self.slice_index[idx], self.names,
                            self.source, meta, None if self.seg is None else self.seg[idx])


class SubsetSlices(SliceDataset):
    """Items ``indices`` of another dataset, read lazily through it."""

    def __init__(self, base: SliceDataset, indices: np.ndarray) -> None:
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)
        self.subject_ids = [base.subject_ids[i] for i in self.indices]
        self.slice_index = base.slice_index[self.indices]
        self.names, self.shape, self.source = base.names, base.shape, base.source
        self.meta = {k: v for k, v in base.meta.items() if not isinstance(v, list)}
        self.in_memory = base.in_memory

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return self.base.read(self.indices[np.asarray(indices, dtype=np.int64)].tolist())

    def subset(self, indices) -> SliceDataset:
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return SubsetSlices(self.base, self.indices[idx])


class ConcatSlices(SliceDataset):
    """Several datasets of one slice size one after the other; subject ids prefixed ``k:`` by source."""

    def __init__(self, parts: Sequence[SliceDataset]) -> None:
        shapes = {p.shape for p in parts}
        if len(shapes) != 1:
            raise DataError(f"the data specs have different slice sizes {sorted(shapes)}; use one size")
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.subject_ids = [f"{k}:{sid}" for k, p in enumerate(parts) for sid in p.subject_ids]
        self.slice_index = np.concatenate([p.slice_index for p in parts]).astype(np.int32)
        self.names, self.shape = parts[0].names, parts[0].shape
        self.source = "+".join(p.source for p in parts)
        self.meta = {}
        self.in_memory = all(p.in_memory for p in parts)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(idx), *self.shape), dtype=np.float32)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        for k in np.unique(part):
            sel = np.flatnonzero(part == k)
            out[sel] = self.parts[k].read((idx[sel] - self.offsets[k]).tolist())
        return out


class ShardDataset(SliceDataset):
    """Slices of a prepared collection, read from its per-subject shards memory-mapped.

    Only ``max_open`` shards are mapped at a time (least recently used closed first), so the pages a long
    epoch touches are unmapped again instead of accumulating in the process's resident set; every read
    copies its slices out of the map.
    """

    def __init__(self, prepared, max_open: int = 8) -> None:
        from .prepared import Prepared

        if not isinstance(prepared, Prepared):
            raise TypeError("ShardDataset takes a Prepared collection (fusioninn.data.prepared.open_prepared)")
        self.folder = Path(prepared.folder)
        subjects = prepared.subjects
        if not subjects:
            raise DataError("the prepared folder holds no subjects", self.folder)
        self.files = [self.folder / s["shards"]["images"]["file"] for s in subjects]
        self.seg_files = [self.folder / s["shards"]["seg"]["file"] if "seg" in s["shards"] else None
                          for s in subjects]
        counts = np.array([int(s["slices"]) for s in subjects], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.subject_ids = [s["id"] for s, c in zip(subjects, counts, strict=True) for _ in range(int(c))]
        self.slice_index = np.concatenate([np.asarray(s["slice_index"], dtype=np.int32) for s in subjects])
        self.names = tuple(prepared.options.names)  # type: ignore[assignment]
        self.shape = tuple(int(v) for v in subjects[0]["shape"])  # type: ignore[assignment]
        self.source = str(self.folder)
        self.meta = {"prepared": str(self.folder), "skipped": [(s["id"], s["reason"]) for s in prepared.skipped],
                     "subjects_read": [s["id"] for s in subjects], "options": prepared.options.to_dict()}
        self.max_open = max(1, int(max_open))
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_maps"] = OrderedDict()  # each worker process maps its own
        return state

    def _map(self, k: int) -> np.ndarray:
        mm = self._maps.get(k)
        if mm is None:
            try:
                mm = np.load(self.files[k], mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise DataError(f"cannot read shard ({err}); prepare the collection again", self.files[k]) from None
            if mm.shape[0] != self.offsets[k + 1] - self.offsets[k] or tuple(mm.shape[1:]) != self.shape:
                raise DataError(f"shard shape {mm.shape} does not match the manifest", self.files[k])
            self._maps[k] = mm
            while len(self._maps) > self.max_open:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(k)
        return mm

    def read(self, indices: Sequence[int]) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"slice index out of range for {len(self)} slices")
        out = np.empty((len(idx), *self.shape), dtype=np.float32)
        subj = np.searchsorted(self.offsets, idx, side="right") - 1
        for k in np.unique(subj):
            sel = np.flatnonzero(subj == k)
            local = idx[sel] - self.offsets[k]
            out[sel] = self._map(int(k))[local]
        return out

    def read_seg(self, indices: Sequence[int]) -> np.ndarray | None:
        """uint8 (len(indices), H, W) labels, or None when some subject has no segmentation."""
        if any(f is None for f in self.seg_files):
            return None
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(idx), *self.shape[1:]), dtype=np.uint8)
        subj = np.searchsorted(self.offsets, idx, side="right") - 1
        for k in np.unique(subj):
            sel = np.flatnonzero(subj == k)
            seg = np.load(self.seg_files[k], mmap_mode="r", allow_pickle=False)
            out[sel] = seg[idx[sel] - self.offsets[k]]
        return out


class PhantomDataset(SliceDataset):
    """``phantom:N:SEED[:spread=S]`` generated slice by slice: item i equals
    ``phantom_slices(N, SEED, contrast_spread=S).images[i]``."""

    def __init__(self, n: int, seed: int = 0, size: tuple[int, int] = (240, 240),
                 names: tuple[str, str] = ("t1ce", "flair"), source: str = "", contrast_spread: float | None = None,
                 ) -> None:
        from .phantom import CONTRAST_SPREAD, _check_sequences, check_contrast_spread

        if n < 1:
            raise DataError("phantom:N needs N >= 1", source or None)
        self.n, self.seed, self.size = int(n), int(seed), (int(size[0]), int(size[1]))
        self.names = tuple(_check_sequences(names))  # type: ignore[assignment]
        self.subject_ids = [f"phantom-{seed}-{i:06d}" for i in range(n)]
        self.slice_index = np.zeros(n, dtype=np.int32)
        self.shape = (len(self.names), *self.size)  # type: ignore[assignment]
        self.spread = check_contrast_spread(CONTRAST_SPREAD if contrast_spread is None else contrast_spread)
        self.source = source or f"phantom:{n}:{seed}"
        self.meta = {}

    def read(self, indices: Sequence[int]) -> np.ndarray:
        from .phantom import phantom_slice_at

        out = np.empty((len(indices), *self.shape), dtype=np.float32)
        for j, i in enumerate(indices):
            out[j] = phantom_slice_at(int(i), self.seed, self.size, self.names, contrast_spread=self.spread)
        return out


class H5Dataset(SliceDataset):
    """Channels of an HDF5 slice file read slice by slice (see :mod:`fusioninn.data.hdf5` for the layout)."""

    def __init__(self, path: str | Path, names: tuple[str, str] = ("t1ce", "flair"), clip_negative: bool = True,
                 source: str = "") -> None:
        from .hdf5 import inspect_h5

        info = inspect_h5(path, names)
        self.path = Path(path)
        self.channel_index = info["channel_index"]
        self.renormalise = info["renormalise"]
        self.clip_negative = clip_negative
        n = info["n"]
        sids = info["subject_ids"]
        self.subject_ids = list(sids) if sids is not None else [f"{self.path.stem}-{i:06d}" for i in range(n)]
        self.slice_index = info["slice_index"] if info["slice_index"] is not None else np.zeros(n, dtype=np.int32)
        self.names = tuple(names)  # type: ignore[assignment]
        self.shape = (len(names), *info["hw"])  # type: ignore[assignment]
        self.source = source or str(path)
        self.meta = {"subject_ids_in_file": sids is not None, "renormalised": self.renormalise}
        self._fh = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fh"] = None  # h5py handles do not cross processes; each worker opens its own
        return state

    def read(self, indices: Sequence[int]) -> np.ndarray:
        import h5py

        from .volume import minmax_normalise

        if self._fh is None:
            self._fh = h5py.File(self.path, "r")
        ds = self._fh["data"]
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx)
        try:
            block = ds[np.sort(idx).tolist()] if len(np.unique(idx)) == len(idx) else \
                np.stack([ds[int(i)] for i in np.sort(idx)])
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read 'data' ({err})", self.path) from None
        out = np.empty((len(idx), *self.shape), dtype=np.float32)
        out[order] = block[:, self.channel_index]
        if self.renormalise:
            out = minmax_normalise(out, clip_negative=self.clip_negative)[0]
        return out


# ----------------------------------------------------------------------------------------------------
# samplers and loaders


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of one epoch's data order (and the trainer's crops): a function of (seed, epoch) only."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


class EpochBatchSampler(Sampler[list[int]]):
    """Each rank's share of every global batch of one epoch.

    The epoch's order is ``torch.randperm(n)`` from :func:`epoch_generator` (seed, epoch) — the same on every
    rank, as with ``DistributedSampler``. Global batch ``k`` is ``order[k*B:(k+1)*B]``; rank ``r`` of ``W``
    reads only the contiguous part ``[len*r//W, len*(r+1)//W)`` of it. Unlike ``DistributedSampler`` (which
    deals indices out round-robin and pads the epoch to a multiple of W), the ranks' shares concatenate to
    exactly the single-process batch, in its order, so a data-parallel run reproduces a single process.

    ``set_epoch(e, start_step=s)`` selects the epoch and skips its first ``s`` batches (resuming mid-epoch).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1,
                 shuffle: bool = True) -> None:
        if n < 1 or batch_size < 1:
            raise DataError(f"need n >= 1 and batch_size >= 1, got {n} and {batch_size}")
        if not 0 <= rank < world:
            raise DataError(f"rank {rank} outside a world of {world}")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.rank, self.world, self.shuffle = int(rank), int(world), bool(shuffle)
        self.epoch, self.start_step = 0, 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = int(epoch), int(start_step)

    @property
    def steps(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch))

    def global_batches(self) -> Iterator[torch.Tensor]:
        order = self.order()
        for k in range(self.start_step, self.steps):
            yield order[k * self.batch_size : (k + 1) * self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            m = len(batch)
            yield batch[m * self.rank // self.world : m * (self.rank + 1) // self.world].tolist()

    def __len__(self) -> int:
        return self.steps - self.start_step


class _ChunkSampler(Sampler[list[int]]):
    def __init__(self, indices: Sequence[int], chunk: int) -> None:
        self.indices, self.chunk = list(indices), max(1, int(chunk))

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(0, len(self.indices), self.chunk):
            yield self.indices[i : i + self.chunk]

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.chunk)


def _collate(batch: Any) -> torch.Tensor:
    return batch if isinstance(batch, torch.Tensor) else torch.stack(list(batch))


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # a reading worker must not compete with the training threads


def make_loader(dataset: SliceDataset, batch_sampler: Sampler, workers: int = 0, device: str | torch.device = "cpu",
                prefetch: int = 2) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` with ``batch_sampler``: ``workers`` reading processes (0 = in this
    process; in-memory datasets always read in-process, which is faster), ``prefetch`` batches read ahead
    per worker, pinned memory when training on CUDA."""
    workers = 0 if dataset.in_memory else max(0, int(workers))
    on_cuda = torch.device(device).type == "cuda"
    kw: dict[str, Any] = {}
    if workers:
        kw = {"prefetch_factor": max(1, int(prefetch)), "worker_init_fn": _worker_init,
              "multiprocessing_context": _mp_context()}
    # its own generator: a DataLoader otherwise draws its workers' base seed from the global random state
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=workers, collate_fn=_collate,
                      pin_memory=on_cuda and not dataset.in_memory, generator=torch.Generator().manual_seed(0), **kw)


def _mp_context():
    import multiprocessing as mp

    # fork is cheap and fine for reading workers on Linux; elsewhere the platform default
    return mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None


def sequential_batches(dataset: SliceDataset, batch_size: int, workers: int = 0,
                       indices: Sequence[int] | None = None) -> Iterator[np.ndarray]:
    """float32 numpy batches of ``dataset`` (or of ``indices``) in order."""
    if batch_size < 1:
        raise DataError(f"batch size must be >= 1, got {batch_size}")
    idx = list(range(len(dataset))) if indices is None else list(indices)
    loader = make_loader(dataset, _ChunkSampler(idx, batch_size), workers)
    return _NumpyBatches(loader)


class _NumpyBatches:
    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[np.ndarray]:
        for b in self.loader:
            yield b.numpy()


# ----------------------------------------------------------------------------------------------------
# opening a data spec


def open_slices(
    spec: str,
    *,
    pair: str | Sequence[str] | None = None,
    split: str | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    slices: str | None = None,
    min_tumour_pixels: int | None = None,
    min_brain_fraction: float | None = None,
    clip_negative: bool | None = None,
    cache: str | Path | None = None,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    strict: bool = False,
    skip_bad: bool = False,
    size: tuple[int, int] = (240, 240),
    multiple: int = 2,
    pad_mode: str = "reflect",
    progress: bool = True,
    in_memory_bytes: int = IN_MEMORY_BYTES,
) -> SliceDataset:
    """Open a data spec as a :class:`SliceDataset` (same forms and options as
    :func:`fusioninn.data.spec.load_pairs`, plus prepared folders).

    Options left ``None`` take their defaults (``t1ce,flair``, ``tumour``, 50 px, 0.1, clipping), or, for a
    prepared folder, the folder's own; a prepared folder asked for other options raises :class:`DataError`.
    With ``cache`` a BraTS folder (or a ``dicom:`` / ``dicom-studies:`` spec, with ``slices="all"``) is
    prepared there first
    (``workers`` decoding processes; ``strict``: an unreadable subject is an error, otherwise skipped with a
    warning). ``cache_dir`` is the in-memory
    reader's decode cache (:func:`fusioninn.data.brats.read_brats`).
    """
    from .prepared import PrepareOptions, is_prepared, open_prepared, prepare
    from .spec import _PHANTOM_RE, load_pairs, parse_pair, phantom_spread

    if split not in (None, "train", "val"):
        raise DataError(f"split must be None, 'train' or 'val', got {split!r}")
    spec = str(spec)
    asked = {"names": None if pair is None else list(parse_pair(pair)), "slices": slices,
             "min_tumour_pixels": min_tumour_pixels, "min_brain_fraction": min_brain_fraction,
             "clip_negative": clip_negative}
    defaults = PrepareOptions().to_dict()
    resolved = {k: (defaults[k] if v is None else v) for k, v in asked.items()}
    names = tuple(resolved["names"])
    path = Path(spec).expanduser()
    ds: SliceDataset
    m = _PHANTOM_RE.match(spec)
    dicom = spec.startswith(("dicom:", "dicom-studies:"))
    if is_prepared(path):
        prepared = open_prepared(path, workers=workers, strict=strict, progress=progress)
        _check_asked(asked, prepared.options.to_dict(), path)
        ds = ShardDataset(prepared)
    elif cache is not None and (dicom or path.is_dir() and not spec.startswith(("pairs:", "phantom:"))):
        if dicom and slices is None:  # DICOM series carry no segmentation
            resolved["slices"] = "all"
        options = PrepareOptions(names=names, slices=resolved["slices"],  # type: ignore[arg-type]
                                 min_tumour_pixels=int(resolved["min_tumour_pixels"]),
                                 min_brain_fraction=float(resolved["min_brain_fraction"]),
                                 clip_negative=bool(resolved["clip_negative"]))
        ds = ShardDataset(prepare(spec if dicom else path, cache, options, workers=workers,
                                  strict=strict, progress=progress))
    elif m and int(m.group(1)) * len(names) * size[0] * size[1] * 4 > in_memory_bytes:
        ds = PhantomDataset(int(m.group(1)), int(m.group(2) or 0), size, names, spec,  # type: ignore[arg-type]
                            phantom_spread(m))
    elif spec.lower().endswith((".h5", ".hdf5")) and path.is_file() and path.stat().st_size > in_memory_bytes:
        ds = H5Dataset(path, names, bool(resolved["clip_negative"]), spec)  # type: ignore[arg-type]
    else:
        if path.is_dir() and not spec.startswith(("pairs:", "phantom:")):
            _warn_large(path)
        ps = load_pairs(spec, pair=names, slices=resolved["slices"], min_tumour_pixels=resolved["min_tumour_pixels"],
                        min_brain_fraction=resolved["min_brain_fraction"], clip_negative=resolved["clip_negative"],
                        cache_dir=cache_dir, skip_bad=skip_bad, size=size, multiple=multiple, pad_mode=pad_mode)
        ds = ArrayDataset.from_pairs(ps)
    if len(ds) == 0:
        raise DataError("the data spec selects no pairs", spec)
    if split is None:
        return ds
    return ds.split(split, val_fraction, seed)


def _check_asked(asked: dict, have: dict, path: Path) -> None:
    for key, value in asked.items():
        if value is not None and value != have[key]:
            raise DataError(f"was prepared with {key.replace('_', ' ')} {have[key]!r}, asked for {value!r}: prepare "
                            "another folder for those options", path)


_WARN_SUBJECTS = 50


def _warn_large(root: Path) -> None:
    """A big BraTS folder read without a cache goes entirely into memory: say so, once, and how to avoid it."""
    try:
        from .brats import find_subject_folders

        n = len(find_subject_folders(root))
    except DataError:
        return
    if n > _WARN_SUBJECTS:
        import sys

        print(f"warning: reading {n} subjects into memory (about 1 MB per slice); pass --cache DIR to decode "
              "them once and stream from disk", file=sys.stderr)


def default_workers() -> int:
    """DataLoader workers for lazily read data: one (reading is light next to a training step)."""
    return 1 if (os.cpu_count() or 1) > 1 else 0
