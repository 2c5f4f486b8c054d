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


@pytest.fixture(scope="module")
def perturbed_model_path(tmp_path_factory) -> str:
    """A small fast-recipe FusionINN with ActNorm initialised and weights moved off the identity start
    (so fusing does more than interleave), saved once per test module."""
    from fusioninn.api import save_model
    from fusioninn.models import FusionINN, FusionINNConfig

    torch.manual_seed(0)
    model = FusionINN(FusionINNConfig.fast())
    model.initialise_actnorm(torch.rand(2, 2, 16, 16))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.02 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("m") / "model.safetensors"
    save_model(model, path)
    return str(path)
