"""Atomic file writes, all-or-nothing output groups, and the guard that keeps outputs off inputs.

Writes. :func:`atomic_path` gives a temporary file in the target's folder; on success it is fsynced and
renamed onto the target. A reader never sees a half-written output, and a killed process leaves either
the old file or the new one, plus at most a stray ``.tmp-<stem>-<pid>-*`` file that the next successful
write of the same target removes (once that pid is gone).

Groups. Every command runs inside one :func:`output_group` (``fusioninn.cli.main`` opens it): if the
command fails or is interrupted (SIGINT, SIGTERM), the files and folders it newly created are removed and
files it replaced get their previous content back, so a failed command leaves the disk as it found it.

Guard. :func:`guard_outputs` refuses, before anything is computed, an output that is one of the
command's inputs (same resolved path, or the same file under another name: inode and device) or two
outputs onto one file. Every file a reader opens inside a group is also noted (:func:`note_input`), and
:func:`atomic_path` refuses to replace one of them: the last line of defence for paths no command
listed.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from .errors import UserInputError

__all__ = [
    "OutputGroup",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_with",
    "check_output_folder",
    "ensure_writable_dir",
    "guard_outputs",
    "note_created",
    "note_input",
    "output_group",
    "same_file",
]


class OutputGroup(list):
    """The files one command newly created (a list of paths), plus the folders it created, the previous
    content of files it replaced, and the files it read (which it must never write over)."""

    def __init__(self) -> None:
        super().__init__()
        self.dirs: list[Path] = []
        self.backups: dict[str, tuple[Path, Path]] = {}  # target -> (target, backup of its old content)
        self.inputs: list[tuple[Path, tuple[int, int] | None]] = []
        self.folders_written: set[Path] = set()  # where this process may have left a temporary file
        self.emptied: list[Path] = []  # empty folders that atomic_dir replaced by a series folder
        self.kept = False

    def keep(self) -> None:
        """Keep what was written even if the command fails from now on (e.g. a resumable checkpoint)."""
        self.kept = True

    def _rollback(self) -> None:
        for target, backup in reversed(list(self.backups.values())):
            with contextlib.suppress(OSError):
                os.replace(backup, target)
        for path in reversed(list(self)):
            if str(path) in self.backups:
                continue  # just restored
            if Path(path).is_dir() and not Path(path).is_symlink():  # a whole folder written by atomic_dir
                shutil.rmtree(path, ignore_errors=True)
                continue
            with contextlib.suppress(OSError):
                Path(path).unlink()
        for folder in self.emptied:
            with contextlib.suppress(OSError):
                folder.mkdir()
        # a stop signal can land between creating a temporary file and the block that removes it
        for folder in self.folders_written | set(self.dirs):
            _remove_own_temps(folder)
        for folder in reversed(self.dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: never remove what someone else put there

    def _discard_backups(self) -> None:
        for _, backup in self.backups.values():
            with contextlib.suppress(OSError):
                backup.unlink()
        self.backups.clear()


_GROUP: contextvars.ContextVar[OutputGroup | None] = contextvars.ContextVar("fusioninn_output_group", default=None)


@contextlib.contextmanager
def output_group() -> Iterator[OutputGroup]:
    """All or nothing for the files one command writes: if the block raises (bad input found late, a
    full disk on the third output, Ctrl-C, SIGTERM), the files and folders it newly created through
    :func:`atomic_path` and :func:`ensure_writable_dir` are removed again, and files it replaced get their
    previous content back (a re-fuse whose latent write fails keeps the old fused file *and* latent).

    Nested calls join the group already open (the command line opens one around every command).
    """
    outer = _GROUP.get()
    if outer is not None:
        yield outer
        return
    group = OutputGroup()
    token = _GROUP.set(group)
    try:
        yield group
    except BaseException:
        if not group.kept:
            group._rollback()
        raise
    finally:
        _GROUP.reset(token)
        group._discard_backups()


# --------------------------------------------------------------------------------------------------
def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _resolved(path: str | Path) -> Path:
    try:
        return Path(os.path.abspath(path)).resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop: compare the literal absolute path
        return Path(os.path.abspath(path))


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file: same resolved path, or (both existing) same inode/device."""
    if _resolved(a) == _resolved(b):
        return True
    ia, ib = _identity(Path(a)), _identity(Path(b))
    return ia is not None and ia == ib


def note_input(path: str | Path | None) -> None:
    """Record that the running command reads ``path``: :func:`atomic_path` will refuse to replace it."""
    group = _GROUP.get()
    if group is None or path is None:
        return
    p = Path(path)
    group.inputs.append((_resolved(p), _identity(p)))


def note_created(path: str | Path) -> None:
    """Record a file the running command created outside :func:`atomic_path` (e.g. a lock file): it belongs
    to the running :func:`output_group` and is removed again if the command fails."""
    group = _GROUP.get()
    if group is not None:
        group.append(Path(path))


def guard_outputs(
    inputs: Iterable[str | Path | None],
    outputs: Iterable[tuple[str, str | Path | None]] | Iterable[str | Path | None],
) -> None:
    """Refuse (:class:`UserInputError`, naming the output) an output that is one of the inputs or two
    outputs that are one file. ``outputs`` holds paths, or ``(option, path)`` pairs so that the message
    can name the option that produced a duplicate (e.g. ``--names``)."""
    ins = [Path(p) for p in inputs if p is not None]
    outs: list[tuple[str, Path]] = []
    for item in outputs:
        if item is None:
            continue
        if isinstance(item, tuple):
            if item[1] is not None:
                outs.append((item[0], Path(item[1])))
        else:
            outs.append(("", Path(item)))
    for p in ins:
        note_input(p)
    for _, out in outs:
        for src in ins:
            if same_file(out, src):
                alias = "" if _resolved(out) == _resolved(src) else f" ({src}, under another name)"
                raise UserInputError(f"output is an input of this command{alias}: refusing to write over it "
                                     "(choose another output name)", out)
    for i, (opt, out) in enumerate(outs):
        for opt2, other in outs[:i]:
            if same_file(out, other):
                hint = f" (check {opt or opt2})" if (opt or opt2) else ""
                raise UserInputError(f"two outputs of this command would be written to this one file{hint}", out)


def _check_not_an_input(target: Path) -> None:
    group = _GROUP.get()
    if group is None or not group.inputs:
        return
    resolved, ident = _resolved(target), _identity(target)
    for path, src_ident in group.inputs:
        if resolved == path or (ident is not None and ident == src_ident):
            raise UserInputError("output is an input of this command: refusing to write over it", target)


# --------------------------------------------------------------------------------------------------
def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed and check that we can write there. Folders created here
    belong to the running :func:`output_group` (removed again if the command fails)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError("exists and is not a directory", path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():  # a dangling symlink: mkdir would fail with a confusing error
            raise UserInputError("is a broken symbolic link", probe)
        missing.append(probe)
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserInputError("cannot create output directory (Not a directory)", path)
    group = _GROUP.get()
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise UserInputError(f"cannot create output directory ({err.strerror})", path) from None
        if group is not None:
            group.dirs.append(folder)
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
    if target.is_dir():
        raise UserInputError("is a directory: cannot write a file there", target)
    _check_not_an_input(target)
    suffix = "".join(target.suffixes) or ""
    prefix = _tmp_prefix(target)
    group = _GROUP.get()
    if group is not None:
        group.folders_written.add(parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix, dir=parent)
    except OSError as err:
        raise UserInputError(f"cannot write here ({err.strerror})", target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    registered = False
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode an ordinary write would have
        os.chmod(tmp, _mode_for(target))
        is_new = not target.exists()
        if group is not None:
            # registered *before* the rename, so an interrupt right after it still finds the file
            if is_new and target not in group:
                group.append(target)
                registered = True
            elif not is_new and target not in group and str(target) not in group.backups:
                group.backups[str(target)] = (target, _backup(target, prefix, suffix))
        os.replace(tmp, target)
        _fsync_dir(parent)
        _remove_stale_temps(parent, prefix)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        _unregister(group, target, registered)
        if isinstance(err, UserInputError):
            raise
        raise UserInputError(f"could not write ({err.strerror or err})", target) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        if group is not None and registered and not target.exists():
            group.remove(target)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success fsync its files and rename it to ``target``.

    For outputs that are a folder of files (a DICOM series): the folder appears whole or not at all, and
    belongs to the running :func:`output_group` like a file. ``target`` must not exist, or be an empty
    folder (replaced by the rename; made again if the command then fails).
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    check_output_folder(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "a file" if not target.is_dir() else "a folder that is not empty"
        raise UserInputError(f"is {what}; a series is written to a new (or empty) folder", target)
    _check_not_an_input(target)
    prefix = _tmp_prefix(target)
    if _GROUP.get() is not None:
        _GROUP.get().folders_written.add(parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    except OSError as err:
        raise UserInputError(f"cannot write here ({err.strerror})", target) from None
    group = _GROUP.get()
    registered = False
    try:
        yield tmp
        for entry in sorted(tmp.iterdir()):
            with open(entry, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o777 & ~_UMASK)
        _fsync_path(tmp)  # errors count here: a full disk must fail the write
        was_empty_dir = target.is_dir()
        if group is not None and target not in group:
            group.append(target)  # before the rename, so an interrupt right after it still finds it
            registered = True
            if was_empty_dir:
                group.emptied.append(target)
        os.replace(tmp, target)
        _fsync_dir(parent)
        _remove_stale_temps(parent, prefix)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        _unregister_dir(group, target, registered)
        raise UserInputError(f"could not write ({err.strerror or err})", target) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _unregister_dir(group, target, registered)
        raise


def _unregister_dir(group: OutputGroup | None, target: Path, registered: bool) -> None:
    if group is None or not registered or target not in group:
        return
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):  # the rename did not happen
        group.remove(target)
        if target in group.emptied:
            group.emptied.remove(target)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unregister(group: OutputGroup | None, target: Path, registered: bool) -> None:
    if group is None:
        return
    if registered and target in group and not target.exists():
        group.remove(target)
    entry = group.backups.get(str(target))
    if entry is not None and not registered:
        # the rename did not happen: the old file is still in place, its backup is not needed
        with contextlib.suppress(OSError):
            if _identity(entry[1]) == _identity(target):
                entry[1].unlink()
                del group.backups[str(target)]


def _backup(target: Path, prefix: str, suffix: str) -> Path:
    """A second name for ``target``'s current content (a hard link; a copy where links are not
    possible), so the group can put it back if the command fails after replacing it."""
    fd, name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-bak-", suffix=suffix, dir=target.parent)
    os.close(fd)
    backup = Path(name)
    backup.unlink()
    try:
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
    return backup


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
            if entry.is_dir(follow_symlinks=False):  # a half-written series folder of atomic_dir
                shutil.rmtree(entry.path, ignore_errors=True)
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _remove_own_temps(folder: Path) -> None:
    """Remove this process's temporaries in a folder it created (before removing the folder)."""
    mark = f"-{os.getpid()}-"
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".tmp-") and mark in entry.name and f"{mark}bak-" not in entry.name:
                if entry.is_dir(follow_symlinks=False):  # a series folder being written (atomic_dir)
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
