"""Perturbations of a saved fused image (fusioninn.perturb): the evaluation side and the training side."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from fusioninn.errors import UserInputError
from fusioninn.perturb import FusedPerturbation, jpeg_like, jpeg_quant_table, parse_perturbations, perturb_fused


def _images(n=2, size=48, seed=0):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((n, 2, size, size)), (0, 0, 2, 2))
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def test_parse_the_issue_list_and_refuse_bad_names():
    ps = parse_perturbations("jpeg95,jpeg85,blur0.5,shift0.5,noise1")
    assert [(p.name, p.kind, p.value) for p in ps] == [
        ("jpeg95", "jpeg", 95), ("jpeg85", "jpeg", 85), ("blur0.5", "blur", 0.5), ("shift0.5", "shift", 0.5),
        ("noise1", "noise", 1.0)]
    assert parse_perturbations(None) == [] and parse_perturbations("png")[0].kind == "png"
    for bad in ("jpeg", "jpeg101", "gif3", "shift2", "png3", "blur0.5,blur0.5", ""):
        with pytest.raises(UserInputError, match="--perturb"):
            parse_perturbations(bad)


def test_png_is_8bit_rounding_and_jpeg_is_a_real_jpeg():
    x = _images()
    fused = x.mean(1)
    png, src = perturb_fused(fused, x, parse_perturbations("png")[0])
    assert np.array_equal(png * 255, np.floor(fused * 255 + 0.5)) and np.array_equal(src, x)
    j95, _ = perturb_fused(fused, x, parse_perturbations("jpeg95")[0])
    j50, _ = perturb_fused(fused, x, parse_perturbations("jpeg50")[0])
    e95, e50 = np.abs(j95 - png).mean(), np.abs(j50 - png).mean()
    assert 0 < e95 < e50 < 0.02  # lossy, and lossier at lower quality
    assert np.array_equal(j95 * 255, np.round(j95 * 255))  # saved as 8-bit again


def test_shift_moves_the_sources_too_and_blur_removes_the_checkerboard():
    x = _images()
    i, j = np.indices(x.shape[2:])
    fused = np.clip(x.mean(1) + 4 / 255 * (-1.0) ** (i + j), 0, 1)
    shifted, src = perturb_fused(fused, x, parse_perturbations("shift0.5")[0])
    # at s = 0.5 bilinear resampling averages 2x2 blocks: the same operation on the sources
    want = 0.25 * (x[..., 1:, 1:] + x[..., :-1, 1:] + x[..., 1:, :-1] + x[..., :-1, :-1])
    assert np.allclose(src[..., 1:, 1:], want, atol=1e-6)
    assert np.abs(shifted[:, 1:, 1:] - x.mean(1)[:, 1:, 1:] * 0 - want.mean(1)).max() < 2.5 / 255
    blurred, src_b = perturb_fused(fused, x, parse_perturbations("blur1")[0])
    from fusioninn.metrics.grid import grid_amplitude

    assert np.array_equal(src_b, x)
    assert 255 * grid_amplitude(blurred[0]) < 0.1 < 255 * grid_amplitude(fused[0])


def test_noise_is_seeded():
    x = _images()
    p = parse_perturbations("noise2")[0]
    a, _ = perturb_fused(x.mean(1), x, p, seed=3)
    b, _ = perturb_fused(x.mean(1), x, p, seed=3)
    c, _ = perturb_fused(x.mean(1), x, p, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 1.5 / 255 < np.std(a - np.floor(x.mean(1) * 255 + 0.5) / 255) < 2.5 / 255


def test_quant_table_follows_libjpeg_scaling():
    assert jpeg_quant_table(50)[0, 0] == 16 and jpeg_quant_table(100).max() == 1
    assert jpeg_quant_table(95)[0, 0] == 2 and jpeg_quant_table(10)[7, 7] == 255


def test_jpeg_like_is_close_to_a_real_jpeg_and_passes_gradients():
    x = _images(1, 64)
    f8 = np.floor(x.mean(1) * 255 + 0.5) / 255
    real, _ = perturb_fused(f8, x, parse_perturbations("jpeg75")[0])
    t = torch.tensor(f8[:, None], dtype=torch.float64, requires_grad=True)
    ours = jpeg_like(t, 75)
    gap_real = np.abs(real - f8).mean()
    assert np.abs(ours.detach().numpy()[:, 0] - real).mean() < 0.5 * gap_real  # closer to libjpeg than to no-op
    ours.sum().backward()
    assert torch.allclose(t.grad, torch.ones_like(t.grad), atol=1e-6)  # straight-through: identity gradient
    odd = jpeg_like(torch.rand(2, 1, 30, 22), torch.tensor([90.0, 60.0]))
    assert odd.shape == (2, 1, 30, 22) and 0 <= odd.min() and odd.max() <= 1


def test_training_perturbation_shares_and_kinds():
    torch.manual_seed(0)
    f = torch.rand(64, 1, 24, 24, requires_grad=True)
    out = FusedPerturbation(kinds=("blur",), share=0.5)(f)
    changed = (out - f).flatten(1).abs().amax(1) > 1e-6
    assert 16 < int(changed.sum()) < 48  # about half
    out.sum().backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()
    assert torch.equal(FusedPerturbation(share=0.0)(f), f)
    for kind in ("jpeg", "shift", "noise"):
        o = FusedPerturbation(kinds=(kind,), share=1.0)(f.detach())
        assert o.shape == f.shape and (o != f.detach()).any(), kind
    with pytest.raises(ValueError):
        FusedPerturbation.from_spec("jpeg,gif")
    with pytest.raises(ValueError):
        FusedPerturbation(share=1.5)


def test_training_spec_takes_strength_ranges():
    p = FusedPerturbation.from_spec("jpeg:85-95,blur:0.4-0.8,shift:0.25-0.5,noise:1", share=1.0)
    assert p.kinds == ("jpeg", "blur", "shift", "noise")
    assert p.jpeg_quality == (85, 95) and p.blur_sigma == (0.4, 0.8) and p.shift == (0.25, 0.5)
    assert p.noise == (1.0, 1.0) and p.share == 1.0
    for bad in ("blur:0.8-0.4", "jpeg:0-95", "shift:0.2-0.7", "blur:x", "gif:1-2"):
        with pytest.raises(ValueError):
            FusedPerturbation.from_spec(bad)
