"""The `reference` protocol against the MATLAB toolbox values stored in ../shared/oracle (run under Octave)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fusioninn.metrics import compute_all, q_fmi, q_ncie, q_p, q_ssim, q_xy

TOL = 1e-4  # the issue asks for 1e-3 and aims at 1e-4; we agree to ~1e-13


def _cases(oracle_dir):
    expected = json.loads((oracle_dir / "expected.json").read_text())
    for case, values in sorted(expected.items()):
        images = [np.array(Image.open(oracle_dir / "cases" / case / f"{n}.png")) for n in ("a", "b", "fused")]
        yield case, images, values


def test_oracle_has_cases(oracle_dir):
    assert len(list(_cases(oracle_dir))) >= 2


@pytest.mark.parametrize(
    ("key", "fn"),
    [("ssim_index_centre", q_ssim), ("fmi", q_fmi), ("ncie", q_ncie), ("qabf", q_xy), ("piella", q_p)],
)
def test_reference_matches_matlab(oracle_dir, key, fn):
    for case, (a, b, f), values in _cases(oracle_dir):
        got = fn(a, b, f, protocol="reference")
        assert got == pytest.approx(values[key], abs=TOL), f"{case} {key}"


def test_fmi_exact_reading_of_constant_windows(oracle_dir):
    for case, (a, b, f), values in _cases(oracle_dir):
        got = q_fmi(a, b, f, protocol="reference", constant_windows="zero")
        assert got == pytest.approx(values["fmi_if_constant_window_terms_are_zero"], abs=TOL), case


def test_full_ssim_equals_valid_window_ssim_of_oracle(oracle_dir):
    # The oracle notes list the whole-image SSIM computed with filter2 'valid' on 8-bit images (L=255);
    # SSIM on x/255 with data range 1 is the same number.
    for case, (a, b, f), values in _cases(oracle_dir):
        assert q_ssim(a, b, f) == pytest.approx(values["full_image"]["ssim_wang_filter2_valid"], abs=1e-6), case


def test_compute_all_reference_uses_reference_values(oracle_dir):
    for case, (a, b, f), values in _cases(oracle_dir):
        got = compute_all(a, b, f, protocol="reference")
        assert got["q_fmi"] == pytest.approx(values["fmi"], abs=TOL), case
        assert got["q_xy"] == pytest.approx(values["qabf"], abs=TOL), case
        assert got["q_p"] == pytest.approx(values["piella"], abs=TOL), case
        assert got["q_ssim"] == pytest.approx(values["ssim_index_centre"], abs=TOL), case
        assert got["q_ncie"] == pytest.approx(values["ncie"], abs=TOL), case


def test_float_input_quantised_like_png(oracle_dir):
    # A float image that is exactly k/255 must give the same scores as its 8-bit PNG.
    for case, (a, b, f), _ in _cases(oracle_dir):
        as_u8 = compute_all(a, b, f, protocol="reference")
        as_float = compute_all(a / 255.0, b / 255.0, f / 255.0, protocol="reference")
        for key, value in as_u8.items():
            assert as_float[key] == pytest.approx(value, abs=1e-12), f"{case} {key}"
