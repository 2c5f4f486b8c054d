"""Grid-frequency power and decomposition R² (fusioninn.metrics.grid, .decomposition_r2)."""

import numpy as np
import pytest
from scipy import ndimage

from fusioninn.metrics.decomposition_r2 import decomposition_r2, pooled_r2, r2_parts
from fusioninn.metrics.grid import GRID_POWER_FLOOR, grid_amplitude, grid_coefficients, grid_power_ratio, grid_scores


def _smooth(seed=0, size=64):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((size, size)), 3.0)
    return (x - x.min()) / (x.max() - x.min())


def test_coefficients_equal_the_dft_bins_where_the_border_is_zero():
    img = np.zeros((24, 30))
    img[3:-3, 4:-4] = np.random.default_rng(1).random((18, 22))  # a zero border, as on brain slices
    spec = np.fft.fft2(img) / img.size
    c = grid_coefficients(img)
    n_ratio = img.size / ((24 - 2) * (30 - 2))  # the filtered mean runs over the valid interior
    assert c[0] == pytest.approx(spec[12, 15].real * n_ratio, abs=1e-12)  # (pi, pi)
    assert c[1] == pytest.approx(spec[12, 0].real * n_ratio, abs=1e-12)  # (pi, 0): rows alternate
    assert c[2] == pytest.approx(spec[0, 15].real * n_ratio, abs=1e-12)  # (0, pi)


def test_a_ramp_leaks_into_the_raw_bin_but_not_into_the_coefficients():
    ramp = np.add.outer(np.linspace(0, 0.5, 64), np.linspace(0, 0.5, 64))
    raw = abs((np.fft.fft2(ramp) / ramp.size)[32, 0])
    assert 255 * raw > 0.5  # the wrap-round edge of a non-periodic image
    assert 255 * grid_amplitude(ramp) < 1e-9


def test_a_known_checkerboard_has_its_amplitude_in_grey_levels():
    base = _smooth()
    i, j = np.indices(base.shape)
    pattern = 0.5 / 255 * (-1.0) ** (i + j) + 0.25 / 255 * (-1.0) ** i
    fused = np.clip(0.25 + 0.5 * base, 0, 1) + pattern
    smooth_part = 255 * grid_amplitude(np.clip(0.25 + 0.5 * base, 0, 1))
    assert smooth_part < 0.01  # a smooth image has (almost) no grid power
    assert 255 * grid_amplitude(fused) == pytest.approx(np.hypot(0.5, 0.25), abs=0.01)
    s = grid_scores(base, base, fused)
    assert s["grid_rms"] == pytest.approx(np.hypot(0.5, 0.25), abs=0.01)
    assert s["grid_ratio"] > 100  # far more than either source


def test_ratio_is_relative_to_the_stronger_source_and_floored():
    a = _smooth(2)
    i, j = np.indices(a.shape)
    b = np.clip(a + 2.0 / 255 * (-1.0) ** (i + j), 0, 1)
    # the fused image is the first source: its grid is tiny compared with b's
    assert grid_power_ratio(a, b, a) < 0.01
    assert grid_power_ratio(b, a, b) == pytest.approx(1.0)
    flat = np.full((16, 16), 0.5)
    assert grid_power_ratio(flat, flat, flat) == 0.0
    checker = flat + 0.001 / 255 * (-1.0) ** np.indices((16, 16)).sum(0)
    assert grid_power_ratio(flat, flat, checker) == pytest.approx(1.0, rel=1e-6)
    assert GRID_POWER_FLOOR == pytest.approx((1e-3 / 255) ** 2)


def test_r2_is_one_for_a_perfect_decomposition_and_zero_for_returning_the_fused_image():
    x, fused = _smooth(3), _smooth(4)
    assert decomposition_r2(x, x, fused) == 1.0
    assert decomposition_r2(x, fused, fused) == pytest.approx(0.0)
    halfway = 0.5 * (x + fused)
    assert decomposition_r2(x, halfway, fused) == pytest.approx(0.75)  # error is a quarter of the gap
    assert decomposition_r2(x, np.clip(2 * fused - x, 0, 1), fused) < 0  # worse than the fused image


def test_pooled_r2_weighs_pixels_not_images():
    x1, f1 = _smooth(5), _smooth(6)
    x2 = _smooth(7)
    f2 = np.clip(x2 + 0.001, 0, 1)  # a tiny gap: its per-image R² is extreme, its pooled weight small
    d1, d2 = 0.5 * (x1 + f1), np.clip(x2 + 0.01, 0, 1)
    parts = [r2_parts(x1, d1, f1), r2_parts(x2, d2, f2)]
    assert decomposition_r2(x2, d2, f2) < -50
    err, gap = parts[0][0] + parts[1][0], parts[0][1] + parts[1][1]
    assert pooled_r2(parts) == pytest.approx(1 - err / gap)
    assert pooled_r2([]) == 1.0
