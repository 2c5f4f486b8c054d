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
