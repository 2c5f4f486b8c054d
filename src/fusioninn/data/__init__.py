"""Data: the synthetic phantom and readers for the formats users bring (BraTS NIfTI, HDF5, image pairs).

Nothing here imports models, training or the command line.
"""

from __future__ import annotations

from .phantom import PhantomSlices, phantom_slices, phantom_subject, write_phantom_subjects

__all__ = ["PhantomSlices", "phantom_slices", "phantom_subject", "write_phantom_subjects"]
