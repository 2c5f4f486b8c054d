"""The validation layer for what a user hands a command: files (before a reader opens them) and command
line options (as argparse types). Every problem becomes one :class:`~fusioninn.errors.UserInputError`
line naming the file or the option; nothing here reads array contents (the array-level checks --
shape, dtype, finite values, range -- live with the readers and the models).
"""

from __future__ import annotations

import argparse
import math
import os
import stat
from pathlib import Path

from .errors import DataError

__all__ = [
    "check_regular_file",
    "positive_int",
    "non_negative_int",
    "seed_int",
    "positive_float",
    "non_negative_float",
    "fraction",
    "MAX_SEED",
]

MAX_SEED = 2**32 - 1  # numpy's seed range (torch's is wider); one range for every --seed


def check_regular_file(path: str | Path, what: str = "file", directory_hint: str | None = None) -> Path:
    """Refuse, naming ``path``, anything a reader should not open: missing, a symbolic-link loop or a
    dangling link, a directory, a FIFO / device / socket (reading ``/dev/zero`` or a pipe never ends or
    blocks), unreadable. ``what`` names the expected kind in the messages ("image file", ...)."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.lexists(p):
            raise DataError("is a broken symbolic link (its target does not exist)", p) from None
        raise DataError("file not found", p) from None
    except OSError as err:
        if err.errno == 40:  # ELOOP
            raise DataError("is a symbolic link loop", p) from None
        if err.errno == 20:  # ENOTDIR: a path through a regular file
            raise DataError("file not found (a folder in this path is a file)", p) from None
        raise DataError(f"cannot read ({err.strerror})", p) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(directory_hint or f"is a directory, expected a {what}", p)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise DataError(f"is {kind}, expected a {what}", p)
    if not os.access(p, os.R_OK):
        raise DataError("cannot read (permission denied)", p)
    return p


# --------------------------------------------------------------------------------------------------
# argparse types: the message argparse prints is "argument --x: <ours>", one line, exit code 2
def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def seed_int(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be between 0 and {MAX_SEED}, got {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


def non_negative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
    return value


def fraction(text: str) -> float:
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value:g}")
    return value
