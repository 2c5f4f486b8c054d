"""Slice datasets: streaming gives the in-memory path's slices in its order; rank shares; lazy sources."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from fusioninn.data.brats import read_brats
from fusioninn.data.dataset import (
    ArrayDataset,
    EpochBatchSampler,
    H5Dataset,
    PhantomDataset,
    ShardDataset,
    make_loader,
    open_slices,
)
from fusioninn.data.hdf5 import read_h5, write_h5
from fusioninn.data.phantom import phantom_slices
from fusioninn.data.prepared import prepare
from fusioninn.data.spec import load_pairs

from .scale_helpers import copies


@pytest.fixture(scope="module")
def prepared_four(four_subjects, tmp_path_factory):
    return prepare(four_subjects, tmp_path_factory.mktemp("p4") / "prep", progress=False)


def _epoch_batches(ds, seed, epoch, batch, rank=0, world=1, workers=0):
    sampler = EpochBatchSampler(len(ds), batch, seed, rank, world)
    sampler.set_epoch(epoch)
    return [b.clone() for b in make_loader(ds, sampler, workers)]


def test_streaming_gives_the_same_slices_in_the_same_order_as_in_memory(four_subjects, prepared_four):
    memory = open_slices(str(four_subjects), split="train", seed=3)  # no cache: read into memory
    stream = open_slices(str(prepared_four.folder), split="train", seed=3, progress=False)
    assert memory.in_memory and not stream.in_memory
    assert stream.subject_ids == memory.subject_ids and len(stream) > 10
    np.testing.assert_array_equal(stream.slice_index, memory.slice_index)
    for epoch in (0, 1):
        a = _epoch_batches(memory, seed=5, epoch=epoch, batch=4)
        b = _epoch_batches(stream, seed=5, epoch=epoch, batch=4, workers=2)
        assert len(a) == len(b) == -(-len(memory) // 4)
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    # the order is the trainer's: randperm from (seed, epoch), the same for every kind of dataset
    order = torch.randperm(len(memory), generator=torch.Generator().manual_seed(5 * 1_000_003 + 1))
    torch.testing.assert_close(a[0], torch.from_numpy(memory.images[order[:4].numpy()]), rtol=0, atol=0)
    # and different epochs differ
    assert not torch.equal(_epoch_batches(stream, 5, 0, 4)[0], _epoch_batches(stream, 5, 1, 4)[0])


def test_each_rank_reads_only_its_share_and_the_shares_make_the_single_process_batch(prepared_four):
    ds = ShardDataset(prepared_four)
    whole = _epoch_batches(ds, seed=2, epoch=3, batch=5)
    shares = [_epoch_batches(ds, seed=2, epoch=3, batch=5, rank=r, world=2) for r in (0, 1)]
    for k, batch in enumerate(whole):
        a, b = shares[0][k], shares[1][k]
        assert abs(len(a) - len(b)) <= 1
        torch.testing.assert_close(torch.cat([a, b]), batch, rtol=0, atol=0)
    sampler = EpochBatchSampler(len(ds), 5, 2, 1, 2)
    sampler.set_epoch(3, start_step=2)  # resuming mid-epoch skips the batches already trained on
    full = EpochBatchSampler(len(ds), 5, 2, 1, 2)
    full.set_epoch(3)
    assert list(sampler) == list(full)[2:]


def test_a_shard_dataset_holds_an_index_not_the_collection(four_subjects, tmp_path):
    small = ShardDataset(prepare(four_subjects, tmp_path / "p4", progress=False))
    src32 = copies(four_subjects, tmp_path / "src32", 32)
    big = ShardDataset(prepare(src32, tmp_path / "p32", workers=2, progress=False))
    assert len(big) == 8 * len(small)
    # what a loader worker receives (and what the dataset holds) is the index: bytes per slice, not
    # the ~74 kB of a 96 x 96 slice pair
    per_slice = len(pickle.dumps(big)) / len(big)
    assert per_slice < 0.01 * (2 * 96 * 96 * 4)
    for _ in make_loader(big, EpochBatchSampler(len(big), 16, 0), 0):
        assert len(big._maps) <= big.max_open  # old maps are closed: a long epoch keeps a few mapped
    assert len(big._maps) == big.max_open


def test_lazy_phantom_equals_the_generated_array():
    lazy = open_slices("phantom:7:3", size=(32, 32), in_memory_bytes=0)
    assert isinstance(lazy, PhantomDataset)
    ref = phantom_slices(7, seed=3, size=(32, 32))
    np.testing.assert_array_equal(lazy.read(range(7)), ref.images)
    np.testing.assert_array_equal(lazy.read([5, 1]), ref.images[[5, 1]])
    memory = open_slices("phantom:7:3", size=(32, 32))
    assert isinstance(memory, ArrayDataset)
    assert memory.subject_ids == lazy.subject_ids
    sub = lazy.split("val", 0.3, seed=1)
    assert sub.subject_ids == memory.split("val", 0.3, seed=1).subject_ids


@pytest.mark.parametrize("scale", [1.0, 700.0])  # in [0, 1] as stored, or raw values renormalised per slice
def test_lazy_hdf5_equals_read_h5_also_in_a_worker(tmp_path, scale):
    rng = np.random.default_rng(0)
    data = (rng.random((9, 4, 16, 16)) * scale).astype(np.float32)
    path = write_h5(tmp_path / "s.h5", data, subject_ids=[f"s{i // 3}" for i in range(9)],
                    slice_index=np.arange(9, dtype=np.int32))
    lazy = open_slices(str(path), in_memory_bytes=0)
    assert isinstance(lazy, H5Dataset)
    ref = read_h5(path)
    np.testing.assert_allclose(lazy.read(range(9)), ref.images, rtol=0, atol=1e-7)
    assert lazy.subject_ids == ref.subject_ids
    batches = list(make_loader(lazy, EpochBatchSampler(9, 4, 0, shuffle=False), workers=1))
    np.testing.assert_allclose(torch.cat(batches).numpy(), ref.images, rtol=0, atol=1e-7)


def test_pairs_spec_goes_through_the_same_interface(tmp_path):
    from fusioninn.data.pairs import write_image

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        for k in range(3):
            write_image(tmp_path / d / f"x{k}.png", np.random.default_rng(k).random((10, 12)))
    spec = f"pairs:{tmp_path / 'a'}:{tmp_path / 'b'}"
    ds = open_slices(spec)
    ref = load_pairs(spec)
    np.testing.assert_array_equal(np.concatenate(list(ds.batches(2))), ref.images)
    assert ds.meta["file_names"] == ref.meta["file_names"]


def test_in_memory_folder_equals_read_brats(four_subjects):
    ds = open_slices(str(four_subjects), slices="all")
    ss = read_brats(four_subjects, slices="all")
    np.testing.assert_array_equal(np.concatenate(list(ds.batches(16))), ss.images)
