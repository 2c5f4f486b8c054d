"""The bad-input cases of the reliability suite, shared by the tests and ``benchmarks/reliability_table.py``.

Every case builds its inputs in its own folder, runs one CLI command in-process through
``fusioninn.cli.main`` (optionally with a simulated fault: a full disk, an internal error), and records
the exit code, stderr and the files the command left behind. What each case must get:

- exit code 2 for bad input (1 for internal errors), 0 for inputs that must work (all-zero, odd sizes);
- exactly one line on stderr, naming the offending file (when there is one) and the problem;
- no traceback (only ``--debug`` shows one);
- nothing left behind by a failed command: no partial output, no ``.tmp-*`` file, no folder (empty or not);
- every file that existed before the command (its inputs) byte-identical afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import os
import pickle  # only to *write* a malicious file that import-original must refuse
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np

from fusioninn.api import default_weights_path

__all__ = ["Case", "Ctx", "Outcome", "CASES", "make_assets", "run_case", "files_under"]


# --------------------------------------------------------------------------------------------------
# inputs
def blobs(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w))
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 6)
        img += rng.uniform(0.3, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return img / img.max()


def png(path: Path, arr: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def npy(path: Path, arr: np.ndarray) -> Path:
    np.save(path, arr)
    return path


def nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    import nibabel as nib

    nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.eye(4) if affine is None else affine).to_filename(path)
    return path


def volume(shape=(16, 16, 4), seed: int = 0) -> np.ndarray:
    return np.stack([blobs(shape[0], shape[1], seed + k) for k in range(shape[2])], axis=-1) * 1000


def huge_png(path: Path, w: int = 60000, h: int = 60000) -> Path:
    """A valid PNG header announcing ``w`` x ``h`` pixels, with one tiny (truncated) data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def huge_nifti(path: Path, shape=(4096, 4096, 4096)) -> Path:
    """A NIfTI header announcing a float32 volume of ``shape`` with almost no data behind it."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.float32)
    hdr.set_qform(np.eye(4), code=1)
    with gzip.open(path, "wb") as fh:
        fh.write(hdr.binaryblock + b"\0" * 4 + b"\0" * 1024)
    return path


def huge_npy(path: Path, shape=(200_000, 200_000)) -> Path:
    """A ``.npy`` header announcing a float64 array of ``shape`` with no data."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return path


def truncated_gz(path: Path, data: np.ndarray) -> Path:
    nifti(path, data)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def h5(path: Path, data: np.ndarray) -> Path:
    import h5py

    with h5py.File(path, "w") as fh:
        fh["data"] = data
    return path


class _Evil:
    """Unpickling this runs code: what a malicious ``.pt`` does. import-original must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# --------------------------------------------------------------------------------------------------
@dataclass
class Ctx:
    """What a case builder gets: its own folder and the shared assets (models, checkpoints)."""

    root: Path
    assets: Path

    def p(self, name: str) -> Path:
        return self.root / name

    def s(self, name: str) -> str:
        return str(self.root / name)

    @property
    def model(self) -> str:
        return str(self.assets / "model.safetensors")


def make_assets(folder: Path, with_run: bool = True) -> Path:
    """Small checkpoints shared by the cases: a random FusionINN (fast widths), a CNN baseline, a
    FusionINN with weights that do not fit its config, a tampered copy, an ``original``-style ``.pt``,
    and (``with_run``) a real one-epoch training run in ``run/`` for the resume cases."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from fusioninn.api import save_model
    from fusioninn.models import FusionINN, FusionINNConfig
    from fusioninn.models.baselines.registry import CNN_BASELINES
    from fusioninn.training.checkpoint import CheckpointData, save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = FusionINN(FusionINNConfig.fast())
    model.initialise_actnorm(torch.rand(2, 2, 16, 16))
    with torch.no_grad():
        for prm in model.parameters():
            if prm.requires_grad:
                prm.add_(0.02 * torch.randn_like(prm))
    save_model(model, folder / "model.safetensors")
    cnn = CNN_BASELINES["deepfuse"]()
    save_checkpoint(folder / "deepfuse.safetensors",
                    CheckpointData(model_state=cnn.state_dict(), meta={"kind": "weights", "model": "deepfuse"}))
    # FusionINN metadata saying "widths 16, 32, 16" on weights of the published widths
    save_checkpoint(folder / "misfit.safetensors", CheckpointData(
        model_state=model.state_dict(),
        meta={"kind": "weights", "model": "fusioninn",
              "model_config": FusionINNConfig(widths=(16, 32, 16)).to_dict()}))
    with safe_open(str(folder / "model.safetensors"), framework="pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    key = sorted(k for k in tensors if tensors[k].is_floating_point())[0]
    tensors[key] = tensors[key] + 1e-3  # one edited weight, the stored checksum unchanged
    save_file(tensors, str(folder / "tampered.safetensors"), metadata=meta)
    torch.save({"model_state_dict": model.state_dict()}, folder / "pickled.pt")
    if with_run:
        from fusioninn.cli import main

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = main(["train", "--data", "phantom:8", "--out", str(folder / "run"), "--epochs", "1",
                         "--batch-size", "4", "--crop", "16", "--threads", "1", "--device", "cpu", "--quiet"])
        assert code == 0, err.getvalue()
    return folder


# --------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One bad (or awkward) input for one command.

    ``build(ctx)`` writes the inputs and returns the argv and the file the message must name (None for
    pure option errors). ``expect``: phrases the stderr line must contain (case-insensitive).
    ``fault``: a simulated failure while the command runs (``"enospc"``: a full disk on every file;
    ``"enospc:<text>"``: only on files whose temporary name contains ``<text>``; ``"internal"``: a bug;
    ``"memory:<MiB>"``: only that much memory available).
    ``check(ctx)``: for cases that must succeed, asserts on the outputs.
    """

    id: str
    command: str
    what: str
    build: Callable[[Ctx], tuple[list[str], str | None]]
    expect: tuple[str, ...] = ()
    code: int = 2
    fault: str | None = None
    check: Callable[[Ctx], None] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    new_files: list[str]  # everything new: files, folders (a trailing "/"), temporaries, links
    named: str | None
    changed_inputs: list[str] = field(default_factory=list)  # files that existed before and differ after


def files_under(root: Path) -> set[str]:
    """Every entry below ``root``: files, links, FIFOs and folders (these with a trailing ``/``), hidden
    ones (``.tmp-*``) included -- an empty folder left behind counts."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for d in dirnames:
            rel = str((base / d).relative_to(root))
            out.add(rel if (base / d).is_symlink() else rel + "/")
        for f in filenames:
            out.add(str((base / f).relative_to(root)))
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    """Contents of the regular files below ``root`` (the inputs a command must leave byte-identical)."""
    import hashlib
    import stat

    digests = {}
    for name in files_under(root):
        p = root / name
        if name.endswith("/") or p.is_symlink():
            continue
        try:
            if not stat.S_ISREG(os.stat(p).st_mode):
                continue
            digests[name] = hashlib.sha256(p.read_bytes()).digest()
        except OSError:
            continue
    return digests


@contextlib.contextmanager
def _fault(kind: str | None) -> Iterator[None]:
    if kind is None:
        yield
        return
    if kind.startswith("enospc"):
        suffix = kind.partition(":")[2]
        real = os.fsync

        def full_disk(fd: int) -> None:
            try:
                name = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                name = ""
            base = os.path.basename(name)
            if base.startswith(".tmp-") and suffix in base:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real(fd)

        with mock.patch("os.fsync", full_disk):
            yield
        return
    if kind.startswith("memory:"):  # only this many MiB of memory available now
        mib = float(kind.partition(":")[2])
        with mock.patch("fusioninn.data.memory.available_memory", lambda: int(mib * 2**20)):
            yield
        return
    if kind == "internal":
        from fusioninn.models.fusioninn import FusionINN

        def broken(*_a, **_k):
            raise RuntimeError("simulated bug in the model")

        with mock.patch.object(FusionINN, "fuse", broken):
            yield
        return
    raise ValueError(kind)


def run_case(case: Case, root: Path, assets: Path) -> Outcome:
    """Build the case's inputs under ``root`` and run its command in-process."""
    from fusioninn.cli import main

    root.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(root, assets)
    argv, named = case.build(ctx)
    before = files_under(root)
    inputs = snapshot(root)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _fault(case.fault):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code if isinstance(exc.code, int) else 1
    new = sorted(files_under(root) - before)
    after = snapshot(root)
    changed = sorted(n for n, digest in inputs.items() if after.get(n) != digest)
    return Outcome(int(code), out.getvalue(), err.getvalue(), new, named, changed)


# --------------------------------------------------------------------------------------------------
# helpers for the builders
def _pair_png(c: Ctx, size=(32, 32), size_b=None) -> tuple[str, str]:
    a = png(c.p("a.png"), blobs(*size, 1))
    b = png(c.p("b.png"), blobs(*(size_b or size), 2))
    return str(a), str(b)


def _pair_nii(c: Ctx, shape=(16, 16, 4)) -> tuple[str, str]:
    return str(nifti(c.p("a.nii.gz"), volume(shape, 1))), str(nifti(c.p("b.nii.gz"), volume(shape, 7)))


def _b_nii(c: Ctx, shape=(16, 16, 4)) -> str:
    return str(nifti(c.p("b.nii.gz"), volume(shape, 7)))


def _b_png(c: Ctx, size=(32, 32)) -> str:
    return str(png(c.p("b.png"), blobs(*size, 2)))


def _fuse(c: Ctx, a: str, b: str, out: str = "f.png", *extra: str) -> list[str]:
    return ["fuse", a, b, "-o", c.s(out), "--model", c.model, "--threads", "1", *extra]


def _fused_and_latent(c: Ctx, size=(32, 32)) -> tuple[str, str]:
    """A fused image and its latent, made by a real ``fuse``."""
    from fusioninn.cli import main

    a, b = _pair_png(c, size)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(_fuse(c, a, b, "f.png", "--save-latent", c.s("z.npz"))) == 0
    return c.s("f.png"), c.s("z.npz")


def _decompose(c: Ctx, fused: str, *extra: str) -> list[str]:
    return ["decompose", fused, "-o", c.s("dec"), "--model", c.model, "--threads", "1", *extra]


def _metrics(a: str, b: str, f: str) -> list[str]:
    return ["metrics", a, b, f, "--json"]


def _train(c: Ctx, data: str, *extra: str, out: str | None = None) -> list[str]:
    return ["train", "--data", data, "--out", out or c.s("run"), "--epochs", "1", "--batch-size", "4", "--crop", "16",
            "--threads", "1", "--device", "cpu", "--quiet", *extra]


def _evaluate(c: Ctx, data: str, *extra: str, out: str | None = None) -> list[str]:
    return ["evaluate", "--data", data, "--out", out or c.s("eval"), "--threads", "1", "--device", "cpu", "--quiet",
            "--model", c.model, *extra]


def _import(c: Ctx, src: str, out: str = "imported.safetensors") -> list[str]:
    return ["import-original", src, "-o", c.s(out)]


def _check_outputs_finite(*names: str, shape=None) -> Callable[[Ctx], None]:
    def check(c: Ctx) -> None:
        from fusioninn.data.pairs import read_image
        from fusioninn.data.volume import read_volume

        for n in names:
            path = c.p(n)
            assert path.is_file(), f"{n} was not written"
            if n.endswith(".npz"):
                with np.load(path) as z:
                    arr = z["latent"]
            elif ".nii" in n:
                arr = read_volume(path).data
            else:
                arr = read_image(path).grey
            assert np.isfinite(arr).all(), f"{n} holds NaN/Inf"
            if shape is not None and ".nii" not in n and not n.endswith(".npz"):
                assert arr.shape == shape, (n, arr.shape)
    return check


def _write(c: Ctx, name: str, data: bytes) -> str:
    c.p(name).write_bytes(data)
    return c.s(name)


def _mkdir(c: Ctx, name: str) -> str:
    c.p(name).mkdir()
    return c.s(name)


def _training_checkpoint(c: Ctx, **config) -> str:
    """A resumable-looking ``run/last.safetensors`` whose saved config is ``config``."""
    import torch

    from fusioninn.training.checkpoint import CheckpointData, save_checkpoint
    from fusioninn.training.config import TrainConfig

    run = c.p("run")
    run.mkdir()
    cfg = TrainConfig(**config)
    save_checkpoint(run / "last.safetensors", CheckpointData(
        model_state={"w": torch.zeros(1)},
        meta={"kind": "training", "model": "fusioninn", "train_config": cfg.to_dict(), "optimizer": {}}))
    return str(run / "last.safetensors")


def _tampered_run(c: Ctx) -> str:
    run = c.p("run")
    run.mkdir()
    data = (c.assets / "tampered.safetensors").read_bytes()
    (run / "last.safetensors").write_bytes(data)
    return str(run / "last.safetensors")


def _original_like_state(**changes) -> dict:
    """A state dict of the published architecture (what the original code saves)."""
    from fusioninn.models import FusionINN, FusionINNConfig

    state = FusionINN(FusionINNConfig.paper()).state_dict()
    state.update(changes)
    return state


def _pt(c: Ctx, name: str, obj) -> str:
    import torch

    torch.save(obj, c.p(name))
    return c.s(name)


def _evil_pt(c: Ctx) -> str:
    path = c.p("evil.pt")
    marker = c.p("PWNED")
    with open(path, "wb") as fh:
        pickle.dump({"model_state_dict": _Evil(marker)}, fh)
    return str(path)


# --------------------------------------------------------------------------------------------------
# helpers for the cases of issue 12 (a new user's hostile afternoon)
def _patched_nifti(c: Ctx, name: str, data: np.ndarray, patches: dict[int, tuple[str, tuple]],
                   dtype=np.float32) -> str:
    """A NIfTI file whose header bytes at the given offsets are overwritten (struct format, values)."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.eye(4))
    raw_path = c.p("_raw.nii")
    img.to_filename(raw_path)
    raw = bytearray(raw_path.read_bytes())
    raw_path.unlink()
    for offset, (fmt, values) in patches.items():
        struct.pack_into(fmt, raw, offset, *values)
    path = c.p(name)
    if name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(bytes(raw))
    else:
        path.write_bytes(bytes(raw))
    return str(path)


_SROW = 280  # srow_x, srow_y, srow_z: 12 float32
_DIM = 40  # dim[0..7]: int16
_SCL_SLOPE = 112  # float32


def _copy(c: Ctx, src: Path, name: str) -> str:
    import shutil

    if src.is_dir():
        shutil.copytree(src, c.p(name))
    else:
        shutil.copyfile(src, c.p(name))
    return c.s(name)


def _edit_bytes(path: str | Path, old: bytes, new: bytes) -> str:
    raw = Path(path).read_bytes()
    assert old in raw and len(old) == len(new), old
    Path(path).write_bytes(raw.replace(old, new, 1))
    return str(path)


def _flip_tensor_byte(path: str | Path, prefix: str) -> str:
    """Flip one bit in the first tensor whose name starts with ``prefix`` (safetensors layout)."""
    import json as _json

    raw = bytearray(Path(path).read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    header = _json.loads(raw[8 : 8 + n])
    name = sorted(k for k in header if k.startswith(prefix)
                  and header[k]["data_offsets"][1] > header[k]["data_offsets"][0])[0]
    start = 8 + n + header[name]["data_offsets"][0]
    raw[start] ^= 0x10
    Path(path).write_bytes(bytes(raw))
    return str(path)


def _run_copy(c: Ctx) -> str:
    """A copy of the assets' real one-epoch training run (resumable)."""
    return _copy(c, c.assets / "run", "run")


def _saved_with(c: Ctx, name: str, edit: Callable[[dict], None]) -> str:
    """The case model's checkpoint, re-saved properly (valid checksums) after ``edit(state)``."""
    from fusioninn.training.checkpoint import CheckpointData, load_checkpoint, save_checkpoint

    data = load_checkpoint(c.model)
    edit(data.model_state)
    save_checkpoint(c.p(name), CheckpointData(model_state=data.model_state, meta=data.meta))
    return c.s(name)


def _other_capacity_weights(c: Ctx) -> str:
    """FusionINN weights (fast recipe) with widths 8,16,8 and one extra coupling: not this run's network."""
    import torch

    from fusioninn.api import save_model
    from fusioninn.models.fusioninn import FusionINN, FusionINNConfig

    model = FusionINN(FusionINNConfig.fast(widths=(8, 16, 8), extra_couplings=1))
    model.initialise_actnorm(torch.full((1, 2, 16, 16), 0.5))
    save_model(model, c.p("wide.safetensors"))
    return c.s("wide.safetensors")


def _nan_first_weight(state: dict) -> None:
    key = sorted(k for k in state if state[k].is_floating_point() and state[k].numel())[0]
    state[key].view(-1)[0] = float("nan")


def _real_fuse(c: Ctx, a: str, b: str, out: str, *extra: str) -> None:
    from fusioninn.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(_fuse(c, a, b, out, *extra)) == 0


def _subject(c: Ctx, folder: str = ".") -> tuple[str, str]:
    """A subject folder with P_t1ce.nii.gz and P_flair.nii.gz (int16, as scanners write them)."""
    import nibabel as nib

    (c.root / folder).mkdir(exist_ok=True)
    paths = []
    for name, seed in (("P_t1ce.nii.gz", 1), ("P_flair.nii.gz", 7)):
        path = c.root / folder / name
        nib.Nifti1Image(np.rint(volume(seed=seed) / 2).astype(np.int16), np.eye(4)).to_filename(path)
        paths.append(str(path))
    return paths[0], paths[1]


def _fused_subject(c: Ctx) -> str:
    t1ce, flair = _subject(c)
    _real_fuse(c, t1ce, flair, "P.nii.gz")
    return c.s("P.nii.gz")


def _moved_subject(c: Ctx) -> str:
    """The fused subject and its sources copied to another folder (recorded paths no longer match)."""
    import shutil

    _fused_subject(c)
    (c.root / "copy").mkdir()
    for name in ("P.nii.gz", "P.fusioninn.json", "P_t1ce.nii.gz", "P_flair.nii.gz"):
        shutil.copyfile(c.p(name), c.p(f"copy/{name}"))
    return c.s("copy/P.nii.gz")


def _fused_png_subject(c: Ctx) -> tuple[str, str]:
    a = str(png(c.p("P_t1ce.png"), blobs(32, 32, 1)))
    b = str(png(c.p("P_flair.png"), blobs(32, 32, 2)))
    _real_fuse(c, a, b, "P.png", "--save-latent", c.s("z.npz"))
    return c.s("P.png"), c.s("z.npz")


def _latent_variant(c: Ctx, **changes) -> str:
    """A real latent of a 32x32 fuse, with arrays or metadata replaced."""
    import json as _json

    _fused_and_latent(c)
    with np.load(c.p("z.npz")) as f:
        arrays = {k: f[k] for k in f.files}
    meta = _json.loads(bytes(arrays["meta"]).decode())
    for key, value in changes.items():
        if key in ("latent", "lo", "hi"):
            arrays[key] = value(arrays[key]) if callable(value) else value
        else:
            meta[key] = value
    arrays["meta"] = np.frombuffer(_json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(c.p("z.npz"), **arrays)
    return c.s("z.npz")


def _fused_volume_with_sidecar(c: Ctx, **changes) -> str:
    """A real fused volume f.nii.gz whose sidecar gets ``changes`` (still tied to the volume)."""
    import json as _json

    _real_fuse(c, *_pair_nii(c), "f.nii.gz")
    side = c.p("f.fusioninn.json")
    doc = _json.loads(side.read_text())
    doc.update(changes)
    side.write_text(_json.dumps(doc))
    return c.s("f.nii.gz")


def _float_tiff(c: Ctx, name: str, arr: np.ndarray) -> str:
    from PIL import Image

    Image.fromarray(arr.astype(np.float32), mode="F").save(c.p(name))
    return c.s(name)


def _check_npy_range(name: str, lo: float, hi: float, tol: float = 0.05) -> Callable[[Ctx], None]:
    def check(c: Ctx) -> None:
        arr = np.load(c.p(name))
        assert np.isfinite(arr).all()
        assert abs(float(arr.min()) - lo) <= tol * max(1.0, abs(hi - lo)), (name, arr.min(), lo)
        assert abs(float(arr.max()) - hi) <= tol * max(1.0, abs(hi - lo)), (name, arr.max(), hi)
    return check


def _check_volume_range_like(out: str, src: str, tol: float) -> Callable[[Ctx], None]:
    def check(c: Ctx) -> None:
        from fusioninn.data.volume import read_volume

        got, want = read_volume(c.p(out)).data, read_volume(c.p(src)).data
        assert abs(float(got.max()) - float(want.max())) <= tol * float(want.max()), (got.max(), want.max())
    return check


def _multi_page_tiff(c: Ctx, name: str) -> str:
    from PIL import Image

    frames = [Image.fromarray(np.rint(blobs(32, 32, k) * 255).astype(np.uint8)) for k in range(3)]
    frames[0].save(c.p(name), save_all=True, append_images=frames[1:])
    return c.s(name)


def _fifo(c: Ctx, name: str) -> str:
    os.mkfifo(c.p(name))
    return c.s(name)


def _symlink(c: Ctx, name: str, target: str) -> str:
    os.symlink(target, c.p(name))
    return c.s(name)


def _low_memory(c: Ctx) -> None:  # nothing to build; the fault does the work
    return None


def _brats_all_bad(c: Ctx) -> str:
    root = c.p("brats")
    for sid in ("S1", "S2"):
        (root / sid).mkdir(parents=True)
        for seq in ("t1", "t1ce", "t2", "flair", "seg"):
            (root / sid / f"{sid}_{seq}.nii.gz").write_bytes(b"not a volume")
    return str(root)


def _issue12_cases(C, add) -> None:  # noqa: C901 - a flat table
    # ---- 1. outputs onto inputs, two outputs onto one file
    add(C("guard-fuse-onto-source", "fuse", "-o is one of the sources (fuse A B -o A)",
          lambda c: (_fuse(c, *_pair_png(c), "a.png"), c.s("a.png")), ("input of this command",)))
    add(C("guard-fuse-hard-link", "fuse", "-o is a hard link to a source",
          lambda c: (_fuse(c, *_pair_png(c), (os.link(c.p("b.png"), c.p("f.png")), "f.png")[1]), c.s("f.png")),
          ("input of this command",)))
    add(C("guard-fuse-symlink", "fuse", "-o is a symbolic link to a source",
          lambda c: (_fuse(c, *_pair_png(c), (_symlink(c, "f.png", c.s("a.png")), "f.png")[1]), c.s("f.png")),
          ("input of this command",)))
    add(C("guard-fuse-volume-onto-source", "fuse", "fuse a.nii.gz b.nii.gz -o a.nii.gz",
          lambda c: (_fuse(c, *_pair_nii(c), "a.nii.gz"), c.s("a.nii.gz")), ("input of this command",)))
    add(C("guard-fuse-latent-onto-output", "fuse", "--save-latent is a link to the -o file (two outputs, one file)",
          lambda c: (_fuse(c, *_pair_png(c), "f.png", "--save-latent", _symlink(c, "z.npz", c.s("f.png"))),
                     c.s("z.npz")), ("two outputs",)))
    add(C("guard-decompose-onto-sources", "decompose", "fuse P_t1ce P_flair -o P, then decompose P -o . (the sources)",
          lambda c: (["decompose", _fused_subject(c), "-o", str(c.root), "--model", c.model, "--threads", "1"],
                     c.s("P_t1ce.nii.gz")), ("a source",)))
    add(C("guard-decompose-onto-moved-sources", "decompose", "the same after copying the subject folder elsewhere",
          lambda c: (["decompose", _moved_subject(c), "-o", c.s("copy"), "--model", c.model, "--threads", "1"],
                     c.s("copy/P_t1ce.nii.gz")), ("a source",)))
    add(C("guard-decompose-image-sources", "decompose", "2-D: decompose P.png --latent z.npz -o . onto P_t1ce.png",
          lambda c: (["decompose", *(lambda f: [f[0], "--latent", f[1]])(_fused_png_subject(c)), "-o", str(c.root),
                      "--model", c.model], c.s("P_t1ce.png")), ("a source",)))
    add(C("guard-decompose-same-names", "decompose", "--names a,a (both outputs onto one file)",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3))), "--names", "a,a"), None),
          ("--names", "same name")))
    add(C("guard-decompose-output-link-to-input", "decompose", "an output name that is a link to the fused input",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3)))),
                     (_mkdir(c, "dec"), _symlink(c, "dec/g_source1.png", c.s("g.png")))[1]),
          ("input of this command",)))
    add(C("guard-import-onto-input", "import-original", "-o is a link to the .pt being imported",
          lambda c: (_import(c, _pt(c, "inn.pt", {"model_state_dict": _original_like_state()}),
                             (_symlink(c, "x.safetensors", c.s("inn.pt")), "x.safetensors")[1]), c.s("x.safetensors")),
          ("input of this command",)))
    add(C("guard-train-init-in-run", "train", "--init RUN/best.safetensors with --out RUN (a fresh run)",
          lambda c: (_train(c, "phantom:8", "--init",
                            (_mkdir(c, "run"), _copy(c, Path(c.model), "run/best.safetensors"))[1]),
                     c.s("run/best.safetensors")), ("input of this command",)))

    # ---- 2. checkpoints: everything checksummed, the failing part named
    add(C("ckpt-config-edited", "fuse", "one byte of model_config edited (\"clamp\": 2.0 -> 3.0)",
          lambda c: (_fuse(c, *_pair_png(c))[:-4] + ["--model", _edit_bytes(_copy(c, Path(c.model), "m.safetensors"),
                     b'\\"clamp\\": 2.0', b'\\"clamp\\": 3.0'), "--threads", "1"], c.s("m.safetensors")),
          ("metadata checksum",)))
    add(C("ckpt-shipped-config-edited", "fuse", "the shipped weights with input_logit_eps edited",
          lambda c: (_fuse(c, *_pair_png(c))[:-4] + ["--model", _edit_bytes(
              _copy(c, default_weights_path(), "w.safetensors"), b'\\"input_logit_eps\\": 0',
              b'\\"input_logit_eps\\": 1'),
              "--threads", "1"], c.s("w.safetensors")), ("metadata checksum",)))
    add(C("ckpt-nan-weights", "fuse", "a checkpoint whose weights hold NaN (valid checksums)",
          lambda c: (_fuse(c, *_pair_png(c))[:-4] + ["--model", _saved_with(c, "nan.safetensors", _nan_first_weight),
                                                     "--threads", "1"], c.s("nan.safetensors")), ("nan",)))
    add(C("resume-optimizer-bitflip", "train", "--resume: one bit of the optimiser state flipped",
          lambda c: (_train(c, "phantom:8", "--resume"),
                     _flip_tensor_byte(Path(_run_copy(c)) / "last.safetensors", "optim.")),
          ("optimiser state checksum",)))
    add(C("resume-rng-bitflip", "train", "--resume: one bit of the RNG state flipped",
          lambda c: (_train(c, "phantom:8", "--resume"),
                     _flip_tensor_byte(Path(_run_copy(c)) / "last.safetensors", "rng.")), ("rng state checksum",)))
    add(C("resume-epoch-edited", "train", "--resume: \"epoch\" edited in the checkpoint",
          lambda c: (_train(c, "phantom:8", "--resume"),
                     _edit_bytes(Path(_run_copy(c)) / "last.safetensors", b'\\"epoch\\": 1', b'\\"epoch\\": 0')),
          ("metadata checksum",)))
    add(C("resume-metrics-garbage", "train", "--resume: metrics.jsonl with a damaged line",
          lambda c: (_train(c, "phantom:8", "--resume"),
                     (_run_copy(c), c.p("run/metrics.jsonl").write_text("{\"epoch\": 1, \"val\n"),
                      c.s("run/metrics.jsonl"))[2]),
          ("not valid json",)))
    add(C("resume-metrics-edited", "train", "--resume: a figure of metrics.jsonl edited (valid JSON)",
          lambda c: (_train(c, "phantom:8", "--resume"),
                     (_run_copy(c), c.p("run/metrics.jsonl").write_text(
                         c.p("run/metrics.jsonl").read_text().replace("\"epoch\": 1,", "\"epoch\": 1, \"x\": 0,")),
                      c.s("run/metrics.jsonl"))[2]), ("does not match",)))
    add(C("resume-metrics-missing", "train", "--resume: metrics.jsonl deleted",
          lambda c: (_train(c, "phantom:8", "--resume"),
                     (_run_copy(c), c.p("run/metrics.jsonl").unlink(), c.s("run/metrics.jsonl"))[2]), ("missing",)))
    add(C("resume-other-lr", "train", "--resume with another --lr than the run's",
          lambda c: (_train(c, "phantom:8", "--resume", "--lr", "0.5"), (_run_copy(c), c.s("run/last.safetensors"))[1]),
          ("different lr",)))
    add(C("resume-other-loss-weight", "train", "--resume with another --w-ssim than the run's",
          lambda c: (_train(c, "phantom:8", "--resume", "--w-ssim", "0.3"),
                     (_run_copy(c), c.s("run/last.safetensors"))[1]),
          ("different loss",)))

    # ---- 4. input at fault, not an internal error
    eye16 = volume()
    add(C("vol-affine-nan", "fuse", "NIfTI whose affine holds NaN",
          lambda c: (_fuse(c, _patched_nifti(c, "a.nii.gz", eye16, {_SROW: ("<f", (float("nan"),))}), _b_nii(c),
                           "f.nii.gz"), c.s("a.nii.gz")), ("affine", "nan")))
    add(C("vol-affine-zero", "fuse", "NIfTI whose affine is all zeros",
          lambda c: (_fuse(c, _patched_nifti(c, "a.nii.gz", eye16, {_SROW: ("<12f", (0.0,) * 12), 252: ("<h", (0,))}),
                           _b_nii(c), "f.nii.gz"), c.s("a.nii.gz")), ("affine", "singular")))
    add(C("vol-dim-zero", "fuse", "NIfTI header dimension 0",
          lambda c: (_fuse(c, _patched_nifti(c, "a.nii.gz", eye16, {_DIM + 6: ("<h", (0,))}), _b_nii(c), "f.nii.gz"),
                     c.s("a.nii.gz")), ("dimensions",)))
    add(C("vol-dim-negative", "fuse", "NIfTI header dimension -4",
          lambda c: (_fuse(c, _patched_nifti(c, "a.nii.gz", eye16, {_DIM + 6: ("<h", (-4,))}), _b_nii(c), "f.nii.gz"),
                     c.s("a.nii.gz")), ("dimensions",)))
    add(C("dec-latent-3d", "decompose", "latent array of 3 dimensions",
          lambda c: (_decompose(c, c.s("f.png"), "--latent", _latent_variant(c, latent=lambda z: z[0])), c.s("z.npz")),
          ("n x 2 x h x w",)))
    add(C("dec-latent-int", "decompose", "latent array of integers",
          lambda c: (_decompose(c, c.s("f.png"), "--latent", _latent_variant(c, latent=lambda z: z.astype(np.int32))),
                     c.s("z.npz")), ("floats",)))
    add(C("dec-latent-names-type", "decompose", "latent metadata 'names' a number (wrong JSON type)",
          lambda c: (_decompose(c, c.s("f.png"), "--latent", _latent_variant(c, names=5)), c.s("z.npz")), ("names",)))
    add(C("dec-latent-range-type", "decompose", "latent metadata 'value_range' a string",
          lambda c: (_decompose(c, c.s("f.png"), "--latent", _latent_variant(c, value_range="0-255")), c.s("z.npz")),
          ("value_range",)))
    add(C("dec-latent-lo-shape", "decompose", "latent 'lo' of the wrong shape",
          lambda c: (_decompose(c, c.s("f.png"), "--latent", _latent_variant(c, lo=np.zeros(7))), c.s("z.npz")),
          ("'lo'",)))
    add(C("dec-sidecar-lo-string", "decompose", "sidecar 'lo' a string (wrong JSON type)",
          lambda c: (_decompose(c, _fused_volume_with_sidecar(c, lo="abc")), c.s("f.fusioninn.json")), ("'lo'",)))
    add(C("dec-sidecar-names-type", "decompose", "sidecar 'names' a list of numbers",
          lambda c: (_decompose(c, _fused_volume_with_sidecar(c, names=[1, 2])), c.s("f.fusioninn.json")), ("names",)))
    add(C("dec-sidecar-not-json", "decompose", "sidecar that is not JSON",
          lambda c: (_decompose(c, (_real_fuse(c, *_pair_nii(c), "f.nii.gz"), c.p("f.fusioninn.json").write_text("{lo"),
                                    c.s("f.nii.gz"))[2]), c.s("f.fusioninn.json")), ("not json",)))
    add(C("train-lr-nan", "train", "--lr nan",
          lambda c: (_train(c, "phantom:8", "--lr", "nan"), None), ("--lr", "finite")))
    add(C("train-lr-inf", "train", "--lr inf",
          lambda c: (_train(c, "phantom:8", "--lr", "inf"), None), ("--lr", "finite")))
    add(C("train-seed-negative", "train", "--seed -1",
          lambda c: (_train(c, "phantom:8", "--seed", "-1"), None), ("--seed",)))
    add(C("demo-seed-negative", "demo", "--seed -1",
          lambda c: (["demo", "--out", c.s("demo"), "--seed", "-1", "--model", c.model], None), ("--seed",)))
    add(C("dec-seed-huge", "decompose", "--seed 99999999999999999999",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3))), "--seed", "99999999999999999999"), None),
          ("--seed",)))
    for dev in ("meta", "mps", "xla"):
        add(C(f"device-{dev}", "fuse", f"--device {dev}",
              lambda c, dev=dev: (_fuse(c, *_pair_png(c), "f.png", "--device", dev), None), ("device", dev)))
    def tiny_pairs(c: Ctx) -> tuple[list[str], None]:
        a, b = _mkdir(c, "A"), _mkdir(c, "B")
        for k in range(6):
            png(c.p(f"A/{k}.png"), blobs(8, 8, k))
            png(c.p(f"B/{k}.png"), blobs(8, 8, k + 10))
        return ["train", "--data", f"pairs:{a}:{b}", "--out", c.s("run"), "--epochs", "1", "--batch-size", "2",
                "--crop", "0", "--threads", "1", "--device", "cpu", "--quiet"], None

    add(C("train-tiny-images", "train", "training on 8x8 images (smaller than the SSIM window)", tiny_pairs,
          ("ssim window",)))
    add(C("metrics-empty-npy", "metrics", "an empty (0x0) .npy",
          lambda c: (_metrics(str(png(c.p("a.png"), blobs(32, 32, 1))), str(png(c.p("b.png"), blobs(32, 32, 2))),
                              str(npy(c.p("f.npy"), np.zeros((0, 0))))), c.s("f.npy")), ("empty",)))
    add(C("metrics-zero-byte-npy", "metrics", "a 0-byte .npy",
          lambda c: (_metrics(str(png(c.p("a.png"), blobs(32, 32, 1))), str(png(c.p("b.png"), blobs(32, 32, 2))),
                              _write(c, "f.npy", b"")), c.s("f.npy")), ("not a readable",)))

    def import_with(change):
        def build(c: Ctx) -> tuple[list[str], str]:
            state = _original_like_state()
            key = sorted(state)[0]
            state[key] = change(state[key])
            return _import(c, _pt(c, "inn.pt", {"model_state_dict": state})), c.s("inn.pt")
        return build

    add(C("import-sparse", "import-original", "a state dict holding sparse tensors",
          import_with(lambda t: t.to_sparse()), ("sparse",)))
    add(C("import-nan", "import-original", "NaN weights",
          import_with(lambda t: t * float("nan")), ("nan",)))
    add(C("import-bool", "import-original", "bool weights",
          import_with(lambda t: t > 0), ("torch.bool",)))
    add(C("import-int", "import-original", "integer weights",
          import_with(lambda t: t.round().to(__import__("torch").int64)), ("torch.int64",)))

    # ---- 5. one line, never a warning first
    add(C("vol-scl-slope-huge", "fuse", "int16 NIfTI with scl_slope 1e38 (overflows float32)",
          lambda c: (_fuse(c, _patched_nifti(c, "a.nii.gz", volume(), {_SCL_SLOPE: ("<f", (1e38,))}, dtype=np.int16),
                           _b_nii(c), "f.nii.gz"), c.s("a.nii.gz")), ("scl_slope",)))
    add(C("vol-complex", "fuse", "complex NIfTI",
          lambda c: (_fuse(c, (lambda p: (__import__("nibabel").Nifti1Image(volume().astype(np.complex64), np.eye(4))
                                          .to_filename(p), str(p))[1])(c.p("a.nii.gz")), _b_nii(c), "f.nii.gz"),
                     c.s("a.nii.gz")), ("complex",)))
    add(C("fuse-complex-npy", "fuse", "complex .npy (would drop the imaginary part)",
          lambda c: (_fuse(c, str(npy(c.p("a.npy"), blobs(32, 32, 1) * (1 + 1j))),
                           str(npy(c.p("b.npy"), blobs(32, 32, 2)))),
                     c.s("a.npy")), ("complex",)))
    add(C("train-skip-bad-all-bad", "train", "--skip-bad on a BraTS folder whose subjects are all unreadable",
          lambda c: (_train(c, _brats_all_bad(c), "--skip-bad"), None), ("brats",)))
    add(C("fuse-float64-huge", "fuse", "float64 .npy with values near 1e308 (must work: finite, not 'NaN')",
          lambda c: (_fuse(c, str(npy(c.p("a.npy"), blobs(32, 32, 1) * 1e308)),
                           str(npy(c.p("b.npy"), blobs(32, 32, 2)))),
                     None), code=0, check=_check_outputs_finite("f.png", shape=(32, 32))))
    add(C("vol-float64-huge", "fuse", "float64 NIfTI with values near 1e308 (beyond float32)",
          lambda c: (_fuse(c, (lambda p: (__import__("nibabel").Nifti1Image(volume() * 1e305, np.eye(4)).to_filename(p),
                                          str(p))[1])(c.p("a.nii.gz")), _b_nii(c), "f.nii.gz"), c.s("a.nii.gz")),
          ("exceed float32",)))

    # ---- 7. memory: refused up front with the size needed, or fewer slices per batch
    add(C("mem-image-refused", "fuse", "a 256x256 PNG with 8 MiB of memory available (simulated)",
          lambda c: (_fuse(c, str(png(c.p("a.png"), blobs(256, 256, 1))), str(png(c.p("b.png"), blobs(256, 256, 2)))),
                     c.s("a.png")), ("would need", "memory"), fault="memory:8"))
    add(C("mem-volume-refused", "fuse", "a 64x64x16 volume with 8 MiB available (simulated)",
          lambda c: (_fuse(c, *_pair_nii(c, (64, 64, 16)), "f.nii.gz"), c.s("a.nii.gz")), ("would need", "memory"),
          fault="memory:8"))
    add(C("mem-volume-fewer-slices", "fuse", "a 64x64x16 volume with memory for 7 of its 16 slices per batch "
          "(must work)", lambda c: (_fuse(c, *_pair_nii(c, (64, 64, 16)), "f.nii.gz"), None), code=0,
          fault="memory:38.5",
          check=_check_outputs_finite("f.nii.gz")))

    # ---- 8. units
    add(C("units-float-tiff", "decompose", "float TIFF in [-3, 7]: the .npy comes back in [-3, 7] (must work)",
          lambda c: (_decompose(c, (_real_fuse(c, _float_tiff(c, "a.tif", blobs(32, 32, 1) * 10 - 3),
                                               _float_tiff(c, "b.tif", blobs(32, 32, 2)), "f.tif", "--save-latent",
                                               c.s("z.npz")), c.s("f.tif"))[1], "--latent", c.s("z.npz")), None),
          code=0, check=_check_npy_range("dec/f_t1ce.npy", -3.0, 7.0)))
    add(C("units-constant", "decompose", "a constant 5.0 image comes back as 5.0 (must work)",
          lambda c: (_decompose(c, (_real_fuse(c, str(npy(c.p("a.npy"), np.full((32, 32), 5.0))),
                                               str(npy(c.p("b.npy"), blobs(32, 32, 2))), "f.png", "--save-latent",
                                               c.s("z.npz")), c.s("f.png"))[1], "--latent", c.s("z.npz")), None),
          code=0, check=_check_npy_range("dec/f_t1ce.npy", 5.0, 5.0, tol=1e-3)))

    def nii_and_niigz(c: Ctx) -> tuple[list[str], None]:
        a, b = _pair_nii(c)
        _real_fuse(c, a, b, "X.nii.gz")
        c2 = str(nifti(c.p("a2.nii.gz"), volume(seed=3) * 50))  # another intensity scale entirely
        _real_fuse(c, c2, b, "X.nii")
        return _decompose(c, c.s("X.nii.gz")), None

    add(C("units-nii-and-niigz", "decompose", "X.nii.gz and X.nii fused from different data keep their own sidecars "
          "(must work)", nii_and_niigz, code=0, check=_check_volume_range_like("dec/X_t1ce.nii.gz", "a.nii.gz", 0.25)))
    add(C("dec-sidecar-volume-changed", "decompose", "the fused volume was rewritten after fusing (sidecar hash)",
          lambda c: (_decompose(c, (_real_fuse(c, *_pair_nii(c), "f.nii.gz"),
                                    nifti(c.p("f.nii.gz"), np.full((16, 16, 4), 0.5)), c.s("f.nii.gz"))[2]),
                     c.s("f.fusioninn.json")), ("changed after fusing",)))
    add(C("dec-sidecar-legacy", "decompose", "a sidecar not tied to its volume (older format)",
          lambda c: (_decompose(c, _fused_volume_with_sidecar(c, format="fusioninn-normalisation-1")),
                     c.s("f.fusioninn.json")), ("older fusioninn",)))

    # ---- 9. own outputs that could not be decomposed
    add(C("fuse-jpeg-latent", "fuse", "--save-latent with a JPEG output (lossy)",
          lambda c: (_fuse(c, *_pair_png(c), "f.jpg", "--save-latent", c.s("z.npz")), c.s("f.jpg")), ("lossy",)))

    def colour_png(c: Ctx) -> str:
        from PIL import Image

        rgb = np.stack([blobs(32, 32, 1), blobs(32, 32, 4), blobs(32, 32, 5)], -1)
        Image.fromarray(np.rint(rgb * 255).astype(np.uint8), mode="RGB").save(c.p("a.png"))
        return c.s("a.png")

    add(C("fuse-colour-latent", "fuse", "--save-latent with a colour source (colour output)",
          lambda c: (_fuse(c, colour_png(c), _b_png(c), "f.png", "--save-latent", c.s("z.npz")), c.s("a.png")),
          ("colour",)))

    # ---- 10. options and file kinds accepted silently before
    for value in ("0", "-3"):
        add(C(f"threads-{value}", "fuse", f"--threads {value}",
              lambda c, value=value: (_fuse(c, *_pair_png(c))[:-2] + ["--threads", value], None), ("--threads",)))
    for value in ("0", "-5"):
        add(C(f"batch-slices-{value}", "fuse", f"--batch-slices {value}",
              lambda c, value=value: (_fuse(c, *_pair_nii(c), "f.nii.gz", "--batch-slices", value), None),
              ("--batch-slices",)))
    add(C("train-max-minutes-negative", "train", "--max-minutes -1",
          lambda c: (_train(c, "phantom:8", "--max-minutes", "-1"), None), ("--max-minutes",)))
    add(C("train-crop-huge", "train", "--crop 100000 (larger than the slices)",
          lambda c: (_train(c, "phantom:8", "--crop", "100000"), None), ("--crop", "larger")))
    add(C("eval-weights-unknown", "evaluate", "--weights nosuch=x.safetensors",
          lambda c: (_evaluate(c, "phantom:4", "--weights", "nosuch=x.safetensors"), None), ("nosuch", "baseline")))
    add(C("fuse-multipage-tiff", "fuse", "a multi-page TIFF (would use frame 1 only)",
          lambda c: (_fuse(c, _multi_page_tiff(c, "a.tif"), _b_png(c)), c.s("a.tif")), ("frames",)))

    def animated_gif(c: Ctx) -> str:
        from PIL import Image

        frames = [Image.fromarray(np.rint(blobs(32, 32, k) * 255).astype(np.uint8)) for k in range(3)]
        frames[0].save(c.p("a.gif"), save_all=True, append_images=frames[1:])
        return c.s("a.gif")

    add(C("fuse-animated-gif", "fuse", "an animated GIF",
          lambda c: (_fuse(c, animated_gif(c), _b_png(c)), c.s("a.gif")), ("frames",)))
    add(C("fuse-fifo", "fuse", "a FIFO (named pipe) as a source",
          lambda c: (_fuse(c, _fifo(c, "a.png"), _b_png(c)), c.s("a.png")), ("fifo",)))
    add(C("fuse-dev-zero", "fuse", "/dev/zero as a source",
          lambda c: (_fuse(c, "/dev/zero", _b_png(c)), "/dev/zero"), ("device",)))
    add(C("fuse-symlink-loop", "fuse", "a symbolic-link loop as a source",
          lambda c: (_fuse(c, (_symlink(c, "l1.png", c.s("l2.png")), _symlink(c, "l2.png", c.s("l1.png")))[0],
                           _b_png(c)), c.s("l1.png")), ("loop",)))
    add(C("fuse-dangling-symlink", "fuse", "a symbolic link to nothing as a source",
          lambda c: (_fuse(c, _symlink(c, "a.png", c.s("gone.png")), _b_png(c)), c.s("a.png")), ("broken",)))
    add(C("model-fifo", "fuse", "a FIFO as --model",
          lambda c: (_fuse(c, *_pair_png(c))[:-4] + ["--model", _fifo(c, "m.safetensors"), "--threads", "1"],
                     c.s("m.safetensors")), ("fifo",)))
    add(C("fuse-out-is-directory", "fuse", "-o names an existing folder",
          lambda c: (_fuse(c, *_pair_png(c), (_mkdir(c, "f.png"), "f.png")[1]), c.s("f.png")), ("directory",)))
    add(C("dec-names-traversal", "decompose", "--names ../x,y (a path, not a name)",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3))), "--names", "../x,y"), None), ("--names",)))


# --------------------------------------------------------------------------------------------------
def _cases() -> list[Case]:  # noqa: C901 - a flat table
    C = Case
    cases: list[Case] = []
    add = cases.append

    # ---- fuse: 2-D images
    add(C("fuse-missing", "fuse", "source file does not exist",
          lambda c: (_fuse(c, c.s("nope.png"), _b_png(c)), c.s("nope.png")), ("not found",)))
    add(C("fuse-directory", "fuse", "a directory where an image is expected",
          lambda c: (_fuse(c, _mkdir(c, "dir.png"), _b_png(c)), c.s("dir.png")), ("directory",)))
    add(C("fuse-empty", "fuse", "empty (0-byte) .png",
          lambda c: (_fuse(c, _write(c, "e.png", b""), _b_png(c)), c.s("e.png")), ("not a readable image",)))
    add(C("fuse-not-image", "fuse", "text bytes with a .png extension",
          lambda c: (_fuse(c, _write(c, "t.png", b"hello, this is not a PNG\n" * 20), _b_png(c)), c.s("t.png")),
          ("not a readable image",)))
    add(C("fuse-truncated-png", "fuse", "PNG cut in half",
          lambda c: (_fuse(c, _write(c, "h.png", Path(_pair_png(c)[0]).read_bytes()[:300]), c.s("b.png")),
                     c.s("h.png")), ("not a readable image",)))
    add(C("fuse-bad-extension", "fuse", "unsupported extension (.txt)",
          lambda c: (_fuse(c, _write(c, "a.txt", b"1 2 3"), _b_png(c)), c.s("a.txt")), ("unsupported",)))
    add(C("fuse-size-mismatch", "fuse", "sources of different sizes (32x32, 40x32)",
          lambda c: (_fuse(c, *_pair_png(c, (32, 32), (32, 40))), c.s("a.png")), ("differs",)))
    add(C("fuse-3d-npy", "fuse", "3-D array (.npy) where a 2-D image is expected",
          lambda c: (_fuse(c, str(npy(c.p("a.npy"), np.random.rand(4, 32, 32))), _b_png(c)), c.s("a.npy")),
          ("2-d",)))
    add(C("fuse-2-channels", "fuse", "2-channel array (32x32x2 .npy)",
          lambda c: (_fuse(c, str(npy(c.p("a.npy"), np.random.rand(32, 32, 2))), _b_png(c)), c.s("a.npy")),
          ("2-d",)))
    add(C("fuse-string-npy", "fuse", "non-numeric .npy (strings)",
          lambda c: (_fuse(c, str(npy(c.p("a.npy"), np.array([["a", "b"], ["c", "d"]]))), _b_png(c)),
                     c.s("a.npy")), ("numeric",)))
    add(C("fuse-nan", "fuse", "NaN pixel in a float image",
          lambda c: (_fuse(c, str(npy(c.p("a.npy"), np.where(np.eye(32) > 0, np.nan, 0.5))),
                           str(npy(c.p("b.npy"), blobs(32, 32, 2)))), c.s("a.npy")), ("nan",)))
    add(C("fuse-inf", "fuse", "+Inf pixel in a float image",
          lambda c: (_fuse(c, str(npy(c.p("a.npy"), np.where(np.eye(32) > 0, np.inf, 0.5))),
                           str(npy(c.p("b.npy"), blobs(32, 32, 2)))), c.s("a.npy")), ("infinite",)))
    add(C("fuse-all-zero", "fuse", "all-zero images (must work, no NaN)",
          lambda c: (_fuse(c, str(png(c.p("a.png"), np.zeros((32, 32)))), str(png(c.p("b.png"), np.zeros((32, 32)))),
                           "f.png", "--save-latent", c.s("z.npz")), None),
          code=0, check=_check_outputs_finite("f.png", "z.npz", shape=(32, 32))))
    add(C("fuse-odd-size", "fuse", "odd size 33x31 (must work, same size out)",
          lambda c: (_fuse(c, *_pair_png(c, (33, 31))), None), code=0,
          check=_check_outputs_finite("f.png", shape=(33, 31))))
    add(C("fuse-huge-png", "fuse", "PNG header claiming 60000x60000 pixels",
          lambda c: (_fuse(c, str(huge_png(c.p("big.png"))), _b_png(c)), c.s("big.png")),
          ("would need", "memory")))
    add(C("fuse-huge-npy", "fuse", ".npy header claiming 200000x200000 float64",
          lambda c: (_fuse(c, str(huge_npy(c.p("big.npy"))), _b_png(c)), c.s("big.npy")),
          ("would need", "memory")))
    add(C("fuse-volume-with-image", "fuse", "a NIfTI volume with a PNG",
          lambda c: (_fuse(c, _pair_nii(c)[0], _b_png(c), "f.nii.gz"), c.s("a.nii.gz")), ("2-d image",)))
    add(C("fuse-output-kind", "fuse", "images in, .nii.gz out",
          lambda c: (_fuse(c, *_pair_png(c), "f.nii.gz"), c.s("f.nii.gz")), ("output must be",)))
    add(C("fuse-output-ext", "fuse", "unknown output extension (.xyz)",
          lambda c: (_fuse(c, *_pair_png(c), "f.xyz"), c.s("f.xyz")), ("unsupported output type",)))
    add(C("fuse-latent-ext", "fuse", "--save-latent not .npz",
          lambda c: (_fuse(c, *_pair_png(c), "f.png", "--save-latent", c.s("z.txt")), c.s("z.txt")), (".npz",)))
    add(C("fuse-out-under-file", "fuse", "output folder is a regular file (unwritable)",
          lambda c: (_fuse(c, *_pair_png(c), _write(c, "file", b"x") + "/f.png"), c.s("file")), ("not a folder",)))
    add(C("fuse-out-missing-dir", "fuse", "output folder does not exist",
          lambda c: (_fuse(c, *_pair_png(c), "nodir/f.png"), c.s("nodir")), ("does not exist",)))
    add(C("fuse-latent-under-file", "fuse", "latent folder is a regular file",
          lambda c: (_fuse(c, *_pair_png(c), "f.png", "--save-latent", _write(c, "file", b"x") + "/z.npz"),
                     c.s("file")), ("not a folder",)))
    add(C("fuse-disk-full", "fuse", "disk full while writing the fused image (simulated ENOSPC)",
          lambda c: (_fuse(c, *_pair_png(c)), c.s("f.png")), ("no space left",), fault="enospc"))
    add(C("fuse-disk-full-latent", "fuse", "disk full while writing the latent, after the fused image",
          lambda c: (_fuse(c, *_pair_png(c), "f.png", "--save-latent", c.s("z.npz")), c.s("z.npz")),
          ("no space left",), fault="enospc:.npz"))
    add(C("fuse-internal-error", "fuse", "a bug inside the model (simulated RuntimeError)",
          lambda c: (_fuse(c, *_pair_png(c)), None), ("internal error", "--debug"), code=1, fault="internal"))
    add(C("fuse-names", "fuse", "--names with one name",
          lambda c: (_fuse(c, *_pair_png(c), "f.png", "--names", "t1ce"), None), ("--names",)))
    add(C("fuse-device", "fuse", "unknown --device",
          lambda c: (_fuse(c, *_pair_png(c), "f.png", "--device", "tpu"), None), ("unknown device",)))
    add(C("fuse-missing-option", "fuse", "no -o",
          lambda c: (["fuse", *_pair_png(c)], None), ("required",)))

    # ---- fuse: checkpoints
    def with_model(model: Callable[[Ctx], str]):
        return lambda c: ([*_fuse(c, *_pair_png(c))[:-4], "--model", model(c), "--threads", "1"], model(c))

    add(C("model-missing", "fuse", "--model file does not exist",
          with_model(lambda c: c.s("none.safetensors")), ("not found",)))
    add(C("model-directory", "fuse", "--model is a directory",
          with_model(lambda c: str(c.root)), ("directory",)))
    add(C("model-empty", "fuse", "--model is an empty file",
          with_model(lambda c: (c.p("e.safetensors").touch(), c.s("e.safetensors"))[1]), ("not a readable",)))
    add(C("model-other-arch", "fuse", "checkpoint of another architecture (CNN baseline)",
          with_model(lambda c: str(c.assets / "deepfuse.safetensors")), ("fusion-only",)))
    add(C("model-misfit", "fuse", "FusionINN checkpoint whose weights do not fit its config",
          with_model(lambda c: str(c.assets / "misfit.safetensors")), ("do not fit",)))
    add(C("model-tampered", "fuse", "checkpoint with one weight edited (checksum)",
          with_model(lambda c: str(c.assets / "tampered.safetensors")), ("checksum",)))
    add(C("model-pickle", "fuse", "a PyTorch pickle (.pt) as --model",
          with_model(lambda c: str(c.assets / "pickled.pt")), ("import-original",)))

    # ---- fuse: NIfTI volumes
    add(C("vol-truncated", "fuse", "truncated .nii.gz (half the bytes)",
          lambda c: (_fuse(c, str(truncated_gz(c.p("a.nii.gz"), volume())), _b_nii(c), "f.nii.gz"),
                     c.s("a.nii.gz")), ("truncated",)))
    add(C("vol-not-nifti", "fuse", "random bytes named .nii.gz",
          lambda c: (_fuse(c, _write(c, "a.nii.gz", os.urandom(2000)), _b_nii(c), "f.nii.gz"),
                     c.s("a.nii.gz")), ("not a readable nifti",)))
    add(C("vol-empty", "fuse", "empty .nii",
          lambda c: (_fuse(c, _write(c, "a.nii", b""), _b_nii(c), "f.nii.gz"), c.s("a.nii")),
          ("not a readable nifti",)))
    add(C("vol-directory", "fuse", "a directory named .nii.gz",
          lambda c: (_fuse(c, _mkdir(c, "a.nii.gz"), _b_nii(c), "f.nii.gz"), c.s("a.nii.gz")),
          ("directory",)))
    add(C("vol-shape-mismatch", "fuse", "volumes of different shapes",
          lambda c: (_fuse(c, str(nifti(c.p("a.nii.gz"), volume((16, 16, 4)))),
                           str(nifti(c.p("b.nii.gz"), volume((16, 16, 5)))), "f.nii.gz"), c.s("a.nii.gz")),
          ("shape",)))
    add(C("vol-affine-mismatch", "fuse", "same shape, different affines (not co-registered)",
          lambda c: (_fuse(c, str(nifti(c.p("a.nii.gz"), volume())),
                           str(nifti(c.p("b.nii.gz"), volume(), np.diag([2.0, 2.0, 2.0, 1.0]))), "f.nii.gz"),
                     c.s("a.nii.gz")), ("affine",)))
    add(C("vol-2d", "fuse", "a 2-D NIfTI where a 3-D volume is expected",
          lambda c: (_fuse(c, str(nifti(c.p("a.nii.gz"), blobs(16, 16, 0))), _b_nii(c), "f.nii.gz"),
                     c.s("a.nii.gz")), ("3-d",)))
    add(C("vol-4d", "fuse", "4-D NIfTI with 3 volumes (wrong channel count)",
          lambda c: (_fuse(c, str(nifti(c.p("a.nii.gz"), np.stack([volume()] * 3, -1))), _b_nii(c),
                           "f.nii.gz"), c.s("a.nii.gz")), ("3-d",)))
    add(C("vol-nan", "fuse", "NaN voxels",
          lambda c: (_fuse(c, str(nifti(c.p("a.nii.gz"), np.where(volume() > 500, np.nan, volume()))),
                           _b_nii(c), "f.nii.gz"), c.s("a.nii.gz")), ("nan",)))
    add(C("vol-huge", "fuse", "NIfTI header claiming 4096^3 float32 voxels",
          lambda c: (_fuse(c, str(huge_nifti(c.p("a.nii.gz"))), _b_nii(c), "f.nii.gz"), c.s("a.nii.gz")),
          ("would need", "memory")))
    add(C("vol-all-zero", "fuse", "all-zero volumes (must work, no NaN)",
          lambda c: (_fuse(c, str(nifti(c.p("a.nii.gz"), np.zeros((16, 16, 4)))),
                           str(nifti(c.p("b.nii.gz"), np.zeros((16, 16, 4)))), "f.nii.gz"), None),
          code=0, check=_check_outputs_finite("f.nii.gz")))
    add(C("vol-odd-size", "fuse", "odd volume size 15x17x3 (must work)",
          lambda c: (_fuse(c, *_pair_nii(c, (15, 17, 3)), "f.nii.gz"), None),
          code=0, check=_check_outputs_finite("f.nii.gz")))
    add(C("vol-disk-full", "fuse", "disk full while writing the fused volume",
          lambda c: (_fuse(c, *_pair_nii(c), "f.nii.gz"), c.s("f.nii.gz")), ("no space left",), fault="enospc"))
    add(C("vol-disk-full-sidecar", "fuse", "disk full while writing the normalisation sidecar",
          lambda c: (_fuse(c, *_pair_nii(c), "f.nii.gz"), c.s("f.fusioninn.json")), ("no space left",),
          fault="enospc:.json"))

    # ---- decompose
    add(C("dec-missing", "decompose", "fused file does not exist",
          lambda c: (_decompose(c, c.s("nope.png")), c.s("nope.png")), ("not found",)))
    add(C("dec-latent-mismatch", "decompose", "latent of a 32x32 image with a 40x40 fused image",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(40, 40, 3))), "--latent", _fused_and_latent(c)[1]),
                     c.s("z.npz")), ("does not match",)))
    add(C("dec-latent-garbage", "decompose", "latent file of random bytes",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3))), "--latent",
                                _write(c, "z.npz", os.urandom(500))), c.s("z.npz")), ("not a fusioninn latent",)))
    add(C("dec-latent-pickle", "decompose", "latent .npz holding a pickled object array",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3))), "--latent",
                                (np.savez(c.p("z.npz"), latent=np.array([{"x": 1}], dtype=object)), c.s("z.npz"))[1]),
                     c.s("z.npz")), ("not a fusioninn latent",)))
    add(C("dec-latent-kind", "decompose", "image latent used for a volume",
          lambda c: (_decompose(c, str(nifti(c.p("v.nii.gz"), np.full((16, 16, 4), 0.5))), "--latent",
                                _fused_and_latent(c)[1]), c.s("z.npz")), ("latent was saved for",)))
    add(C("dec-latent-and-samples", "decompose", "--latent with --samples 3 (conflicting options)",
          lambda c: (_decompose(c, *_fused_and_latent(c)[:1], "--latent", c.s("z.npz"), "--samples", "3"), None),
          ("--samples",)))
    add(C("dec-samples-zero", "decompose", "--samples 0",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3))), "--samples", "0"), None),
          ("--samples",)))
    add(C("dec-out-is-file", "decompose", "output folder is an existing file",
          lambda c: (["decompose", str(png(c.p("g.png"), blobs(32, 32, 3))), "-o", _write(c, "dec", b"x"),
                      "--model", c.model], c.s("dec")), ("not a directory",)))
    add(C("dec-volume-range", "decompose", "fused volume with values outside [0, 1]",
          lambda c: (_decompose(c, str(nifti(c.p("v.nii.gz"), volume()))), c.s("v.nii.gz")), ("[0, 1]",)))
    add(C("dec-disk-full", "decompose", "disk full on the 2nd of 4 outputs (sampled, --samples 2)",
          lambda c: (_decompose(c, str(png(c.p("g.png"), blobs(32, 32, 3))), "--samples", "2", "--names", "x,y"),
                     c.s("dec/g_y.png")), ("no space left",), fault="enospc:.tmp-g_y-"))
    add(C("dec-all-zero", "decompose", "all-zero fused image (must work, no NaN)",
          lambda c: (_decompose(c, str(png(c.p("g.png"), np.zeros((32, 32)))), "--seed", "1"), None),
          code=0, check=_check_outputs_finite("dec/g_source1.png", "dec/g_source2.png")))

    # ---- metrics
    def tri(c: Ctx, a=None, b=None, f=None) -> list[str]:
        pa = a or str(png(c.p("a.png"), blobs(32, 32, 1)))
        pb = b or str(png(c.p("b.png"), blobs(32, 32, 2)))
        pf = f or str(png(c.p("f.png"), blobs(32, 32, 3)))
        return _metrics(pa, pb, pf)

    add(C("metrics-missing", "metrics", "fused file does not exist",
          lambda c: (tri(c, f=c.s("nope.png")), c.s("nope.png")), ("not found",)))
    add(C("metrics-directory", "metrics", "a directory as source",
          lambda c: (tri(c, a=_mkdir(c, "d.png")), c.s("d.png")), ("directory",)))
    add(C("metrics-not-image", "metrics", "text bytes with a .png extension",
          lambda c: (tri(c, b=_write(c, "t.png", b"not an image")), c.s("t.png")), ("not a readable image",)))
    add(C("metrics-size", "metrics", "fused image of another size",
          lambda c: (tri(c, f=str(png(c.p("f.png"), blobs(30, 32, 3)))), c.s("f.png")), ("differs",)))
    add(C("metrics-nan", "metrics", "NaN in a float .npy",
          lambda c: (tri(c, f=str(npy(c.p("f.npy"), np.full((32, 32), np.nan)))), c.s("f.npy")), ("nan",)))
    add(C("metrics-range", "metrics", "float image outside [0, 1]",
          lambda c: (tri(c, f=str(npy(c.p("f.npy"), blobs(32, 32, 3) * 7))), c.s("f.npy")), ("[0, 1]",)))
    add(C("metrics-3d", "metrics", "2-channel .npy (32x32x2)",
          lambda c: (tri(c, a=str(npy(c.p("a.npy"), np.random.rand(32, 32, 2)))), c.s("a.npy")), ("2-d",)))
    add(C("metrics-huge", "metrics", "PNG header claiming 60000x60000 pixels",
          lambda c: (tri(c, f=str(huge_png(c.p("big.png")))), c.s("big.png")), ("would need",)))
    add(C("metrics-all-zero", "metrics", "all-zero sources and fused (must work, no NaN)",
          lambda c: (tri(c, *(str(png(c.p(n), np.zeros((32, 32)))) for n in ("a.png", "b.png", "f.png"))), None),
          code=0))
    add(C("metrics-odd", "metrics", "odd size 33x31 (must work)",
          lambda c: (tri(c, *(str(png(c.p(n), blobs(33, 31, k))) for k, n in enumerate(("a.png", "b.png", "f.png")))),
                     None), code=0))
    add(C("metrics-protocol", "metrics", "unknown --protocol",
          lambda c: ([*tri(c), "--protocol", "matlab"], None), ("invalid choice",)))

    # ---- train
    add(C("train-unknown-spec", "train", "data spec that is neither phantom, folder, .h5 nor pairs",
          lambda c: (_train(c, c.s("nosuch")), c.s("nosuch")), ("unknown data spec",)))
    add(C("train-bad-phantom", "train", "phantom:abc",
          lambda c: (_train(c, "phantom:abc"), "phantom:abc"), ("phantom",)))
    add(C("train-phantom-zero", "train", "phantom:0",
          lambda c: (_train(c, "phantom:0"), "phantom:0"), ("n >= 1",)))
    add(C("train-text-file", "train", "a .txt file as data spec",
          lambda c: (_train(c, _write(c, "d.txt", b"x")), c.s("d.txt")), ("not a data spec",)))
    add(C("train-h5-garbage", "train", "random bytes named .h5",
          lambda c: (_train(c, _write(c, "d.h5", os.urandom(4000))), c.s("d.h5")), ("not a readable hdf5",)))
    add(C("train-h5-channels", "train", "HDF5 with 3 channels (4 expected)",
          lambda c: (_train(c, str(h5(c.p("d.h5"), np.random.rand(4, 3, 16, 16).astype(np.float32)))), c.s("d.h5")),
          ("channels",)))
    add(C("train-h5-3d", "train", "HDF5 'data' of 3 dimensions",
          lambda c: (_train(c, str(h5(c.p("d.h5"), np.random.rand(4, 16, 16).astype(np.float32)))), c.s("d.h5")),
          ("n x c x h x w",)))
    add(C("train-h5-nan", "train", "HDF5 with NaN",
          lambda c: (_train(c, str(h5(c.p("d.h5"), np.full((4, 4, 16, 16), np.nan, np.float32)))), c.s("d.h5")),
          ("nan",)))
    def unmatched(c: Ctx) -> tuple[list[str], str]:
        a, b = _mkdir(c, "A"), _mkdir(c, "B")
        png(c.p("A/x.png"), blobs(16, 16, 0))
        png(c.p("B/y.png"), blobs(16, 16, 1))
        return _train(c, f"pairs:{a}:{b}"), a

    add(C("train-pairs-unmatched", "train", "pairs:A:B folders with different file names", unmatched,
          ("unmatched",)))
    add(C("train-crop-odd", "train", "--crop 15 (odd)",
          lambda c: (_train(c, "phantom:8", "--crop", "15"), None), ("crop",)))
    add(C("train-widths-two", "train", "--widths 32,64 (two widths, three expected)",
          lambda c: (_train(c, "phantom:8", "--widths", "32,64"), None), ("--widths", "three integers")))
    add(C("train-widths-zero", "train", "--widths 32,0,32",
          lambda c: (_train(c, "phantom:8", "--widths", "32,0,32"), None), ("--widths",)))
    add(C("train-widths-text", "train", "--widths wide",
          lambda c: (_train(c, "phantom:8", "--widths", "wide"), None), ("--widths",)))
    add(C("train-couplings-negative", "train", "--couplings -1",
          lambda c: (_train(c, "phantom:8", "--couplings", "-1"), None), ("--couplings",)))
    add(C("train-couplings-huge", "train", "--couplings 1000",
          lambda c: (_train(c, "phantom:8", "--couplings", "1000"), None), ("--couplings", "0-16")))
    add(C("train-init-mixing-unknown", "train", "--init-mixing blend",
          lambda c: (_train(c, "phantom:8", "--init-mixing", "blend"), None), ("--init-mixing", "average")))
    add(C("train-init-mixing-paper", "train", "--init-mixing average with --recipe paper",
          lambda c: (_train(c, "phantom:8", "--init-mixing", "average", "--recipe", "paper"), None),
          ("--init-mixing", "fast recipe")))
    add(C("train-capacity-on-cnn", "train", "--couplings 2 with --model deepfuse",
          lambda c: (_train(c, "phantom:8", "--couplings", "2", "--model", "deepfuse"), None), ("--couplings",)))
    add(C("train-init-other-capacity", "train", "--init weights with other subnet widths and an extra coupling",
          lambda c: (_train(c, "phantom:8", "--init", _other_capacity_weights(c)), c.s("wide.safetensors")),
          ("--init", "widths")))
    add(C("train-w-negative", "train", "--w-gradient -1 (negative loss weight)",
          lambda c: (_train(c, "phantom:8", "--w-gradient", "-1"), None), ("--w-gradient", ">= 0")))
    add(C("train-w-ms-gradient-negative", "train", "--w-ms-gradient -0.5 (negative loss weight)",
          lambda c: (_train(c, "phantom:8", "--w-ms-gradient", "-0.5"), None), ("--w-ms-gradient", ">= 0")))
    add(C("train-w-laplacian-detail-nan", "train", "--w-laplacian-detail nan",
          lambda c: (_train(c, "phantom:8", "--w-laplacian-detail", "nan"), None),
          ("--w-laplacian-detail", "finite")))
    add(C("train-w-salience-intensity-inf", "train", "--w-salience-intensity inf",
          lambda c: (_train(c, "phantom:8", "--w-salience-intensity", "inf"), None),
          ("--w-salience-intensity", "finite")))
    add(C("train-init-garbage", "train", "--init a file that is not a checkpoint",
          lambda c: (_train(c, "phantom:8", "--init", _write(c, "w.safetensors", b"not weights")),
                     c.s("w.safetensors")),
          ("not a readable safetensors",)))
    add(C("train-init-other-model", "train", "--init FusionINN weights for --model unet",
          lambda c: (_train(c, "phantom:8", "--model", "unet", "--init", str(default_weights_path())),
                     str(default_weights_path())), ("another architecture",)))
    add(C("train-epochs-zero", "train", "--epochs 0",
          lambda c: (_train(c, "phantom:8", "--epochs", "0"), None), ("--epochs", ">= 1")))
    add(C("train-val-fraction", "train", "--val-fraction 1.5",
          lambda c: (_train(c, "phantom:8", "--val-fraction", "1.5"), None), ("--val-fraction",)))
    add(C("train-model", "train", "unknown --model",
          lambda c: (_train(c, "phantom:8", "--model", "resnet"), None), ("unknown model",)))
    add(C("train-pair", "train", "--pair with one name",
          lambda c: (_train(c, "phantom:8", "--pair", "t1ce"), None), ("--pair",)))
    add(C("train-out-is-file", "train", "--out is an existing file",
          lambda c: (_train(c, "phantom:8", out=_write(c, "run", b"x")), c.s("run")), ("not a directory",)))
    add(C("train-out-under-file", "train", "--out inside a regular file (unwritable)",
          lambda c: (_train(c, "phantom:8", out=_write(c, "file", b"x") + "/run"), c.s("file")), ("file",)))
    add(C("train-resume-nothing", "train", "--resume with no checkpoint",
          lambda c: (_train(c, "phantom:8", "--resume"), c.s("run")), ("nothing to resume",)))
    add(C("train-resume-tampered", "train", "--resume from a tampered last.safetensors",
          lambda c: (_train(c, "phantom:8", "--resume"), _tampered_run(c)), ("checksum",)))
    add(C("train-resume-conflict", "train", "--resume with another --batch-size than the run's",
          lambda c: (_train(c, "phantom:8", "--resume"),
                     _training_checkpoint(c, data="phantom:8", batch_size=2, crop=16, epochs=1)), ("batch_size",)))
    add(C("train-existing-run", "train", "--out holds a run, no --resume",
          lambda c: (_train(c, "phantom:8"), _training_checkpoint(c, data="phantom:8") and c.s("run")),
          ("already holds a run",)))
    add(C("train-recipe", "train", "unknown --recipe",
          lambda c: (_train(c, "phantom:8", "--recipe", "slow"), None), ("invalid choice",)))

    # ---- evaluate
    add(C("eval-unknown-spec", "evaluate", "unknown data spec",
          lambda c: (_evaluate(c, c.s("nosuch")), c.s("nosuch")), ("unknown data spec",)))
    add(C("eval-method", "evaluate", "unknown method name",
          lambda c: (_evaluate(c, "phantom:4", "--methods", "nosuch"), None), ("nosuch",)))
    add(C("eval-methods-empty", "evaluate", "--methods ','",
          lambda c: (_evaluate(c, "phantom:4", "--methods", ","), None), ("--methods",)))
    add(C("eval-weights", "evaluate", "--weights without NAME=PATH",
          lambda c: (_evaluate(c, "phantom:4", "--weights", "deepfuse"), None), ("--weights",)))
    add(C("eval-model-tampered", "evaluate", "--model tampered checkpoint",
          lambda c: ([*_evaluate(c, "phantom:4", "--methods", "fusioninn")[:-2], "--model",
                      str(c.assets / "tampered.safetensors")], str(c.assets / "tampered.safetensors")),
          ("checksum",)))
    add(C("eval-out-is-file", "evaluate", "--out is an existing file",
          lambda c: (_evaluate(c, "phantom:4", "--methods", "average", out=_write(c, "eval", b"x")), c.s("eval")),
          ("not a directory",)))
    add(C("eval-batch-size", "evaluate", "--batch-size 0",
          lambda c: (_evaluate(c, "phantom:4", "--methods", "average", "--batch-size", "0"), None), ("--batch-size",)))
    add(C("eval-disk-full", "evaluate", "disk full while writing results",
          lambda c: (_evaluate(c, "phantom:4", "--methods", "average"), c.s("eval")), ("no space left",),
          fault="enospc"))

    # ---- prepare (issue 13)
    def prep(c: Ctx, data: str, *extra: str) -> list[str]:
        return ["prepare", "--data", data, "--cache", c.s("prep"), "--quiet", *extra]

    def subject_without_flair(c: Ctx) -> str:
        folder = c.p("brats") / "S1"
        folder.mkdir(parents=True)
        nifti(folder / "S1_t1ce.nii.gz", volume())
        nifti(folder / "S1_seg.nii.gz", np.zeros((16, 16, 4)))
        return str(c.p("brats"))

    add(C("prepare-phantom-spec", "prepare", "a phantom spec (prepare decodes BraTS folders)",
          lambda c: (prep(c, "phantom:4"), None), ("brats folders",)))
    add(C("prepare-no-folder", "prepare", "source folder that does not exist",
          lambda c: (prep(c, c.s("nosuch")), c.s("nosuch")), ("no such folder",)))
    add(C("prepare-workers", "prepare", "--workers 0",
          lambda c: (prep(c, subject_without_flair(c), "--workers", "0"), None), ("--workers",)))
    add(C("prepare-strict-missing", "prepare", "--strict and a subject without its FLAIR file",
          lambda c: (prep(c, subject_without_flair(c), "--strict"), c.s("brats/S1")), ("no flair file",)))
    def foreign_folder(c: Ctx) -> str:
        _mkdir(c, "other")
        _write(c, "other/x.txt", b"someone else's file")
        return c.s("other")

    add(C("prepare-cache-not-empty", "prepare", "--cache is a folder of other files",
          lambda c: (["prepare", "--data", subject_without_flair(c), "--cache", foreign_folder(c), "--quiet"],
                     c.s("other")), ("not empty",)))
    add(C("train-max-steps", "train", "--max-steps 0",
          lambda c: (_train(c, "phantom:8", "--max-steps", "0"), None), ("--max-steps",)))

    # ---- phantom
    def ph(c: Ctx, *extra: str) -> list[str]:
        return ["phantom", "--out", c.s("ph"), "--shape", "16,16,8", *extra]

    add(C("phantom-shape", "phantom", "--shape with two sides",
          lambda c: (["phantom", "--out", c.s("ph"), "--shape", "8,8"], None), ("x,y,z",)))
    add(C("phantom-sequences", "phantom", "unknown sequence name",
          lambda c: (ph(c, "--sequences", "t1,pet"), None), ("sequences",)))
    add(C("phantom-cases", "phantom", "--cases -1",
          lambda c: (ph(c, "--cases", "-1"), None), (">= 0",)))
    add(C("phantom-out-is-file", "phantom", "--out is an existing file",
          lambda c: (["phantom", "--out", _write(c, "ph", b"x"), "--shape", "16,16,8"], c.s("ph")),
          ("not a directory",)))
    add(C("phantom-huge", "phantom", "--shape 100000,100000,1000",
          lambda c: (["phantom", "--out", c.s("ph"), "--shape", "100000,100000,1000"], None), ("would need",)))
    add(C("phantom-disk-full", "phantom", "disk full while writing a volume",
          lambda c: (ph(c), c.s("ph")), ("no space left",), fault="enospc"))

    # ---- import-original
    add(C("import-missing", "import-original", ".pt file does not exist",
          lambda c: (_import(c, c.s("inn.pt")), c.s("inn.pt")), ("not found",)))
    add(C("import-directory", "import-original", "a directory as .pt",
          lambda c: (_import(c, _mkdir(c, "inn.pt")), c.s("inn.pt")), ("directory",)))
    add(C("import-garbage", "import-original", "random bytes named .pt",
          lambda c: (_import(c, _write(c, "inn.pt", os.urandom(300))), c.s("inn.pt")), ("not a loadable",)))
    add(C("import-evil-pickle", "import-original", "pickle that runs a shell command when unpickled",
          lambda c: (_import(c, _evil_pt(c)), c.s("evil.pt")), ("weights-only",)))
    add(C("import-other-arch", "import-original", "state dict of another network",
          lambda c: (_import(c, _pt(c, "inn.pt", {"model_state_dict": {"fc.weight": __import__("torch").zeros(3, 4)}})),
                     c.s("inn.pt")), ("published architecture",)))
    add(C("import-wrong-shapes", "import-original", "right names, wrong shapes",
          lambda c: (_import(c, _pt(c, "inn.pt", {"model_state_dict": {
              k: __import__("torch").zeros(*(s + 1 for s in v.shape)) for k, v in _original_like_state().items()}})),
              c.s("inn.pt")), ("shape",)))
    add(C("import-our-checkpoint", "import-original", "our own .safetensors given as the .pt",
          lambda c: (_import(c, c.model), c.model), ("no import",)))
    add(C("import-out-ext", "import-original", "output not .safetensors",
          lambda c: (_import(c, str(c.assets / "pickled.pt"), "out.pt"), c.s("out.pt")), (".safetensors",)))
    def import_under_file(c: Ctx) -> tuple[list[str], str]:
        _write(c, "file", b"x")
        return _import(c, _pt(c, "inn.pt", {"model_state_dict": _original_like_state()}), "file/out.safetensors"), \
            c.s("file")

    add(C("import-out-under-file", "import-original", "output folder is a regular file", import_under_file,
          ("not a folder",)))

    # ---- benchmark / bench: argument errors only (the commands may not exist yet)
    add(C("benchmark-option", "benchmark", "unknown option",
          lambda c: (["benchmark", "--out", c.s("b"), "--bogus"], None), ("unrecognized",)))
    add(C("benchmark-protocol", "benchmark", "unknown --protocol",
          lambda c: (["benchmark", "--out", c.s("b"), "--protocol", "x"], None), ("invalid choice",)))
    add(C("bench-repeats", "bench", "--repeats not an integer",
          lambda c: (["bench", "--repeats", "many"], None), ("--repeats", "integer")))
    def refuse_over_pair(c: Ctx) -> tuple[list[str], str]:
        _fused_and_latent(c)  # f.png + z.npz of a first fuse: the inputs that must come back byte-identical
        other = str(png(c.p("c.png"), blobs(32, 32, 5)))
        return _fuse(c, other, c.s("b.png"), "f.png", "--save-latent", c.s("z.npz")), c.s("z.npz")

    add(C("fuse-refuse-latent-fails", "fuse", "re-fuse over f.png + z.npz, disk full on the new latent: the old "
          "pair comes back byte-identical", refuse_over_pair, ("no space left",), fault="enospc:.npz"))
    _issue12_cases(C, add)
    return cases


# --------------------------------------------------------------------------------------------------
# DICOM series (issue 16): inputs written by tests/data/dicom_factory.py, one folder per series
def _dicom_factory():
    import importlib.util

    name = "fusioninn_tests_dicom_factory"
    if name not in globals():
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "data" /
                                                      "dicom_factory.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        globals()[name] = module
    return globals()[name]


_DCM_SHAPE = (16, 16, 6)
_DCM_AFFINE = np.array([[-1.0, 0, 0, 8], [0, -1.0, 0, 8], [0, 0, 2.0, -6], [0, 0, 0, 1]])


def _series(c: Ctx, name: str, seed: int = 1, shape=_DCM_SHAPE, **kw) -> str:
    kw.setdefault("study_uid", "1.2.826.0.1.3680043.8.498.100")
    kw.setdefault("for_uid", "1.2.826.0.1.3680043.8.498.101")
    aff = _DCM_AFFINE.copy()
    _dicom_factory().write_series(c.p(name), np.rint(volume(shape, seed)), aff, **kw)
    return c.s(name)


def _lps_positions(n: int) -> list[np.ndarray]:
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ _DCM_AFFINE
    return [(lps @ np.array([0.0, 0.0, k, 1.0]))[:3] for k in range(n)]


def _dicom_pair(c: Ctx, **kw_a) -> tuple[str, str]:
    return _series(c, "t1ce", 1, number=5, description="T1 post", **kw_a), \
        _series(c, "flair", 7, number=7, description="FLAIR")


def _study(c: Ctx) -> str:
    _series(c, "study/t1ce", 1, number=5, description="T1 post")
    _series(c, "study/flair", 7, number=7, description="FLAIR")
    return c.s("study")


def _bundled_folder(c: Ctx, name: str) -> str:
    import shutil

    import pydicom

    folder = c.p(name.replace(".dcm", ""))
    folder.mkdir()
    shutil.copy(Path(pydicom.__file__).parent / "data" / "test_files" / name, folder / name)
    return str(folder)


def _rgb_as_mr(c: Ctx) -> str:
    """An MR Image Storage series whose pixels are RGB (what a screenshot exported as MR looks like)."""
    import pydicom

    folder = Path(_series(c, "rgb", 1))
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        ds.PixelData = np.zeros((ds.Rows, ds.Columns, 3), np.uint8).tobytes()
        ds.save_as(f)
    return str(folder)


def _no_geometry(c: Ctx) -> str:
    import pydicom

    folder = Path(_series(c, "nogeo", 1))
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
    return str(folder)


def _undecodable(c: Ctx) -> str:
    """A series whose pixel data is in a transfer syntax no installed decoder handles (MPEG-2 video)."""
    import pydicom
    from pydicom.encaps import encapsulate

    folder = Path(_series(c, "mpeg", 1))
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
        ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
        ds["PixelData"].VR = "OB"
        ds.save_as(f)
    return str(folder)


def _fused_series(c: Ctx, latent: bool = False) -> str:
    from fusioninn.cli import main

    a, b = _dicom_pair(c)
    extra = ["--save-latent", c.s("z.npz")] if latent else []
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(_fuse(c, a, b, "fused", "--format", "dicom", *extra)) == 0
    return c.s("fused")


def _check_series(*names: str) -> Callable[[Ctx], None]:
    def check(c: Ctx) -> None:
        import pydicom

        from fusioninn.data.volume import read_volume

        for n in names:
            vol = read_volume(c.p(n))
            assert vol.shape == _DCM_SHAPE and np.isfinite(vol.data).all(), n
            ds = pydicom.dcmread(sorted(c.p(n).iterdir())[0])
            assert list(ds.ImageType) == ["DERIVED", "SECONDARY"], n
    return check


def _dicom_cases() -> list[Case]:
    C = Case
    cases: list[Case] = []
    add = cases.append
    pos = _lps_positions(_DCM_SHAPE[2])
    tilted = [p + np.array([0.0, 0.4 * k, 0.0]) for k, p in enumerate(pos)]
    uneven = [p + np.array([0.0, 0.0, 0.7 if k >= 3 else 0.0]) for k, p in enumerate(pos)]
    duplicate = [pos[min(k, 4)] if k != 5 else pos[4] for k in range(len(pos))]
    oris = [np.array([1.0, 0, 0, 0, 1, 0])] * len(pos)
    oris[2] = np.array([1.0, 0, 0, 0, 0.98, 0.199])

    add(C("dicom-several-series", "fuse", "a study folder of two series, no --series",
          lambda c: (_fuse(c, _study(c), c.s("study"), "f.nii.gz"), c.s("study")), ("choose one with --series",)))
    add(C("dicom-series-unknown", "fuse", "--series that matches no series",
          lambda c: (_fuse(c, _study(c), c.s("study"), "f.nii.gz", "--series", "9", "--series", "7"), c.s("study")),
          ("matches none",)))
    add(C("dicom-same-series", "fuse", "one --series for a study folder given twice: the same series twice",
          lambda c: (_fuse(c, _study(c), c.s("study"), "f.nii.gz", "--series", "5"), c.s("study")),
          ("same series",)))
    add(C("dicom-series-thrice", "fuse", "--series given three times",
          lambda c: (_fuse(c, *_dicom_pair(c), "f.nii.gz", "--series", "1", "--series", "2", "--series", "3"), None),
          ("at most 2",)))
    add(C("dicom-series-on-nifti", "fuse", "--series with NIfTI inputs",
          lambda c: (_fuse(c, *_pair_nii(c), "f.nii.gz", "--series", "5"), c.s("a.nii.gz")), ("--series selects",)))
    add(C("dicom-mixed-orientation", "fuse", "one slice of the series in another orientation",
          lambda c: (_fuse(c, *_dicom_pair(c, orientations=oris), "f.nii.gz"), c.s("t1ce")),
          ("mixed orientations",)))
    add(C("dicom-gantry-tilt", "fuse", "slice origins drifting sideways (gantry tilt)",
          lambda c: (_fuse(c, *_dicom_pair(c, positions=tilted), "f.nii.gz"), c.s("t1ce")), ("gantry tilt",)))
    add(C("dicom-uneven-spacing", "fuse", "slice spacing 2 mm, then 2.7 mm once",
          lambda c: (_fuse(c, *_dicom_pair(c, positions=uneven), "f.nii.gz"), c.s("t1ce")),
          ("non-uniform slice spacing",)))
    add(C("dicom-missing-slices", "fuse", "two slices of the series missing",
          lambda c: (_fuse(c, *_dicom_pair(c, drop=[2, 3]), "f.nii.gz"), c.s("t1ce")), ("missing slices",)))
    add(C("dicom-duplicate-position", "fuse", "two images at one position (two echoes in one series)",
          lambda c: (_fuse(c, *_dicom_pair(c, positions=duplicate), "f.nii.gz"), c.s("t1ce")),
          ("two images at one position",)))
    add(C("dicom-different-grids", "fuse", "two series on different grids (6 and 8 slices)",
          lambda c: (_fuse(c, _series(c, "t1ce", 1), _series(c, "flair", 7, shape=(16, 16, 8)), "f.nii.gz"),
                     c.s("t1ce")), ("16x16x6 voxels", "16x16x8 voxels", "does not resample")))
    add(C("dicom-different-patients", "fuse", "two series of different patients",
          lambda c: (_fuse(c, _series(c, "t1ce", 1), _series(c, "flair", 7, patient_id="OTHER"), "f.nii.gz"),
                     c.s("t1ce")), ("different patients",)))
    add(C("dicom-secondary-capture", "fuse", "an RGB secondary capture (pydicom's SC_rgb_rle.dcm) as a series",
          lambda c: (_fuse(c, _bundled_folder(c, "SC_rgb_rle.dcm"), _series(c, "flair", 7), "f.nii.gz"),
                     c.s("SC_rgb_rle")), ("secondary capture",)))
    add(C("dicom-rgb-as-mr", "fuse", "RGB pixels in an MR Image Storage series",
          lambda c: (_fuse(c, _rgb_as_mr(c), _series(c, "flair", 7), "f.nii.gz"), c.s("rgb")), ("colour images",)))
    add(C("dicom-corrupt-pixels", "fuse", "truncated pixel data (pydicom's MR_truncated.dcm)",
          lambda c: (_fuse(c, _bundled_folder(c, "MR_truncated.dcm"), _series(c, "flair", 7), "f.nii.gz"),
                     c.s("MR_truncated/MR_truncated.dcm")), ("corrupt or truncated",)))
    add(C("dicom-undecodable", "fuse", "pixel data in a transfer syntax without a decoder (MPEG-2)",
          lambda c: (_fuse(c, _undecodable(c), _series(c, "flair", 7), "f.nii.gz"), c.s("mpeg/IM0000.dcm")),
          ("no installed decoder",)))
    add(C("dicom-no-geometry", "fuse", "slices without ImagePositionPatient",
          lambda c: (_fuse(c, _no_geometry(c), _series(c, "flair", 7), "f.nii.gz"), c.s("nogeo")),
          ("cannot place",)))
    add(C("dicom-empty-folder", "fuse", "an empty folder as a series",
          lambda c: (_fuse(c, _mkdir(c, "empty"), _series(c, "flair", 7), "f.nii.gz"), c.s("empty")),
          ("no dicom image series",)))
    add(C("dicom-not-dicom", "fuse", "a folder of text files as a series",
          lambda c: (_fuse(c, (_mkdir(c, "txt"), _write(c, "txt/a.dcm", b"hello" * 50))[0], _series(c, "flair", 7),
                           "f.nii.gz"), c.s("txt")), ("none of them dicom",)))
    add(C("dicom-format-from-nifti", "fuse", "--format dicom with NIfTI inputs (no patient to copy)",
          lambda c: (_fuse(c, *_pair_nii(c), "out", "--format", "dicom"), c.s("a.nii.gz")), ("needs a dicom",)))
    add(C("dicom-format-images", "fuse", "--format dicom with 2-D images",
          lambda c: (_fuse(c, *_pair_png(c), "out", "--format", "dicom"), None), ("2-d images",)))
    add(C("dicom-out-file-name", "fuse", "--format dicom with -o f.nii.gz",
          lambda c: (_fuse(c, *_dicom_pair(c), "f.nii.gz", "--format", "dicom"), c.s("f.nii.gz")),
          ("names a folder",)))
    add(C("dicom-out-not-empty", "fuse", "--format dicom into a folder that holds files",
          lambda c: (_fuse(c, *_dicom_pair(c), (_mkdir(c, "out"), _write(c, "out/x.txt", b"x"))[0] and "out",
                           "--format", "dicom"), c.s("out")), ("not an empty folder",)))
    add(C("dicom-out-inside-input", "fuse", "-o inside an input series folder",
          lambda c: (_fuse(c, *_dicom_pair(c), "t1ce/fused.nii.gz"), c.s("t1ce/fused.nii.gz")),
          ("inside the input dicom folder",)))
    add(C("dec-dicom-out-inside-input", "decompose", "decompose -o inside the fused series folder",
          lambda c: (["decompose", _fused_series(c), "-o", c.s("fused/dec"), "--model", c.model, "--threads", "1"],
                     c.s("fused/dec")), ("inside the input dicom folder",)))
    add(C("dicom-disk-full", "fuse", "disk full while writing the derived series (simulated ENOSPC)",
          lambda c: (_fuse(c, *_dicom_pair(c), "out", "--format", "dicom"), c.s("out")), ("no space left",),
          fault="enospc:.tmp-out-"))
    add(C("dicom-disk-full-latent", "fuse", "disk full on the latent after the series was written",
          lambda c: (_fuse(c, *_dicom_pair(c), "out", "--format", "dicom", "--save-latent", c.s("z.npz")),
                     c.s("z.npz")), ("no space left",), fault="enospc:.npz"))
    add(C("dicom-fuse-to-dicom", "fuse", "two DICOM series fused into a derived series (must work)",
          lambda c: (_fuse(c, *_dicom_pair(c), "out", "--format", "dicom"), None), code=0,
          check=_check_series("out")))
    add(C("eval-dicom-spec", "evaluate", "dicom: data spec with one folder only",
          lambda c: (_evaluate(c, f"dicom:{_series(c, 't1ce', 1)}", "--methods", "average"), None),
          ("bad dicom spec",)))
    add(C("dec-dicom-format-from-nifti", "decompose", "--format dicom for a fused NIfTI volume",
          lambda c: (_decompose(c, str(nifti(c.p("v.nii.gz"), np.full((16, 16, 4), 0.5))), "--format", "dicom"),
                     c.s("v.nii.gz")), ("needs a fused dicom series",)))
    add(C("dec-dicom-range", "decompose", "a DICOM series that is not a fused image (values outside [0, 1])",
          lambda c: (_decompose(c, _series(c, "t1ce", 1)), c.s("t1ce")), ("[0, 1]",)))
    add(C("dec-dicom-exact", "decompose", "a fused DICOM series with its latent, to DICOM (must work)",
          lambda c: (_decompose(c, _fused_series(c, latent=True), "--latent", c.s("z.npz"), "--format", "dicom"),
                     None), code=0, check=_check_series("dec/fused_t1ce", "dec/fused_flair")))

    def prep(c: Ctx, spec: str, *extra: str) -> list[str]:
        return ["prepare", "--data", spec, "--cache", c.s("prep"), "--quiet", *extra]

    add(C("prepare-dicom-tumour", "prepare", "a dicom: spec with --slices tumour (DICOM has no segmentation)",
          lambda c: (prep(c, f"dicom:{_study(c)}:5:7", "--slices", "tumour"), None), ("needs a segmentation",)))
    add(C("prepare-dicom-same-series", "prepare", "a dicom: spec selecting one series twice",
          lambda c: (prep(c, f"dicom:{_study(c)}:5:5"), None), ("same series",)))
    add(C("prepare-dicom-different-grids", "prepare", "a dicom: spec of two series on different grids",
          lambda c: (prep(c, f"dicom:{_series(c, 't1ce', 1)}:{_series(c, 'flair', 7, shape=(16, 16, 8))}"),
                     c.s("t1ce")), ("16x16x6 voxels", "16x16x8 voxels", "does not resample")))
    add(C("prepare-dicom-missing-slices", "prepare", "a dicom: spec whose first series misses two slices",
          lambda c: (prep(c, "dicom:{}:{}".format(*_dicom_pair(c, drop=[2, 3]))), c.s("t1ce")),
          ("missing slices",)))
    add(C("prepare-dicom", "prepare", "a dicom: spec of a study folder (must work)",
          lambda c: (prep(c, f"dicom:{_study(c)}:T1 post:7"), None), code=0,
          check=lambda c: (c.p("prep") / "manifest.json").is_file()))
    return cases


def _explain(c: Ctx, a: str, b: str, *extra: str, out: str = "explained") -> list[str]:
    return ["explain", a, b, "-o", c.s(out), "--model", c.model, "--threads", "1", "--steps", "2", *extra]


def _view(c: Ctx, a: str, b: str, *extra: str, out: str = "case.html") -> list[str]:
    return ["view", a, b, "-o", c.s(out), "--model", c.model, "--threads", "1", "--samples", "2",
            "--no-contributions", *extra]


def _check_explained(c: Ctx) -> None:
    names = sorted(p.name for p in c.p("explained").iterdir())
    assert names == ["contribution_a.nii.gz", "contribution_b.nii.gz", "explain.json", "share_a.nii.gz"], names


def _interpretability_cases() -> list[Case]:
    """explain and view (engineer 15): the same input rules as fuse, plus their own options."""
    C = Case
    cases: list[Case] = []
    add = cases.append
    add(C("explain-missing", "explain", "source file does not exist",
          lambda c: (_explain(c, c.s("nope.png"), _b_png(c)), c.s("nope.png")), ("not found",)))
    add(C("explain-size-mismatch", "explain", "sources of different sizes",
          lambda c: (_explain(c, *_pair_png(c, (32, 32), (32, 40))), c.s("a.png")), ("differs",)))
    add(C("explain-unknown-method", "explain", "--method that does not exist",
          lambda c: (_explain(c, *_pair_png(c), "--method", "magic"), None), ("unknown method",)))
    add(C("explain-bad-seg-labels", "explain", "a segmentation with labels that are not BraTS labels",
          lambda c: (_explain(c, *_pair_png(c), "--seg", str(npy(c.p("seg.npy"), np.full((32, 32), 7.0)))),
                     c.s("seg.npy")), ("brats labels",)))
    add(C("explain-seg-size", "explain", "a segmentation of another size",
          lambda c: (_explain(c, *_pair_png(c), "--seg", str(npy(c.p("seg.npy"), np.zeros((8, 8))))),
                     c.s("seg.npy")), ("differs",)))
    add(C("explain-output-is-file", "explain", "-o names an existing file",
          lambda c: (_explain(c, *_pair_png(c), out="a.png"), c.s("a.png")), ("not a directory",)))
    add(C("explain-disk-full", "explain", "the disk fills up while the maps are written",
          lambda c: (_explain(c, *_pair_png(c)), None), ("no space left",), fault="enospc"))
    add(C("explain-volume", "explain", "two NIfTI volumes: maps on the input grid", lambda c: (
        _explain(c, *_pair_nii(c)), None), code=0, check=_check_explained))
    add(C("view-not-html", "view", "an output that is not .html",
          lambda c: (_view(c, *_pair_png(c), out="case.png"), c.s("case.png")), ("html",)))
    add(C("view-volume-with-image", "view", "a volume and a 2-D image",
          lambda c: (_view(c, _pair_nii(c)[0], _b_png(c)), c.s("a.nii.gz")), ("2-d image",)))
    add(C("view-output-is-input", "view", "-o names one of the inputs",
          lambda c: (_view(c, *_pair_png(c), out="a.png"), c.s("a.png")), ("html",)))
    add(C("view-disk-full", "view", "the disk fills up while the page is written",
          lambda c: (_view(c, *_pair_png(c)), None), ("no space left",), fault="enospc"))
    return cases


def _check_explained_dicom(c: Ctx) -> None:
    names = sorted(p.name for p in c.p("explained").iterdir())
    assert names == ["contribution_study_FLAIR.nii.gz", "contribution_study_T1_post.nii.gz", "explain.json",
                     "share_study_T1_post.nii.gz"], names


def _dicom_interpretability_cases() -> list[Case]:
    """explain and view with DICOM series folders (issue 16): the same series rules as fuse."""
    C = Case
    cases: list[Case] = []
    add = cases.append
    for command, run in (("explain", _explain), ("view", _view)):
        add(C(f"{command}-dicom-several-series", command, "a study folder of two series, no --series",
              lambda c, run=run: (run(c, _study(c), c.s("study")), c.s("study")), ("choose one with --series",)))
        add(C(f"{command}-dicom-series-unknown", command, "--series that matches no series",
              lambda c, run=run: (run(c, _study(c), c.s("study"), "--series", "9", "--series", "7"), c.s("study")),
              ("matches none",)))
        add(C(f"{command}-dicom-same-series", command, "one --series for a study folder given twice",
              lambda c, run=run: (run(c, _study(c), c.s("study"), "--series", "5"), c.s("study")),
              ("same series",)))
        add(C(f"{command}-dicom-different-grids", command, "two series on different grids (6 and 8 slices)",
              lambda c, run=run: (run(c, _series(c, "t1ce", 1), _series(c, "flair", 7, shape=(16, 16, 8))),
                                  c.s("t1ce")), ("16x16x6 voxels", "16x16x8 voxels", "does not resample")))
        add(C(f"{command}-dicom-missing-slices", command, "two slices of the first series missing",
              lambda c, run=run: (run(c, *_dicom_pair(c, drop=[2, 3])), c.s("t1ce")), ("missing slices",)))
        add(C(f"{command}-dicom-series-on-images", command, "--series with 2-D image inputs",
              lambda c, run=run: (run(c, *_pair_png(c), "--series", "5"), None), ("--series selects",)))
    add(C("explain-dicom-out-is-input", "explain", "-o names an input series folder",
          lambda c: (_explain(c, *_dicom_pair(c), out="t1ce"), c.s("t1ce")), ("input dicom folder",)))
    add(C("view-dicom-out-inside-input", "view", "-o inside an input series folder",
          lambda c: (_view(c, *_dicom_pair(c), out="t1ce/case.html"), c.s("t1ce/case.html")),
          ("inside the input dicom folder",)))
    add(C("explain-dicom-volume", "explain", "two series of one study folder picked by --series (must work)",
          lambda c: (_explain(c, _study(c), c.s("study"), "--series", "5", "--series", "FLAIR"), None), code=0,
          check=_check_explained_dicom))
    add(C("view-dicom-volume", "view", "two DICOM series folders (must work)",
          lambda c: (_view(c, *_dicom_pair(c)), None), code=0,
          check=lambda c: c.p("case.html").stat().st_size > 0))
    return cases


# --------------------------------------------------------------------------------------------------
# dicom-studies:ROOT:SERIES_A:SERIES_B (issue 16): a collection, one subject per study
def _studies(c: Ctx, *, p2_flair: bool = True, p1_repeat: bool = False, p1_flair_shape=_DCM_SHAPE,
             p2_drop=()) -> str:
    """ROOT/site/P1 and ROOT/site/P2, each a study of a T1ce (#5) and a FLAIR (#7) series."""
    for k, sid in enumerate(("P1", "P2")):
        uid = {"study_uid": f"1.2.826.0.1.3680043.8.498.11{k}", "for_uid": f"1.2.826.0.1.3680043.8.498.12{k}",
               "patient_id": sid}
        _series(c, f"root/site/{sid}/t1ce", 1 + k, number=5, description="T1 post",
                drop=p2_drop if sid == "P2" else (), **uid)
        if sid == "P1" or p2_flair:
            _series(c, f"root/site/{sid}/flair", 7 + k, number=7, description="FLAIR",
                    shape=p1_flair_shape if sid == "P1" else _DCM_SHAPE, **uid)
        if sid == "P1" and p1_repeat:
            _series(c, f"root/site/{sid}/t1ce-repeat", 3, number=5, description="T1 post repeat", **uid)
    return c.s("root")


def _dicom_studies_cases() -> list[Case]:
    C = Case
    cases: list[Case] = []
    add = cases.append

    def prep(c: Ctx, spec: str, *extra: str) -> list[str]:
        return ["prepare", "--data", spec, "--cache", c.s("prep"), "--quiet", *extra]

    add(C("eval-dicom-studies-spec", "evaluate", "dicom-studies: spec without the second series",
          lambda c: (_evaluate(c, f"dicom-studies:{_studies(c)}:5", "--methods", "average"), None),
          ("bad dicom-studies spec",)))
    add(C("eval-dicom-studies-no-root", "evaluate", "dicom-studies: spec whose root does not exist",
          lambda c: (_evaluate(c, f"dicom-studies:{c.s('nope')}:5:7", "--methods", "average"), c.s("nope")),
          ("no such folder",)))
    add(C("eval-dicom-studies-ambiguous", "evaluate", "a study where series selector 5 matches two series",
          lambda c: (_evaluate(c, f"dicom-studies:{_studies(c, p1_repeat=True)}:5:7", "--methods", "average"),
                     c.s("root/site/P1")), ("subject P1", "matches 2 series")))
    add(C("eval-dicom-studies-missing", "evaluate", "a study without the FLAIR series",
          lambda c: (_evaluate(c, f"dicom-studies:{_studies(c, p2_flair=False)}:5:FLAIR", "--methods", "average"),
                     c.s("root/site/P2")), ("subject P2", "matches none")))
    add(C("eval-dicom-studies-unknown", "evaluate", "a series selector that matches in no study",
          lambda c: (_evaluate(c, f"dicom-studies:{_studies(c)}:5:FLAIRX", "--methods", "average", "--skip-bad"),
                     c.s("root")), ("matches no series in any of the 2 studies",)))
    add(C("eval-dicom-studies-grids", "evaluate", "a study whose two series lie on different grids",
          lambda c: (_evaluate(c, f"dicom-studies:{_studies(c, p1_flair_shape=(16, 16, 8))}:5:7", "--methods",
                               "average"), c.s("root/site/P1/t1ce")),
          ("subject P1", "16x16x6 voxels", "16x16x8 voxels", "does not resample")))
    add(C("eval-dicom-studies-nothing-usable", "evaluate", "--skip-bad and no study holding both series",
          lambda c: (_evaluate(c, f"dicom-studies:{_studies(c, p2_flair=False, p1_repeat=True)}:5:7", "--methods",
                               "average", "--skip-bad"), c.s("root")), ("no usable subject among 2",)))
    add(C("prepare-dicom-studies-nothing-usable", "prepare", "a collection in which every study is broken",
          lambda c: (prep(c, f"dicom-studies:{_studies(c, p2_flair=False, p1_flair_shape=(16, 16, 8))}:5:7"),
                     c.s("root")), ("no usable subject among 2",)))
    add(C("prepare-dicom-studies-strict", "prepare", "--strict and a study with missing slices",
          lambda c: (prep(c, f"dicom-studies:{_studies(c, p2_drop=[2, 3])}:5:7", "--strict"),
                     c.s("root/site/P2/t1ce")), ("subject P2", "missing slices")))
    add(C("prepare-dicom-studies-tumour", "prepare", "a dicom-studies: spec with --slices tumour",
          lambda c: (prep(c, f"dicom-studies:{_studies(c)}:5:7", "--slices", "tumour"), None),
          ("needs a segmentation",)))
    add(C("prepare-dicom-studies", "prepare", "a dicom-studies: collection of two studies (must work)",
          lambda c: (prep(c, f"dicom-studies:{_studies(c)}:T1 post:7"), None), code=0,
          check=_check_prepared_subjects("P1", "P2")))
    return cases


def _check_prepared_subjects(*ids: str) -> Callable[[Ctx], None]:
    def check(c: Ctx) -> None:
        import json

        manifest = json.loads((c.p("prep") / "manifest.json").read_text())
        assert [s["id"] for s in manifest["subjects"]] == list(ids), manifest["subjects"]

    return check


CASES: list[Case] = (_cases() + _dicom_cases() + _interpretability_cases() + _dicom_interpretability_cases()
                     + _dicom_studies_cases())
