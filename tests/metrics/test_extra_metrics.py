"""SCD, CC, Nabf and MS-SSIM against independent computations and their reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fusioninn.errors import UserInputError
from fusioninn.metrics import compute
from fusioninn.metrics.nabf import nabf_kumar


def _smooth(seed: int, shape=(64, 64), sigma=2.0) -> np.ndarray:
    x = ndimage.gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return np.round((x - x.min()) / (x.max() - x.min()) * 255.0)


def test_scd_and_cc_against_numpy_corrcoef():
    a, b = _smooth(1), _smooth(2)
    f = np.round(0.6 * a + 0.4 * b)
    r = compute(a.astype(np.uint8), b.astype(np.uint8), f.astype(np.uint8), ["scd@tang", "cc@tang"])

    def corr(x, y):
        return np.corrcoef(x.ravel(), y.ravel())[0, 1]

    assert r["scd@tang"] == pytest.approx(corr(f - b, a) + corr(f - a, b), abs=1e-12)
    assert r["cc@tang"] == pytest.approx((corr(a, f) + corr(b, f)) / 2, abs=1e-12)


def test_scd_of_the_sum_is_two_and_constants_are_defined():
    a, b = _smooth(3) / 2, _smooth(4) / 2
    f = a + b
    assert compute(a / 255, b / 255, f / 255, "scd@tang")["scd@tang"] == pytest.approx(2.0, abs=1e-12)
    z = np.zeros((16, 16), np.uint8)
    assert compute(z, z, z, ["scd@tang", "cc@tang", "nabf@kumar"]) == {
        "scd@tang": 0.0, "cc@tang": 0.0, "nabf@kumar": 0.0
    }


def _nabf_loops(f, a, b):
    """Kumar's objective_fusion_perform_fn.m transliterated pixel by pixel (NABF output only)."""
    vt = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8.0
    ht = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]) / 8.0

    def sobel(x):
        p, q = x.shape
        ext = np.zeros((p + 2, q + 2))
        ext[1:-1, 1:-1] = x
        ext[0, :] = ext[2, :]
        ext[-1, :] = ext[-3, :]
        ext[:, 0] = ext[:, 2]
        ext[:, -1] = ext[:, -3]
        gv, gh = np.zeros((p, q)), np.zeros((p, q))
        for i in range(p):
            for j in range(q):
                w = ext[i : i + 3, j : j + 3]
                gv[i, j], gh[i, j] = (w * vt).sum(), (w * ht).sum()
        return gv, gh

    (gva, gha), (gvb, ghb), (gvf, ghf) = sobel(a), sobel(b), sobel(f)
    ga, gb, gf = np.hypot(gha, gva), np.hypot(ghb, gvb), np.hypot(ghf, gvf)
    num = den = 0.0
    for i in range(f.shape[0]):
        for j in range(f.shape[1]):
            qs, ws = [], []
            for g, gv, gh in ((ga[i, j], gva[i, j], gha[i, j]), (gb[i, j], gvb[i, j], ghb[i, j])):
                if g == 0 or gf[i, j] == 0:
                    r = 0.0
                else:
                    r = min(g, gf[i, j]) / max(g, gf[i, j])
                def ang(v, h):
                    if v == 0 and h == 0:
                        return 0.0
                    return np.pi / 2 * np.sign(v) if h == 0 else np.arctan(v / h)
                o = abs(abs(ang(gv, gh) - ang(gvf[i, j], ghf[i, j])) - np.pi / 2) * 2 / np.pi
                qg = 0.9999 / (1 + np.exp(-19 * (r - 0.5)))
                qa = 0.9995 / (1 + np.exp(-22 * (o - 0.5)))
                qs.append(np.sqrt(qg * qa))
                ws.append(g**1.5 if g >= 2 else 0.001)
            if gf[i, j] > ga[i, j] and gf[i, j] > gb[i, j]:
                num += (1 - qs[0]) * ws[0] + (1 - qs[1]) * ws[1]
            den += ws[0] + ws[1]
    return num / den


def test_nabf_against_a_pixel_loop_port_and_tangs_argument_order():
    a, b = _smooth(5, (20, 23), 1.0), _smooth(6, (20, 23), 1.0)
    f = np.clip(np.round(a * 0.5 + b * 0.5 + np.random.default_rng(7).normal(0, 12, a.shape)), 0, 255)
    r = compute(a / 255, b / 255, f / 255, ["nabf@kumar", "nabf@tang"])
    assert r["nabf@kumar"] == pytest.approx(_nabf_loops(f, a, b), abs=1e-12)
    assert r["nabf@tang"] == pytest.approx(_nabf_loops(a, b, f), abs=1e-12)  # analysis_nabf(img1, img2, F)
    assert r["nabf@kumar"] > 0
    assert nabf_kumar(a, b, a) == 0.0  # a fused image equal to a source adds no edges


def test_ms_ssim_matches_pytorch_msssim():
    torch = pytest.importorskip("torch")
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    for shape in ((240, 240), (171, 203)):  # odd sides exercise the padded pooling
        a, b = _smooth(8, shape), _smooth(9, shape)
        f = np.round(0.5 * a + 0.5 * b)
        got = compute(*(x.astype(np.uint8) for x in (a, b, f)), "ms_ssim@pytorch_msssim")["ms_ssim@pytorch_msssim"]
        want = np.mean([
            float(pytorch_msssim.ms_ssim(torch.from_numpy(s)[None, None], torch.from_numpy(f)[None, None],
                                         data_range=255))
            for s in (a, b)
        ])
        assert got == pytest.approx(want, abs=1e-12)


def test_ms_ssim_needs_sides_over_160():
    x = np.zeros((160, 200), np.uint8)
    with pytest.raises(UserInputError, match="larger than 160"):
        compute(x, x, x, "ms_ssim@pytorch_msssim")


def test_vifb_en_sd_equal_ours_on_grey_images():
    a, b = _smooth(10).astype(np.uint8), _smooth(11).astype(np.uint8)
    f = ((a.astype(float) + b) / 2).round().astype(np.uint8)
    r = compute(a, b, f, ["en@vifb", "en@shannon", "sd@vifb", "sd@fusioninn"])
    assert r["en@vifb"] == pytest.approx(r["en@shannon"], abs=1e-12)
    assert r["sd@vifb"] == pytest.approx(r["sd@fusioninn"], abs=1e-12)
