"""Shared fixtures: seeded RNGs, one thread, the sample-data location."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brats-samples"
ORACLE = Path(__file__).resolve().parents[1].parent / "shared" / "oracle"

torch.set_num_threads(int(os.environ.get("FUSIONINN_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"sample data not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture
def oracle_dir() -> Path:
    if not ORACLE.is_dir():
        pytest.skip(f"oracle not found at {ORACLE}")
    return ORACLE
