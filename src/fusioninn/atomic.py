"""Atomic file writes: a temporary file in the target folder, fsync, then rename.

A reader never sees a half-written output, and a killed process leaves either the old file or the new
one, plus at most a stray ``.tmp-*`` file that the next write of the same target cleans up.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .errors import UserInputError

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "ensure_writable_dir"]


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed and check that we can write there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError("exists and is not a directory", path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserInputError(f"cannot create output directory ({err.strerror})", path) from None
    if not os.access(path, os.W_OK):
        raise UserInputError("output directory is not writable", path)
    return path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success fsync it and rename it onto ``target``.

    The temporary file keeps the target's suffix so libraries that pick a format by extension
    (Pillow, nibabel) still work.
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UserInputError("output folder does not exist", parent)
    suffix = "".join(target.suffixes) or ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{target.stem[:40]}-", suffix=suffix, dir=parent)
    except OSError as err:
        raise UserInputError(f"cannot write here ({err.strerror})", target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, UserInputError):
            raise
        raise UserInputError(f"could not write ({err.strerror or err})", target) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    return atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_with(target: str | Path, writer: Callable[[IO[bytes]], None]) -> Path:
    """Call ``writer(fh)`` on a binary handle to a temporary file, then move it onto ``target``."""
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        writer(fh)
    return Path(target)
