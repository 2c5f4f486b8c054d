"""Optional native kernels: the full-resolution coupling subnets fused into one pass, forward and backward.

``fused_subnet.c`` is compiled with the system C compiler the first time it is needed (well under a
second) into a per-user cache, ``$FUSIONINN_CACHE_DIR`` or ``~/.cache/fusioninn``, keyed by the source,
the flags, the compiler (path and ``--version``), the CPU, torch and Python. The library's SHA-256 is
recorded beside it at build time and checked before every load: a replaced or damaged file is rebuilt,
never loaded. Before first use the kernels are checked against ``conv2d`` and autograd on a tiny input.

When anything fails the model keeps PyTorch's convolutions (same results to float rounding; speed in
docs/performance.md): no compiler, or ``FUSIONINN_NATIVE=0``, falls back silently; a failed build or
self-test warns once with the reason (the compiler's first error line). :func:`status` (and
``fusioninn info``) says which case holds and why.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

__all__ = ["available", "status", "fused_subnet", "fused_subnet_backward", "library_path"]

_SOURCE = Path(__file__).with_name("fused_subnet.c")
_FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-shared", "-fPIC", "-std=c11"]
_lock = threading.Lock()
_pool_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
_status: dict = {"state": "not loaded yet", "reason": "the kernels are compiled and loaded at first use"}
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (0, 0)


def _enabled() -> bool:
    return os.environ.get("FUSIONINN_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@functools.cache
def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_signature() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def library_path() -> Path | None:
    """Where the compiled kernel for this source, compiler, CPU, torch and Python lives (None without a
    compiler)."""
    cc = _compiler()
    if cc is None:
        return None
    key = hashlib.sha256()
    for part in (_SOURCE.read_bytes(), cc, _compiler_version(cc), " ".join(_FLAGS), platform.machine(),
                 _cpu_signature(), torch.__version__, sys.version):
        key.update(part if isinstance(part, bytes) else part.encode())
        key.update(b"\0")
    cache = Path(os.environ.get("FUSIONINN_CACHE_DIR") or Path.home() / ".cache" / "fusioninn")
    return cache / f"fused_subnet-{key.hexdigest()[:16]}.so"


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _BuildError(Exception):
    """The compiler refused the source; the message is its first error line."""


def _build(path: Path) -> None:
    """Compile into ``path`` (atomically: a concurrent process sees the old state or the whole library)
    and record the library's SHA-256 beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        out = subprocess.run([_compiler(), *_FLAGS, "-o", tmp, str(_SOURCE)], capture_output=True, text=True,
                             timeout=120, check=False)
        if out.returncode != 0:
            lines = [ln.strip() for ln in (out.stderr or out.stdout).splitlines() if ln.strip()]
            first = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
            raise _BuildError(first or f"compiler exit status {out.returncode}")
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        Path(tmp + ".sha256").write_text(digest + "\n")  # a temporary, renamed into place below
        os.replace(tmp + ".sha256", _digest_path(path))
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp + ".sha256"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _verified(path: Path) -> bool:
    """The library at ``path`` is the one we built (its recorded SHA-256 matches)."""
    try:
        return path.is_file() and _digest_path(path).read_text().strip() == _sha256(path)
    except OSError:
        return False


def _bind(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    fn = lib.fusioninn_fused_subnet
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 5 + [ctypes.c_void_p] * 4 + [ctypes.c_int] * 3
    bwd = lib.fusioninn_fused_subnet_backward
    bwd.restype = ctypes.c_int
    bwd.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 5 + [ctypes.c_void_p] * 4
    return lib


def _self_test(lib: ctypes.CDLL) -> str | None:
    """Forward and backward against ``conv2d`` and autograd on a tiny input; None if they agree.

    Runs with autograd whatever context the first caller is in: ``no_grad``, ``inference_mode``, or inside
    a checkpointed block, whose saved-tensor hooks would otherwise recompute that block (and wait on this
    very lock) when the self-test's own backward unpacks its tensors: identity hooks take precedence."""
    with torch.inference_mode(False), torch.enable_grad(), \
            torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        return _compare_with_torch(lib)


def _compare_with_torch(lib: ctypes.CDLL) -> str | None:
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 5, 7, generator=g, dtype=torch.float64)
    w1, b1 = torch.randn(3, 1, 3, 3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    w2, b2 = torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)
    params = [t.requires_grad_() for t in (x, w1, b1, w2, b2)]
    ref = F.conv2d(F.relu(F.conv2d(x, w1, b1, padding=1)), w2, b2, padding=1)
    grad_out = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    expected = torch.autograd.grad(ref, params, grad_out)
    f32 = [t.detach().float() for t in (x, w1, b1, w2, b2)]
    got, ref = fused_subnet(*f32, False, lib=lib).double(), ref.detach()
    if not torch.allclose(got, ref, rtol=0, atol=1e-4):
        return f"forward differs from conv2d by {float((got - ref).abs().max()):.2g}"
    grads = fused_subnet_backward(f32[0], grad_out.float(), *f32[1:4], lib=lib)
    for name, a, b in zip(("x", "w1", "b1", "w2", "b2"), grads, expected, strict=True):
        if not torch.allclose(a.double(), b, rtol=0, atol=1e-4 * max(1.0, float(b.abs().max()))):
            return f"backward ({name}) differs from autograd"
    return None


def _refused(state: str, reason: str, warn: bool = True, **extra: str) -> None:
    """Record why the kernels are not used; warn once (the caller settles once per process)."""
    global _status
    _status = {"state": state, "reason": reason, **extra}
    if warn:
        warnings.warn(f"fusioninn: native subnet kernel {state}: {reason} -- using PyTorch's (slower) "
                      "convolutions; FUSIONINN_NATIVE=0 silences this", RuntimeWarning, stacklevel=5)


def _settle() -> ctypes.CDLL | None:
    """Find, build or rebuild, load and self-test the library; record why when it is not used."""
    global _status
    cc, path = _compiler(), library_path()
    if not _enabled():
        return _refused("disabled", "FUSIONINN_NATIVE=0 in the environment", warn=False)
    if cc is None or path is None:
        return _refused("no compiler", "no C compiler found ($CC, cc, gcc, clang); PyTorch's convolutions are "
                        "used", warn=False)
    compiler = f"{cc} ({_compiler_version(cc) or 'version unknown'})"
    try:
        if not _verified(path):  # missing, or replaced since we built it: build again, never load it
            try:
                _build(path)
            except OSError:  # cache folder not writable: a private folder for this process
                path = Path(tempfile.mkdtemp(prefix="fusioninn-native-")) / path.name
                _build(path)
        lib = _bind(path)
        problem = _self_test(lib)
    except _BuildError as err:
        return _refused("build failed", str(err), compiler=compiler)
    except (OSError, subprocess.SubprocessError, AttributeError) as err:
        return _refused("load failed", f"{type(err).__name__}: {err}", compiler=compiler)
    if problem:
        return _refused("self-test failed", problem, compiler=compiler, library=str(path))
    _status = {"state": "loaded", "reason": "compiled, hash verified, self-test passed", "compiler": compiler,
               "library": str(path)}
    return lib


def _load() -> ctypes.CDLL | None:
    global _lib, _tried
    if _tried:  # called for every subnet: no lock once settled
        return _lib
    with _lock:
        if not _tried:
            _lib = _settle()
            _tried = True
        return _lib


def available() -> bool:
    """True if the native kernel is enabled, compiled and self-tested (compiling it now if needed)."""
    return _load() is not None


def status() -> dict:
    """``{"state", "reason"[, "compiler", "library"]}``: whether the kernels are used and why (settles them
    first: compiles and tests on the first call)."""
    _load()
    return dict(_status)


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_key
    key = (threads, os.getpid())  # a forked child inherits the pool object but not its threads
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key[1] == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fusioninn-native")
            _pool_key = key
        return _pool


def _require() -> ctypes.CDLL:
    lib = _load()
    if lib is None:
        raise RuntimeError(f"the native kernel is not available: {_status['reason']}")
    return lib


def fused_subnet(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                 out_relu: bool = False, lib: ctypes.CDLL | None = None) -> torch.Tensor:
    """``conv2d(relu(conv2d(x, w1, b1, padding=1)), w2, b2, padding=1)`` [then ReLU] for a one-channel
    float32 CPU batch ``x`` (N, 1, H, W), ``w1`` (C, 1, 3, 3) and ``w2`` (2, C, 3, 3): (N, 2, H, W).

    Splits the batch (or, for fewer images than threads, the rows) over ``torch.get_num_threads()``
    threads; ctypes releases the GIL during each call. Call only when :func:`available` is True.
    """
    lib = lib or _require()
    n, c_in, height, width = x.shape
    channels = w1.shape[0]
    if c_in != 1 or tuple(w1.shape) != (channels, 1, 3, 3) or tuple(w2.shape) != (2, channels, 3, 3):
        raise ValueError(f"unsupported shapes x {tuple(x.shape)}, w1 {tuple(w1.shape)}, w2 {tuple(w2.shape)}")
    tensors = [t.detach().to(torch.float32).contiguous() for t in (x, w1, b1, w2, b2)]
    x, w1, b1, w2, b2 = tensors
    out = torch.empty(n, 2, height, width, dtype=torch.float32)
    fn = lib.fusioninn_fused_subnet
    ptrs = [t.data_ptr() for t in (w1, b1, w2, b2)]

    def run(n0: int, n1: int, y0: int, y1: int) -> int:
        return fn(x.data_ptr(), out.data_ptr(), n0, n1, height, width, channels, *ptrs, int(out_relu), y0, y1)

    threads = max(1, min(torch.get_num_threads(), n * height))
    if threads == 1:
        pieces = [(0, n, 0, height)]
    elif n >= threads:
        pieces = [(n * i // threads, n * (i + 1) // threads, 0, height) for i in range(threads)]
    else:  # fewer images than threads: each image's rows in strips
        strips = -(-threads // n)
        pieces = [(i, i + 1, height * s // strips, height * (s + 1) // strips) for i in range(n) for s in range(strips)]
    if len(pieces) == 1:
        codes = [run(*pieces[0])]
    else:
        codes = list(_executor(threads).map(lambda p: run(*p), pieces))
    if any(codes):
        raise MemoryError("the native subnet kernel could not allocate its row buffers")
    # keep the inputs alive until every piece has run (they are referenced by raw pointers)
    del tensors
    return out


def fused_subnet_backward(x: torch.Tensor, grad_out: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor,
                          w2: torch.Tensor, lib: ctypes.CDLL | None = None) -> tuple[torch.Tensor, ...]:
    """Gradients of :func:`fused_subnet` (without the final ReLU) for ``grad_out`` (N, 2, H, W):
    ``(grad_x, grad_w1, grad_b1, grad_w2, grad_b2)``. Recomputes the hidden map in cache instead of
    reading a stored one; the batch is split by images over ``torch.get_num_threads()`` threads, each
    summing its own weight gradients."""
    lib = lib or _require()
    n, _, height, width = x.shape
    channels = w1.shape[0]
    if tuple(grad_out.shape) != (n, 2, height, width) or tuple(w2.shape) != (2, channels, 3, 3):
        raise ValueError(f"unsupported shapes x {tuple(x.shape)}, grad {tuple(grad_out.shape)}, w2 {tuple(w2.shape)}")
    tensors = [t.detach().to(torch.float32).contiguous() for t in (x, grad_out, w1, b1, w2)]
    x, grad_out, w1, b1, w2 = tensors
    grad_x = torch.empty(n, 1, height, width, dtype=torch.float32)
    threads = max(1, min(torch.get_num_threads(), n))
    sizes = [channels * 9, channels, 2 * channels * 9, 2]
    grads = torch.zeros(threads, sum(sizes), dtype=torch.float32)
    fn = lib.fusioninn_fused_subnet_backward

    def run(i: int) -> int:
        n0, n1 = n * i // threads, n * (i + 1) // threads
        return fn(x.data_ptr(), grad_out.data_ptr(), grad_x.data_ptr(), n0, n1, height, width, channels,
                  w1.data_ptr(), b1.data_ptr(), w2.data_ptr(), grads[i].data_ptr())

    codes = [run(0)] if threads == 1 else list(_executor(threads).map(run, range(threads)))
    if any(codes):
        raise MemoryError("the native subnet kernel could not allocate its row buffers")
    del tensors
    gw1, gb1, gw2, gb2 = grads.sum(0).split(sizes)
    return grad_x, gw1.view(channels, 1, 3, 3), gb1, gw2.view(2, channels, 3, 3), gb2
