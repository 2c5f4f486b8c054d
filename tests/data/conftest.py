"""Small NIfTI subjects written to a temporary folder (TorchIO style)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SMALL = (96, 96, 32)
SEED = 10  # subjects SEED and SEED + 1 both have slices with >= 50 tumour pixels at this size


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory) -> Path:
    """Two small phantom subjects in BraTS 2018-2021 naming (read-only for tests: copy before editing)."""
    from fusioninn.data.phantom import write_phantom_subjects

    root = tmp_path_factory.mktemp("brats")
    write_phantom_subjects(root, cases=2, seed=SEED, shape=SMALL, sequences=("t1", "t1ce", "t2", "flair"))
    return root


@pytest.fixture(scope="session")
def four_subjects(tmp_path_factory) -> Path:
    """Four small phantom subjects (read-only: copy with scale_helpers.writable_copy before editing)."""
    from fusioninn.data.phantom import write_phantom_subjects

    from .scale_helpers import SEED as S
    from .scale_helpers import SHAPE as SH

    root = tmp_path_factory.mktemp("four")
    write_phantom_subjects(root, cases=4, seed=S, shape=SH, sequences=("t1", "t1ce", "t2", "flair"))
    return root
