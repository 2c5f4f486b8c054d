"""Optional native kernels: the full-resolution coupling subnets fused into one pass, forward and backward.

``fused_subnet.c`` is compiled with the system C compiler the first time it is needed (well under a
second) into a per-user cache, ``$FUSIONINN_CACHE_DIR`` or ``~/.cache/fusioninn``, keyed by the
source, the compiler command and the CPU; later runs load the cached library. Without a compiler, or
with ``FUSIONINN_NATIVE=0``, :func:`available` is False and callers keep PyTorch's convolutions — the
results are the same to float rounding either way (docs/performance.md has the measured speed).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

__all__ = ["available", "fused_subnet", "fused_subnet_backward", "set_enabled", "library_path"]

_SOURCE = Path(__file__).with_name("fused_subnet.c")
_FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fno-math-errno", "-shared", "-fPIC", "-std=c11"]
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
_enabled = os.environ.get("FUSIONINN_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (0, 0)


def set_enabled(enabled: bool) -> None:
    """Switch the native kernel on or off for this process (benchmarks, tests)."""
    global _enabled
    _enabled = bool(enabled)


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_signature() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def library_path() -> Path | None:
    """Where the compiled kernel for this source, compiler and CPU lives (None without a compiler)."""
    cc = _compiler()
    if cc is None:
        return None
    key = hashlib.sha256()
    for part in (_SOURCE.read_bytes(), cc.encode(), " ".join(_FLAGS).encode(), platform.machine().encode(),
                 _cpu_signature().encode()):
        key.update(part)
        key.update(b"\0")
    cache = Path(os.environ.get("FUSIONINN_CACHE_DIR") or Path.home() / ".cache" / "fusioninn")
    return cache / f"fused_subnet-{key.hexdigest()[:16]}.so"


def _temporary_path(path: Path) -> Path:
    """Fallback when the cache folder is not writable: a private folder for this process."""
    return Path(tempfile.mkdtemp(prefix="fusioninn-native-")) / path.name


def _build(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        subprocess.run([_compiler(), *_FLAGS, "-o", tmp, str(_SOURCE)], check=True, capture_output=True,
                       timeout=120)
        os.replace(tmp, path)  # atomic: a concurrent process sees the old state or the whole library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load() -> ctypes.CDLL | None:
    global _lib, _tried
    if _tried:  # called for every subnet: no lock once settled
        return _lib
    with _lock:
        if _tried:
            return _lib
        _tried = True
        try:
            path = library_path()
            if path is None:
                return None
            if not path.exists():
                try:
                    _build(path)
                except OSError:
                    path = _temporary_path(path)
                    _build(path)
            lib = ctypes.CDLL(str(path))
            fn = lib.fusioninn_fused_subnet
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 5 + [ctypes.c_void_p] * 4 \
                + [ctypes.c_int] * 3
            bwd = lib.fusioninn_fused_subnet_backward
            bwd.restype = ctypes.c_int
            bwd.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 5 + [ctypes.c_void_p] * 4
            _lib = lib
        except (OSError, subprocess.SubprocessError, AttributeError):
            _lib = None  # no usable compiler or library: PyTorch's convolutions are used instead
        return _lib


def available() -> bool:
    """True if the native kernel is enabled and compiled (compiling it now if needed)."""
    return _enabled and _load() is not None


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_key
    key = (threads, os.getpid())  # a forked child inherits the pool object but not its threads
    if _pool is None or _pool_key != key:
        if _pool is not None and _pool_key[1] == os.getpid():
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fusioninn-native")
        _pool_key = key
    return _pool


def fused_subnet(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                 out_relu: bool = False) -> torch.Tensor:
    """``conv2d(relu(conv2d(x, w1, b1, padding=1)), w2, b2, padding=1)`` [then ReLU] for a one-channel
    float32 CPU batch ``x`` (N, 1, H, W), ``w1`` (C, 1, 3, 3) and ``w2`` (2, C, 3, 3): (N, 2, H, W).

    Splits the batch (or, for fewer images than threads, the rows) over ``torch.get_num_threads()``
    threads; ctypes releases the GIL during each call. Call only when :func:`available` is True.
    """
    lib = _load()
    if lib is None:
        raise RuntimeError("the native kernel is not available")
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
                          w2: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gradients of :func:`fused_subnet` (without the final ReLU) for ``grad_out`` (N, 2, H, W):
    ``(grad_x, grad_w1, grad_b1, grad_w2, grad_b2)``. Recomputes the hidden map in cache instead of
    reading a stored one; the batch is split by images over ``torch.get_num_threads()`` threads, each
    summing its own weight gradients."""
    lib = _load()
    if lib is None:
        raise RuntimeError("the native kernel is not available")
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
