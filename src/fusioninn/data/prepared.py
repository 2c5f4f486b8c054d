"""Prepared collections: BraTS subjects decoded once into per-subject shards plus a checksummed manifest.

``prepare(source, cache)`` decodes every subject folder of a BraTS collection (reorientation, slice
selection, per-slice min-max exactly as :func:`fusioninn.data.brats.read_brats`) in worker processes and
writes, per subject, ``shards/<id>-<key>.images.npy`` (float32 (n, 2, H, W)) and, where a segmentation
was read, ``shards/<id>-<key>.seg.npy`` (uint8 (n, H, W)). ``manifest.json`` records the source, the
options, every subject's source files (size, modification time), its slice count and axial indices, and
the SHA-256 of each shard; subjects that could not be read are listed with the reason.

The source may also be a ``dicom:`` spec (two co-registered DICOM series, :mod:`fusioninn.data.dicom`):
one subject, every slice with brain (``slices="all"``; a DICOM series carries no segmentation), the very
slices ``evaluate --data dicom:...`` reads; the manifest records the spec with absolute folders and every
file of both series. A ``dicom-studies:`` spec (one subject per DICOM study under a root) is a collection
like a BraTS folder: the root is scanned once, each subject's manifest entry records every file of its two
series, and a subject that cannot be used is skipped (or, ``strict``, refused) like a BraTS subject.

- Resumable: the manifest is rewritten (atomically) as subjects finish, so a killed ``prepare`` continues
  with the subjects not yet done.
- A subject whose source files changed (size or modification time) is decoded again.
- Every shard is checked against its SHA-256 before it is used; one that fails is decoded again (or, when
  its source is gone, refused), never read.

:class:`fusioninn.data.dataset.ShardDataset` reads slices from the shards memory-mapped, one at a time, so a
training or evaluation process holds a few batches, not the collection.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = [
    "MANIFEST_NAME",
    "PrepareOptions",
    "Prepared",
    "is_prepared",
    "open_prepared",
    "prepare",
    "read_manifest",
]

MANIFEST_NAME = "manifest.json"
_FORMAT = "fusioninn-prepared"
_VERSION = 1
_SHARD_DIR = "shards"
_SHARD_RE = re.compile(r"^.+-[0-9a-f]{24}\.(images|seg)\.npy$")
_MANIFEST_EVERY_S = 1.0  # how often a running prepare saves its progress


@dataclass(frozen=True)
class PrepareOptions:
    """How subjects are turned into slices (the options of :func:`fusioninn.data.brats.read_brats`)."""

    names: tuple[str, str] = ("t1ce", "flair")
    slices: str = "tumour"
    min_tumour_pixels: int = 50
    min_brain_fraction: float = 0.1
    clip_negative: bool = True

    def __post_init__(self) -> None:
        from .brats import _check_names

        object.__setattr__(self, "names", tuple(_check_names(self.names)))
        if self.slices not in ("tumour", "all"):
            raise DataError(f"slices must be 'tumour' or 'all', got {self.slices!r}")
        if int(self.min_tumour_pixels) < 1:
            raise DataError(f"min_tumour_pixels must be >= 1, got {self.min_tumour_pixels}")
        if not 0.0 <= float(self.min_brain_fraction) <= 1.0:
            raise DataError(f"min_brain_fraction must be in [0, 1], got {self.min_brain_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "slices": self.slices, "min_tumour_pixels": int(self.min_tumour_pixels),
                "min_brain_fraction": float(self.min_brain_fraction), "clip_negative": bool(self.clip_negative)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PrepareOptions:
        return cls(names=tuple(d["names"]), slices=d["slices"], min_tumour_pixels=int(d["min_tumour_pixels"]),
                   min_brain_fraction=float(d["min_brain_fraction"]), clip_negative=bool(d["clip_negative"]))

    def describe(self) -> str:
        rule = (f"tumour slices (>= {self.min_tumour_pixels} px)" if self.slices == "tumour"
                else f"all slices (>= {self.min_brain_fraction:g} brain)")
        return f"{','.join(self.names)}, {rule}" + ("" if self.clip_negative else ", negatives kept")


@dataclass
class Prepared:
    """A prepared collection: its folder and manifest (``subjects`` in source order)."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def options(self) -> PrepareOptions:
        return PrepareOptions.from_dict(self.manifest["options"])

    @property
    def subjects(self) -> list[dict[str, Any]]:
        return self.manifest["subjects"]

    @property
    def skipped(self) -> list[dict[str, str]]:
        return self.manifest["skipped"]

    @property
    def n_slices(self) -> int:
        return sum(int(s["slices"]) for s in self.subjects)


def is_prepared(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`prepare`."""
    return (Path(path) / MANIFEST_NAME).is_file()


def read_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"not a readable prepared-collection manifest ({err})", path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise DataError("not a fusioninn prepared-collection manifest", path)
    if manifest.get("version") != _VERSION:
        raise DataError(f"prepared with format version {manifest.get('version')}, this fusioninn reads "
                        f"{_VERSION}; prepare it again", path)
    for key in ("source", "options", "subjects", "skipped"):
        if key not in manifest:
            raise DataError(f"manifest lacks {key!r}", path)
    return manifest


# ----------------------------------------------------------------------------------------------------
# decoding one subject (runs in a worker process)


class _HashingWriter:
    """A write-only file wrapper that hashes what passes through (np.save writes through it)."""

    def __init__(self, fh) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def _save_shard(path: Path, array: np.ndarray) -> dict[str, Any]:
    from ..atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        w = _HashingWriter(fh)
        np.save(w, np.ascontiguousarray(array), allow_pickle=False)
    return {"file": f"{_SHARD_DIR}/{path.name}", "bytes": w.size, "sha256": w.sha.hexdigest()}


def _decode_subject(folder: str, files: dict[str, str], options: dict[str, Any], shard_dir: str,
                    key: str, study_subject: str | None = None) -> dict[str, Any]:
    """Decode one subject and write its shards; returns the manifest entry (or ``{"error": ...}``).

    ``study_subject``: the subject id of one study of a ``dicom-studies:`` collection, whose ``files`` are
    keyed ``a.<n>`` (series A) and ``b.<n>`` (series B)."""
    from .brats import _read_subject, _safe

    opts = PrepareOptions.from_dict(options)
    try:
        if study_subject is not None:  # one study of a collection: its two series from their file lists
            from .dicom import StudyPair, read_study_pair

            pair = StudyPair(study_subject, Path(folder), "",
                             [Path(v) for k, v in sorted(files.items()) if k.startswith("a.")],
                             [Path(v) for k, v in sorted(files.items()) if k.startswith("b.")])
            images, index = read_study_pair(pair, opts.min_brain_fraction, opts.clip_negative)
            seg, name = None, study_subject
        elif folder.startswith("dicom:"):  # one subject: the two series of the spec
            from .dicom import read_dicom_pairs

            images, index, subject, _ = read_dicom_pairs(folder, opts.min_brain_fraction, opts.clip_negative)
            seg, name = None, subject
        else:
            images, seg, index = _read_subject(Path(folder), opts.names, opts.slices, opts.min_tumour_pixels,
                                               opts.min_brain_fraction, opts.clip_negative,
                                               {k: Path(v) for k, v in files.items()})
            name = Path(folder).name
    except DataError as err:
        return {"error": str(err)}
    base = Path(shard_dir) / f"{_safe(name)}-{key}"
    # seg first: the images shard is what the manifest entry points to first
    shards = {}
    if seg is not None:
        shards["seg"] = _save_shard(Path(f"{base}.seg.npy"), seg.astype(np.uint8))
    shards["images"] = _save_shard(Path(f"{base}.images.npy"), images.astype(np.float32))
    return {"slices": int(images.shape[0]), "slice_index": [int(i) for i in index],
            "shape": [int(s) for s in images.shape[1:]], "shards": shards}


def _worker_init() -> None:
    from ..allocator import tune_cpu_allocator

    # one thread per decoding process: N workers use N cores, not N x cores
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    # the same heap tuning as the command's own process (mallopt is per process, a spawned worker starts
    # with glibc's defaults): decoding a subject reuses its large buffers instead of faulting in new pages
    tune_cpu_allocator(True)


# ----------------------------------------------------------------------------------------------------
# checksums


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            sha.update(chunk)
    return sha.hexdigest()


def _shard_ok(folder: Path, shard: dict[str, Any]) -> bool:
    path = folder / shard["file"]
    try:
        if path.stat().st_size != int(shard["bytes"]):
            return False
        return _sha256_file(path) == shard["sha256"]
    except (OSError, KeyError, TypeError, ValueError):
        return False


def _entries_ok(folder: Path, entries: Sequence[dict[str, Any]]) -> list[bool]:
    """Check every shard of every entry against its size and SHA-256 (threads: hashlib releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    def check(entry: dict[str, Any]) -> bool:
        shards = entry.get("shards") or {}
        return "images" in shards and all(_shard_ok(folder, s) for s in shards.values())

    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(check, entries))


# ----------------------------------------------------------------------------------------------------
# prepare


def _file_record(path: Path, source: Path) -> dict[str, Any]:
    st = path.stat()
    try:
        rel = str(path.resolve().relative_to(source))
    except ValueError:
        rel = str(path.resolve())
    return {"path": rel, "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def _subject_key(files: dict[str, dict[str, Any]], options: dict[str, Any]) -> str:
    blob = json.dumps({"v": _VERSION, "files": files, "options": options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _stderr_line(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


def prepare(
    source: str | Path,
    cache: str | Path,
    options: PrepareOptions | None = None,
    *,
    workers: int = 1,
    strict: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Prepared:
    """Decode the BraTS collection ``source`` into the prepared folder ``cache`` (see the module docstring).

    Subjects already prepared with unchanged sources and intact shards are kept; the others are decoded in
    ``workers`` processes (1: in this process). Subjects that cannot be read are skipped with one
    ``log`` line each (default: stderr) and listed in the manifest, or, with ``strict``, raise
    :class:`DataError` (subjects finished so far stay prepared for the next run; ``fusioninn prepare --strict``
    is a bad-input refusal and removes what its run wrote).

    ``source`` may be a ``dicom:`` spec instead (one subject, ``options.slices`` must be ``"all"``), or a
    ``dicom-studies:`` spec (a collection, one subject per study; ``"all"`` too).

    Raises:
        DataError: no subject folders, a folder prepared from another source or with other options, no
            slice left at all, subjects of different slice sizes, or (``strict``) an unreadable subject.
    """
    from ..atomic import ensure_writable_dir
    from .brats import find_subject_folders

    options = options or PrepareOptions()
    if workers < 1:
        raise DataError(f"workers must be >= 1, got {workers}")
    dicom = str(source).startswith("dicom:")
    studies = str(source).startswith("dicom-studies:")
    src: Path | str
    folders: list[Path] = []
    if (dicom or studies) and options.slices != "all":
        kind = "dicom:" if dicom else "dicom-studies:"
        raise DataError(f"DICOM series carry no segmentation: prepare a {kind} spec with slices 'all' "
                        "(--slices all, the default for it)", str(source))
    if dicom:
        from .dicom import canonical_dicom_spec

        src = canonical_dicom_spec(str(source))
    elif studies:
        from .dicom import canonical_studies_spec

        src = canonical_studies_spec(str(source))
    else:
        src = Path(source).expanduser().resolve()
        folders = find_subject_folders(src)
    cache = Path(cache).expanduser()
    run = _PrepareRun(src, cache, options, strict, log or _stderr_line)
    run.old = run.check_target()
    if dicom:
        run.plan_dicom()
    elif studies:
        run.plan_studies()  # one scan of the root; studies without the two series are found here
    else:
        run.plan_subjects(folders)  # unreadable file sets are found here, before anything is written
    n_subjects = run.n_studies if studies else len(folders) or 1
    if dicom and not cache.exists():  # one subject: a failed decode leaves nothing behind
        try:
            return _prepare_into(run, ensure_writable_dir(cache), src, workers, progress, 1)
        except BaseException:
            import shutil

            shutil.rmtree(cache, ignore_errors=True)
            raise
    if studies and not cache.exists():  # a collection where nothing was usable leaves nothing behind
        try:
            return _prepare_into(run, ensure_writable_dir(cache), src, workers, progress, n_subjects)
        except BaseException:
            if not run.done:  # nothing decoded: nothing to resume either
                import shutil

                shutil.rmtree(cache, ignore_errors=True)
            raise
    return _prepare_into(run, ensure_writable_dir(cache), src, workers, progress, n_subjects)


def _prepare_into(run: _PrepareRun, out: Path, src: Path | str, workers: int, progress: bool,
                  n_folders: int) -> Prepared:
    from ..atomic import ensure_writable_dir

    # one prepare per folder at a time (e.g. every rank of a torchrun job opening it): the others wait,
    # then find the work done
    old = run.old
    with _folder_lock(out):
        if is_prepared(out):
            old = read_manifest(out)
            if str(old["source"]) != str(src) or old["options"] != run.opts:
                raise DataError("was prepared meanwhile from another source or with other options", out)
        shard_dir = ensure_writable_dir(out / _SHARD_DIR)
        run.reuse(old)
        run.decode_missing(shard_dir, workers, progress)
        _remove_unreferenced(shard_dir, run.done.values())
        run.check_result(n_folders)
        return Prepared(out, read_manifest(out))


class _PrepareRun:
    """The state of one :func:`prepare`: the plan, the subjects done and skipped, the manifest on disk."""

    def __init__(self, src: Path | str, cache: Path, options: PrepareOptions, strict: bool, say) -> None:
        self.src, self.cache, self.options, self.strict, self.say = src, cache, options, strict, say
        self.opts = options.to_dict()
        self.plan: list[tuple[Path, str, dict[str, Path], dict[str, Any], str]] = []
        self.skipped: list[dict[str, str]] = []
        self.done: dict[str, dict[str, Any]] = {}
        self.pending: set[str] = set()
        self.last_save = 0.0
        self.old: dict[str, Any] | None = None  # the manifest found in the folder before this run
        self.n_studies = 0  # studies found under the root of a dicom-studies: spec
        # dicom-studies: skip lines wait for the end, so that a collection with nothing usable says one line
        self.deferred: list[str] | None = [] if str(src).startswith("dicom-studies:") else None

    def check_target(self) -> dict[str, Any] | None:
        cache, src = self.cache, self.src
        old = None
        if is_prepared(cache):
            old = read_manifest(cache)
            if str(old["source"]) != str(src) or old["options"] != self.opts:
                was = PrepareOptions.from_dict(old["options"]).describe()
                raise DataError(f"was prepared from {old['source']} ({was}); asked for {src} "
                                f"({self.options.describe()}): use another --cache folder", cache)
        elif cache.is_dir() and any(p.name not in (".prepare.lock", _SHARD_DIR) and not p.name.startswith(".tmp-")
                                    for p in cache.iterdir()):  # (a prepare killed before its first manifest: ours)
            raise DataError("is not empty and holds no prepared collection (manifest.json); use an empty or new "
                            "folder", cache)
        for folder in _source_folders(src):
            if cache.resolve() == folder or folder in cache.resolve().parents:
                raise DataError("the prepared folder must not lie inside the source collection", cache)
        return old

    def plan_dicom(self) -> None:
        """The one subject of a ``dicom:`` spec: both series' files, read from the headers."""
        from .dicom import dicom_spec_sources

        sid, _, files = dicom_spec_sources(str(self.src))
        records = {f"{k:05d}": _file_record(p, Path(str(self.src))) for k, p in enumerate(files)}  # absolute
        self.plan.append((Path(str(self.src)), sid, {}, {"folder": str(self.src), "files": records},
                          _subject_key(records, self.opts)))

    def plan_studies(self) -> None:
        """The subjects of a ``dicom-studies:`` spec: one scan of the root, each study's two series' files."""
        from .dicom import find_study_pairs

        coll = find_study_pairs(str(self.src))
        self.n_studies = coll.studies
        for sid, reason in coll.problems:
            self._skip_or_raise(sid, reason)
        for pair in coll.pairs:
            files = {f"a.{k:05d}": p for k, p in enumerate(pair.files_a)}
            files.update({f"b.{k:05d}": p for k, p in enumerate(pair.files_b)})
            records = {k: _file_record(p, coll.root.resolve()) for k, p in files.items()}
            rel = str(pair.folder.resolve().relative_to(coll.root.resolve())) if pair.folder != coll.root else "."
            self.plan.append((pair.folder, pair.subject, files, {"folder": rel, "files": records},
                              _subject_key(records, self.opts)))

    def _skip_or_raise(self, sid: str, reason: str) -> None:
        if not reason.startswith("subject "):
            reason = f"subject {sid}: {reason}"
        if self.strict:
            raise DataError(reason)
        self.skip(sid, reason)

    def plan_subjects(self, folders: list[Path]) -> None:
        from .brats import subject_files

        need_seg = self.options.slices == "tumour"
        for folder in folders:
            sid = folder.name
            try:
                files = subject_files(folder, self.options.names, seg=need_seg)
                if not need_seg:  # read the segmentation where there is one
                    try:
                        files = subject_files(folder, self.options.names, seg=True)
                    except DataError:
                        pass
                records = {k: _file_record(p, self.src) for k, p in sorted(files.items())}
            except (DataError, OSError) as err:
                if self.strict:
                    raise
                self.skip(sid, str(err))
                continue
            rel = str(folder.relative_to(self.src)) if folder != self.src else "."
            self.plan.append((folder, sid, files, {"folder": rel, "files": records}, _subject_key(records, self.opts)))
        ids = [p[1] for p in self.plan]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise DataError(f"subject ids occur twice in the collection ({', '.join(dup[:5])})", self.src)

    def skip(self, sid: str, reason: str) -> None:
        self.skipped.append({"id": sid, "reason": reason})
        line = f"warning: skipping subject {sid}: {reason}"
        if self.deferred is not None:
            self.deferred.append(line.replace(f": subject {sid}: ", ": ", 1))
        else:
            self.say(line)

    def reuse(self, old: dict[str, Any] | None) -> None:
        """Keep the subjects of an earlier run whose sources are unchanged and whose shards pass their checksum."""
        if old is not None:
            by_id = {e["id"]: e for e in old["subjects"]}
            reusable = [by_id[sid] for _, sid, _, _, key in self.plan
                        if sid in by_id and by_id[sid].get("key") == key]
            for e, ok in zip(reusable, _entries_ok(self.cache, reusable), strict=True):
                if ok:
                    self.done[e["id"]] = e
                else:
                    self.say(f"warning: subject {e['id']}: a shard fails its checksum; decoding the subject again")
        self.pending = {p[1] for p in self.plan if p[1] not in self.done}

    def save(self, force: bool = False) -> None:
        """Write the manifest (atomically); while decoding at most once per second."""
        from ..atomic import atomic_write_text

        if not force and time.monotonic() - self.last_save < _MANIFEST_EVERY_S:
            return
        subjects = [self.done[sid] for _, sid, *_ in self.plan if sid in self.done]
        manifest = {"format": _FORMAT, "version": _VERSION, "source": str(self.src), "options": self.opts,
                    "complete": not self.pending, "subjects": subjects, "skipped": list(self.skipped),
                    "slices": sum(int(s["slices"]) for s in subjects)}
        atomic_write_text(self.cache / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
        self.last_save = time.monotonic()

    def finish(self, item, result: dict[str, Any]) -> None:
        _, sid, _, rec, key = item
        self.pending.discard(sid)
        if "error" not in result:
            self.done[sid] = {"id": sid, **rec, "key": key, **result}
        elif str(self.src).startswith("dicom:"):  # the one subject of a dicom: spec: its error is the error
            raise DataError(result["error"])
        elif self.strict:
            self.save(force=True)
            raise DataError(f"{result['error']} (prepare --strict stops here)")
        else:
            self.skip(sid, result["error"])
        self.save()

    def decode_missing(self, shard_dir: Path, workers: int, progress: bool) -> None:
        from tqdm import tqdm

        todo = [p for p in self.plan if p[1] in self.pending]
        bar = tqdm(total=len(self.plan), initial=len(self.plan) - len(todo), unit="subject", desc="prepare",
                   disable=not progress, file=sys.stderr, dynamic_ncols=True, smoothing=0.1)

        studies = self.deferred is not None

        def job(item):
            folder, sid, files, rec, key = item
            where = rec["folder"] if str(rec["folder"]).startswith("dicom:") else str(folder)
            return (where, {k: str(v) for k, v in files.items()}, self.opts, str(shard_dir), key,
                    sid if studies else None)

        try:
            if workers == 1 or len(todo) <= 1:
                for item in todo:
                    self.finish(item, _decode_subject(*job(item)))
                    bar.update(1)
            else:
                self._decode_in_pool(todo, job, workers, bar)
        finally:
            bar.close()
            if self.pending:  # interrupted: keep what is done for the next run
                try:
                    self.save(force=True)
                except Exception:  # never mask the original error
                    pass

    def _decode_in_pool(self, todo, job, workers: int, bar) -> None:
        import multiprocessing as mp

        # spawn, not fork: the parent may hold torch threads and open files; workers import only numpy,
        # nibabel and this package's data layer
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init) as pool:
            futures = {pool.submit(_decode_subject, *job(item)): item for item in todo}
            try:
                for fut in as_completed(futures):
                    self.finish(futures[fut], fut.result())
                    bar.update(1)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def check_result(self, n_folders: int) -> None:
        self.save(force=True)
        done = list(self.done.values())
        if not done:
            if self.deferred is not None:
                reasons = "; ".join(s["reason"] for s in self.skipped[:3])
                raise DataError(f"no usable subject among {n_folders} DICOM studies ({reasons})", self.src)
            reasons = "; ".join(f"{s['id']}: {s['reason']}" for s in self.skipped[:5])
            raise DataError(f"no slices selected from {n_folders} subject(s)" + (f" ({reasons})" if reasons else ""),
                            self.src)
        if len({tuple(e["shape"]) for e in done}) > 1:
            listed = ", ".join(f"{e['id']} {e['shape'][1]}x{e['shape'][2]}" for e in done[:6])
            raise DataError(f"subjects have different slice sizes ({listed}); prepare them separately", self.src)
        for line in self.deferred or ():
            self.say(line)
        if self.skipped:
            self.say(f"warning: prepared {len(done)} of {n_folders} subjects; skipped {len(self.skipped)} "
                     f"(listed in {self.cache / MANIFEST_NAME})")


def _source_folders(source: Path | str) -> list[Path]:
    """The folders a prepared collection was decoded from: the BraTS root, or both folders of a dicom: spec."""
    if str(source).startswith("dicom-studies:"):
        from .dicom import parse_studies_spec

        try:
            return [parse_studies_spec(str(source))[0].resolve()]
        except DataError:
            return [Path(str(source))]
    if str(source).startswith("dicom:"):
        from .dicom import parse_dicom_spec

        try:
            folder_a, _, folder_b, _ = parse_dicom_spec(str(source))
        except DataError:
            return [Path(str(source))]
        return [folder_a.resolve(), folder_b.resolve()]
    return [Path(source)]


@contextlib.contextmanager
def _folder_lock(folder: Path):
    import fcntl

    from ..atomic import note_created

    # an empty file that only carries the lock: nothing is ever written to it
    lock = folder / ".prepare.lock"
    created = not lock.exists()
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    if created:  # a failed command removes it with the rest of what it created (and then the folder)
        note_created(lock)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove_unreferenced(shard_dir: Path, entries) -> None:
    """Delete shards of earlier decodes (changed sources, failed checksums) that no entry points to."""
    keep = {Path(s["file"]).name for e in entries for s in e["shards"].values()}
    for p in shard_dir.iterdir():
        if p.is_file() and _SHARD_RE.match(p.name) and p.name not in keep:
            p.unlink(missing_ok=True)


def open_prepared(
    folder: str | Path,
    *,
    workers: int = 1,
    strict: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Prepared:
    """Open a prepared folder for reading, with every shard checked first.

    When the source collection is still there this is :func:`prepare` with the folder's own options (changed
    or damaged subjects are decoded again, new ones added). Without the source, shards are checked against
    their checksums and a failing one raises :class:`DataError`: it is never read.
    """
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    options = PrepareOptions.from_dict(manifest["options"])
    if all(f.is_dir() for f in _source_folders(manifest["source"])):
        return prepare(manifest["source"], folder, options, workers=workers, strict=strict, progress=progress,
                       log=log)
    bad = [e["id"] for e, ok in zip(manifest["subjects"], _entries_ok(folder, manifest["subjects"]), strict=True)
           if not ok]
    if bad:
        raise DataError(f"shards of {len(bad)} subject(s) fail their checksum ({', '.join(bad[:5])}) and the source "
                        f"{manifest['source']} is gone; prepare the collection again", folder)
    if not manifest.get("complete", False):
        (log or _stderr_line)(f"warning: {folder} is an interrupted prepare ({len(manifest['subjects'])} subjects); "
                              "using what is there")
    if not manifest["subjects"]:
        raise DataError("the prepared folder holds no subjects", folder)
    return Prepared(folder, manifest)
