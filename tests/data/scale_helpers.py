"""Small phantom BraTS collections for the streaming tests: 4 subjects written once, larger ones as
hard-linked copies under new subject ids (benchmarks/data_scale.py builds its collections with these too)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SHAPE = (96, 96, 32)
SEED = 10  # subjects 10..13 all have slices with >= 50 tumour pixels at this size


def copies(base: Path, out: Path, n: int) -> Path:
    """``n`` subjects in ``out``: the subjects of ``base`` over and over under ids ``<id>-cNN``."""
    out.mkdir(parents=True)
    subjects = sorted(p for p in base.iterdir() if p.is_dir())
    for i in range(n):
        src = subjects[i % len(subjects)]
        sid = f"{src.name}-c{i // len(subjects):02d}"
        (out / sid).mkdir()
        for f in src.glob("*.nii*"):
            os.link(f, out / sid / (sid + f.name[len(src.name):]))
    return out


def writable_copy(base: Path, out: Path) -> Path:
    """A real copy (not links) of a collection, for tests that change files."""
    shutil.copytree(base, out)
    return out
