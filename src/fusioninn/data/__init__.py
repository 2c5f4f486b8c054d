"""Data: the synthetic phantom and readers for the formats users bring.

- :mod:`.phantom` — the synthetic brain-tumour phantom (2-D slices, 3-D BraTS-layout subjects);
- :mod:`.brats` — BraTS 2018–2021 / 2023 subject folders → normalised slice pairs, with a cache;
- :mod:`.hdf5` — the original FusionINN HDF5 layout and our export;
- :mod:`.pairs` — 2-D images (PNG/TIFF/JPEG/GIF/.npy), folder pairs, colour (YCbCr) and padding;
- :mod:`.volume` — NIfTI volumes: canonical orientation, per-slice normalisation and back;
- :mod:`.spec` — one data-spec string for every command: :func:`load_pairs` (everything in memory);
- :mod:`.prepared` — ``prepare``: a BraTS collection decoded once into checksummed per-subject shards;
- :mod:`.dataset` — :func:`open_slices`: any data spec as a ``torch.utils.data.Dataset`` read lazily
  (shards, phantom, HDF5), the epoch/rank batch sampler and the DataLoader (imports torch, on first use).

Nothing here imports models, training or the command line.
"""

from __future__ import annotations

from .brats import SliceSet, read_brats
from .hdf5 import read_h5, write_h5
from .pairs import ImageData, read_image, read_pairs, to_colour, write_image
from .phantom import PhantomSlices, phantom_slices, phantom_subject, write_phantom_subjects
from .spec import PairSet, load_pairs, parse_pair, split_subjects
from .volume import (
    Volume,
    axial_slices,
    check_same_grid,
    denormalise_slices,
    from_axial_slices,
    normalise_slices,
    read_volume,
    write_volume,
)

# torch-backed pieces load on first use, so that decoding workers and `import fusioninn.data` stay light
_LAZY = {
    "ArrayDataset": ".dataset", "EpochBatchSampler": ".dataset", "ShardDataset": ".dataset",
    "SliceDataset": ".dataset", "make_loader": ".dataset", "open_slices": ".dataset",
    "PrepareOptions": ".prepared", "open_prepared": ".prepared", "prepare": ".prepared",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ArrayDataset",
    "EpochBatchSampler",
    "PrepareOptions",
    "ShardDataset",
    "SliceDataset",
    "make_loader",
    "open_prepared",
    "open_slices",
    "prepare",
    "ImageData",
    "PairSet",
    "PhantomSlices",
    "SliceSet",
    "Volume",
    "axial_slices",
    "check_same_grid",
    "denormalise_slices",
    "from_axial_slices",
    "load_pairs",
    "normalise_slices",
    "parse_pair",
    "phantom_slices",
    "phantom_subject",
    "read_brats",
    "read_h5",
    "read_image",
    "read_pairs",
    "read_volume",
    "split_subjects",
    "to_colour",
    "write_h5",
    "write_image",
    "write_phantom_subjects",
    "write_volume",
]
