"""Shared intermediates within one ``compute`` call: the same numbers as each key computed alone."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fusioninn.metrics import compute, registry
from fusioninn.metrics._matlab import memo_arrays, memo_scope


def _img(seed: int, size: int = 176) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((size, size)), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    return (x * 255 * ((xx / 0.4) ** 2 + (yy / 0.45) ** 2 < 1)).round().astype(np.uint8)  # zero background


@pytest.mark.parametrize("colour", [False, True])
def test_all_equals_every_key_alone(colour):
    a, b = _img(1), _img(2)
    f = ((a.astype(float) + b) / 2).round().astype(np.uint8)
    if colour:  # colour fused image: aliases with different colour rules must not share a score
        a = np.stack([a, b, a], axis=-1)
        f = np.stack([f, a[..., 0], b], axis=-1)
    together = compute(a, b, f, "all")
    for key in registry.catalogue():
        alone = compute(a, b, f, [key])[key]
        assert together[key] == alone or (np.isnan(alone) and np.isnan(together[key])), key


def test_memo_shares_only_inside_a_scope_and_by_exact_content():
    calls = []

    @memo_arrays(maxsize=2)
    def double(x: np.ndarray, scale: float = 2.0) -> np.ndarray:
        calls.append(1)
        return x * scale

    x = np.arange(6.0).reshape(2, 3)
    double(x), double(x)
    assert len(calls) == 2  # no scope: no memo
    with memo_scope():
        double(x), double(x.copy()), double(x, 2.0), double(x, scale=2.0)
        assert len(calls) == 3  # one entry for equal content, positional or keyword
        double(x, 3.0), double(x.astype(np.float32))
        assert len(calls) == 5  # other argument, other dtype
        signed = np.zeros(3)
        double(signed), double(-signed)
        assert len(calls) == 7  # 0.0 and -0.0 differ in their bytes: not the same input
    double(x)
    assert len(calls) == 8  # leaving the scope forgets everything


def test_the_paper_names_are_the_variants_they_say():
    from fusioninn.metrics.paper import SAME_AS

    a, b = _img(5, 96), _img(6, 96)
    f = ((a.astype(float) + b) / 2).round().astype(np.uint8)
    full, reference = compute(a, b, f, "paper"), compute(a, b, f, "paper", protocol="reference")
    assert set(SAME_AS) == set(registry.PAPER_KEYS)
    for key, (full_key, reference_key) in SAME_AS.items():
        assert reference[key] == pytest.approx(compute(a, b, f, [reference_key])[reference_key], rel=1e-12), key
        if full_key is not None:
            assert full[key] == pytest.approx(compute(a, b, f, [full_key])[full_key], rel=1e-12), key
        assert (full_key or reference_key) in registry.get(key).note
