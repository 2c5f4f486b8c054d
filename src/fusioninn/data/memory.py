"""Refuse inputs that cannot fit in memory *before* decoding them, with the size they would need.

Readers know an input's size from its header (NIfTI, PNG/TIFF, ``.npy``, HDF5) before they read the
samples. Decoding a file whose header claims 60000 x 60000 pixels would otherwise fail deep inside
numpy or zlib (or get the process killed by the kernel) instead of telling the user what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

__all__ = ["available_memory", "check_memory", "format_bytes"]


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``), or None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(needed: int, what: str, path: str | Path | None = None) -> None:
    """Raise :class:`DataError` when ``needed`` bytes exceed the memory available now.

    ``what`` describes the input, e.g. ``"volume of 512x512x400 voxels"``.
    """
    avail = available_memory()
    if avail is not None and needed > avail:
        raise DataError(
            f"{what} would need {format_bytes(needed)} of memory, only {format_bytes(avail)} available", path
        )
