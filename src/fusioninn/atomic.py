"""Atomic file writes: a temporary file in the target folder, fsync, then rename.

A reader never sees a half-written output, and a killed process leaves either the old file or the new
one, plus at most a stray ``.tmp-<stem>-<pid>-*`` file that the next successful write of the same target
removes (once that pid is gone).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .errors import UserInputError

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_with",
    "check_output_folder",
    "ensure_writable_dir",
    "output_group",
]


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
    check_output_folder(target)
    suffix = "".join(target.suffixes) or ""
    prefix = _tmp_prefix(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix, dir=parent)
    except OSError as err:
        raise UserInputError(f"cannot write here ({err.strerror})", target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode an ordinary write would have
        os.chmod(tmp, _mode_for(target))
        is_new = not target.exists()
        os.replace(tmp, target)
        group = _GROUP.get()
        if group is not None and is_new:
            group.append(target)
        _fsync_dir(parent)
        _remove_stale_temps(parent, prefix)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, UserInputError):
            raise
        raise UserInputError(f"could not write ({err.strerror or err})", target) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success fsync its files and rename it to ``target``.

    For outputs that are a folder of files (a DICOM series): the folder appears whole or not at all.
    ``target`` must not exist, or be an empty folder (replaced by the rename).
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    check_output_folder(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "a file" if not target.is_dir() else "a folder that is not empty"
        raise UserInputError(f"is {what}; a series is written to a new (or empty) folder", target)
    prefix = _tmp_prefix(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    except OSError as err:
        raise UserInputError(f"cannot write here ({err.strerror})", target) from None
    try:
        yield tmp
        for entry in sorted(tmp.iterdir()):
            with open(entry, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o777 & ~_UMASK)
        _fsync_path(tmp)
        is_new = not target.exists()
        os.replace(tmp, target)
        group = _GROUP.get()
        if group is not None and is_new:
            group.append(target)
        _fsync_dir(parent)
        _remove_stale_temps(parent, prefix)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, UserInputError):
            raise
        raise UserInputError(f"could not write ({err.strerror or err})", target) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_path(path: Path) -> None:
    """fsync a folder, letting errors through (a full disk must fail the write)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_folder(target: str | Path) -> None:
    """Raise :class:`UserInputError` naming the folder unless ``target``'s folder exists and is a folder."""
    parent = Path(target).parent if str(Path(target).parent) else Path(".")
    if parent.is_dir():
        return
    # the nearest existing ancestor tells a missing folder from a path through a regular file
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserInputError("is a file, not a folder: cannot write below it", probe)
    raise UserInputError("output folder does not exist", parent)


@contextlib.contextmanager
def output_group() -> Iterator[list[Path]]:
    """All or nothing for the files one command writes: if the block raises (bad input found late, a
    full disk on the third output, Ctrl-C), the files it newly created through :func:`atomic_path` are
    removed again. Files that existed before keep their complete new content.
    """
    created: list[Path] = []
    token = _GROUP.set(created)
    try:
        yield created
    except BaseException:
        for path in created:
            if path.is_dir() and not path.is_symlink():  # a series folder from atomic_dir
                shutil.rmtree(path, ignore_errors=True)
                continue
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    finally:
        _GROUP.reset(token)


_GROUP: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("fusioninn_output_group", default=None)


def _tmp_prefix(target: Path) -> str:
    return f".tmp-{target.stem[:40]}-"


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777  # keep the mode of the file we replace
    except OSError:
        return 0o666 & ~_UMASK


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def _remove_stale_temps(folder: Path, prefix: str) -> None:
    """Remove temporary files of the same target left by killed processes (their pid is in the name)."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            pid_text = entry.name[len(prefix):].split("-", 1)[0]
            if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
                continue
            if entry.is_dir(follow_symlinks=False):  # a series folder of atomic_dir
                shutil.rmtree(entry.path, ignore_errors=True)
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


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
