"""A faster execution of the SAME FusionINN network, reading the weights of the FrEIA modules in place.

Kumar et al., "FusionINN: Decomposable Image Fusion for Brain Tumor Monitoring", arXiv:2403.15769.
The network (ActNorm, GLOW coupling, permutation, iRevNet down-sampling, coupling, permutation, iRevNet
up-sampling, coupling, split) is computed here with plain tensor operations on the parameters that
:class:`~fusioninn.models.fusioninn.FusionINN` keeps in its FrEIA modules, so state dicts, checkpoints
and the optimiser see exactly the same tensors; FrEIA stays the owner of the weights layout. What changes:

* no FrEIA list wrapping and no log-determinants (FusionINN's losses never use them);
* the two halves of every coupling stay separate tensors, so splits, concatenations and the
  two-channel permutations cost no copies;
* iRevNet down/up-sampling by ``pixel_unshuffle``/``pixel_shuffle`` instead of a strided (transposed)
  convolution: FrEIA's kernel sends input channel c, pixel (i, j) of each 2x2 block to output channel
  4c + 2i + j, which is exactly ``pixel_unshuffle``'s order;
* the subnet convolutions run in the channels-last memory layout, which oneDNN executes 2-3x faster
  for these thin (1-4 channel) full-resolution convolutions on CPU;
* inference under ``torch.inference_mode``;
* the training loss computes the eleven SSIM moment maps of the fusion and decomposition terms in one
  separable filtering pass (the source moments are shared by both terms).

Every :class:`~fusioninn.models.fusioninn.FusionINNConfig` option is honoured (input logit space,
reverse input, output sigmoid/clamp, subnet output ReLU, widths, clamp, permutations). Results equal the
FrEIA path to float rounding (see ``tests/models/test_fast_path.py``).

Whole volumes go through :func:`fuse_volume` / :func:`decompose_volume` in slice batches, so memory is
bounded by the batch, not the volume.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..device import tune_cpu_allocator  # noqa: F401  (re-export)
from ..errors import UserInputError
from ..losses.fusion import LossWeights
from ..losses.gradient import max_gradient_loss
from ..losses.mmd import mmd_multiscale
from ..metrics.ssim import gaussian_window_1d
from . import native

if TYPE_CHECKING:  # annotations only, so fusioninn.py may import this module without a cycle
    from .fusioninn import FusionINN

__all__ = [
    "fast_forward",
    "fast_inverse",
    "fast_training_pass",
    "fast_loss",
    "fast_fuse",
    "fast_decompose",
    "fuse_volume",
    "decompose_volume",
    "set_channels_last",
    "set_inference_kernels",
    "tune_cpu_allocator",
]

Pair = tuple[torch.Tensor, torch.Tensor]

# FrEIA's "ATAN" soft clamp: s = clamp * 0.636 * atan(u) (FrEIA 0.2, coupling_layers.py).
_ATAN_FACTOR = 0.636

# Memory layout of the subnet convolutions; channels-last measured fastest on CPU (docs/performance.md).
_CHANNELS_LAST = True


def set_channels_last(enabled: bool) -> None:
    """Switch the channels-last layout of the subnet convolutions on or off (for benchmarking)."""
    global _CHANNELS_LAST
    _CHANNELS_LAST = bool(enabled)


# tune_cpu_allocator lives in fusioninn.device (metrics and data use it too); re-exported here.


# --------------------------------------------------------------------------------------------------
# Blocks


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the channels-last layout, also for one channel.

    PyTorch treats a one-channel NCHW tensor as ambiguous and keeps the convolution in NCHW, which then
    forces layout copies downstream; a (N, H, W, 1) view permuted to NCHW is unambiguously channels-last.
    """
    if t.shape[1] == 1:
        n, _, h, w = t.shape
        return t.reshape(n, h, w, 1).permute(0, 3, 1, 2)
    return t.contiguous(memory_format=torch.channels_last)


def _mkldnn_conv_relu_available() -> bool:
    try:
        x = torch.zeros(1, 1, 4, 4)
        torch.ops.mkldnn._convolution_pointwise(x, torch.zeros(2, 1, 3, 3), None, [1, 1], [1, 1], [1, 1], 1,
                                                "relu", [], "")
        return True
    except (RuntimeError, AttributeError):
        return False


_CONV_RELU = _mkldnn_conv_relu_available()
# Inference-only levers (no autograd graph): fused conv+ReLU and the tap-GEMM for thin outputs.
_INFERENCE_KERNELS = True
_CONTIGUOUS_COUPLING = True
# Training: the native forward + backward kernels for the full-resolution subnets (when compiled).
_NATIVE_TRAINING = True


def set_inference_kernels(enabled: bool) -> None:
    """Switch the inference-only kernels (fused conv+ReLU, tap-GEMM convolution) on or off (benchmarks)."""
    global _INFERENCE_KERNELS
    _INFERENCE_KERNELS = bool(enabled)


def _conv3x3_taps(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """3x3 convolution (zero padding 1) of a channels-last ``h`` with few output channels, as one GEMM.

    oneDNN vectorises a convolution over its output channels, so a 32 -> 2 convolution costs as much as
    a 32 -> 16 one. Here one GEMM maps the C input channels to the 9 x O tap planes (the long pixel axis
    in the vector lanes), and nine shifted additions sum the taps. Inference only.
    """
    n, c, height, width = h.shape
    o = w.shape[0]
    taps = torch.matmul(w.permute(2, 3, 0, 1).reshape(9 * o, c), h.permute(0, 2, 3, 1).reshape(n, height * width, c)
                        .transpose(1, 2)).view(n, 9, o, height, width)
    out = b.view(1, o, 1, 1).expand(n, o, height, width).clone()
    for ky in range(3):
        for kx in range(3):
            dy, dx = ky - 1, kx - 1
            y0, y1 = max(0, -dy), height - max(0, dy)
            x0, x1 = max(0, -dx), width - max(0, dx)
            out[:, :, y0:y1, x0:x1] += taps[:, 3 * ky + kx, :, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
    return out


class _NativeSubnet(torch.autograd.Function):
    """The full-resolution 1 -> C -> 2 subnet on the native kernels, forward and backward. Stores only the
    one-channel input (and the output, for a final ReLU): the backward kernel recomputes the hidden map."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, out_relu: bool):  # noqa: D102
        out = native.fused_subnet(x, w1, b1, w2, b2, out_relu)
        ctx.out_relu = out_relu
        ctx.save_for_backward(x, w1, b1, w2, out if out_relu else None)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        x, w1, b1, w2, out = ctx.saved_tensors
        if ctx.out_relu:
            grad_out = grad_out * (out > 0)
        gx, gw1, gb1, gw2, gb2 = native.fused_subnet_backward(x, grad_out, w1, b1, w2)
        return gx, gw1, gb1, gw2, gb2, None


def set_native_training(enabled: bool) -> None:
    """Switch the native kernels for training (forward + backward of the full-resolution subnets)."""
    global _NATIVE_TRAINING
    _NATIVE_TRAINING = bool(enabled)


def _subnet(seq: torch.nn.Module, x: torch.Tensor, out_relu: bool) -> torch.Tensor:
    """conv3x3 -> ReLU -> conv3x3 [-> ReLU], on the Sequential's own weights."""
    c1, c2 = seq[0], seq[2]
    on_cpu = x.device.type == "cpu" and x.dtype == torch.float32 and c1.weight.dtype == torch.float32
    thin = x.shape[1] == 1 and c2.weight.shape[0] == 2  # the full-resolution 1 -> C -> 2 subnets
    inference_on_cpu = _INFERENCE_KERNELS and torch.is_inference_mode_enabled() and on_cpu
    if inference_on_cpu and thin and native.available():
        # fused into one cache-resident pass (models/native)
        return native.fused_subnet(x, c1.weight, c1.bias, c2.weight, c2.bias, out_relu)
    if _NATIVE_TRAINING and torch.is_grad_enabled() and on_cpu and thin and native.available():
        return _NativeSubnet.apply(x, c1.weight, c1.bias, c2.weight, c2.bias, out_relu)
    if inference_on_cpu and _CHANNELS_LAST and _CONV_RELU:
        x = _channels_last(x)
        h = torch.ops.mkldnn._convolution_pointwise(x, _channels_last(c1.weight), c1.bias, [1, 1], [1, 1], [1, 1],
                                                    1, "relu", [], "")
        if c2.weight.shape[0] <= 2:  # measured faster only for the full-resolution 32 -> 2 case
            a = _conv3x3_taps(h, c2.weight, c2.bias)
        else:
            a = F.conv2d(h, _channels_last(c2.weight), c2.bias, padding=1)
        return F.relu_(a) if out_relu else a
    if _CHANNELS_LAST:
        x = _channels_last(x)
        w1 = _channels_last(c1.weight)
        w2 = _channels_last(c2.weight)
    else:
        w1, w2 = c1.weight, c2.weight
    # In-place ReLUs: a convolution's backward needs its input, not its output, so the output may be
    # overwritten; saves one full-resolution 32-channel allocation per subnet.
    h = F.relu_(F.conv2d(x, w1, c1.bias, padding=1))
    a = F.conv2d(h, w2, c2.bias, padding=1)
    return F.relu_(a) if out_relu else a


def _scale_shift(a: torch.Tensor, n: int, clamp: float) -> Pair:
    """Split subnet output into the soft-clamped log-scale s (first n channels) and the shift t."""
    # A channels-last output sliced by channel leaves a 4-element inner dimension, which the element-wise
    # kernels run unvectorised (atan 4x slower); one NCHW copy makes every slice contiguous per image.
    a = a.contiguous() if _CONTIGUOUS_COUPLING else a
    return clamp * (_ATAN_FACTOR * torch.atan(a[:, :n])), a[:, n:]


def _coupling_forward(block, x1: torch.Tensor, x2: torch.Tensor, out_relu: bool) -> Pair:
    """GLOW coupling (FrEIA ``GLOWCouplingBlock``), forward: y1 = e^s2(x2) x1 + t2(x2), then
    y2 = e^s1(y1) x2 + t1(y1) (Kingma & Dhariwal 2018; Dinh et al. 2017)."""
    s2, t2 = _scale_shift(_subnet(block.subnet2, x2, out_relu), block.split_len1, block.clamp)
    y1 = torch.exp(s2) * x1 + t2
    s1, t1 = _scale_shift(_subnet(block.subnet1, y1, out_relu), block.split_len2, block.clamp)
    y2 = torch.exp(s1) * x2 + t1
    return y1, y2


def _coupling_inverse(block, y1: torch.Tensor, y2: torch.Tensor, out_relu: bool) -> Pair:
    """Inverse of :func:`_coupling_forward`."""
    s1, t1 = _scale_shift(_subnet(block.subnet1, y1, out_relu), block.split_len2, block.clamp)
    x2 = (y2 - t1) * torch.exp(-s1)
    s2, t2 = _scale_shift(_subnet(block.subnet2, x2, out_relu), block.split_len1, block.clamp)
    x1 = (y1 - t2) * torch.exp(-s2)
    return x1, x2


def _coupling(model: FusionINN, block, a: torch.Tensor, b: torch.Tensor, inverse: bool) -> Pair:
    """One coupling block, forward or inverse. With ``model.memory_saving`` and autograd recording, the
    block is checkpointed: only its two input halves are kept for the backward pass, which recomputes the
    subnets' hidden maps (``torch.utils.checkpoint``) instead of storing them."""
    fn = _coupling_inverse if inverse else _coupling_forward
    relu = model.config.subnet_out_relu
    if model.memory_saving and torch.is_grad_enabled():
        return checkpoint(fn, block, a, b, relu, use_reentrant=False)
    return fn(block, a, b, relu)


def _permute_pair(pair: Pair, perm: torch.Tensor) -> Pair:
    """FrEIA ``PermuteRandom`` on two channels held as two one-channel tensors: no copy."""
    return (pair[0], pair[1]) if int(perm[0]) == 0 else (pair[1], pair[0])


def _permute_cat(pair: Pair, perm: torch.Tensor) -> torch.Tensor:
    return torch.cat(pair, 1).index_select(1, perm)


_STANDARD_KERNEL = torch.eye(4)  # FrEIA's iRevNet kernel, per input channel: 4 outputs x (2x2 block)


def _check_model(model: FusionINN) -> None:
    """The fast path assumes FrEIA's non-legacy iRevNet kernels and 2-channel stage-1 permutations."""
    ml = model.module_list
    for idx in (3, 6):
        k = ml[idx].downsample_kernel.detach().cpu().reshape(-1, 4, 4)
        if getattr(ml[idx], "legacy_backend", False) or not torch.equal(k, _STANDARD_KERNEL.expand_as(k)):
            raise ValueError(f"module_list.{idx}: unexpected iRevNet kernel; the fast path needs FrEIA's default")


# --------------------------------------------------------------------------------------------------
# Invertible core


def fast_forward(model: FusionINN, x: torch.Tensor) -> Pair:
    """Same as ``model.forward(x)``: ``(y_raw, z)``, each (N, 1, H, W), with the model's parameters.

    Initialises ActNorm from ``x`` on first use, as ``FusionINN.forward`` does.
    """
    model._check_input(x)
    if not model.actnorm_initialised:
        model.initialise_actnorm(x)
    _check_model(model)
    ml = model.module_list
    h = model._squeeze(x)
    an = ml[0]
    scale = an.scale.exp()
    # ActNorm, written per channel so the two halves are separate contiguous tensors from the start.
    a = h[:, 0:1] * scale[:, 0:1] + an.bias[:, 0:1]
    b = h[:, 1:2] * scale[:, 1:2] + an.bias[:, 1:2]
    a, b = _coupling(model, ml[1], a, b, inverse=False)
    a, b = _permute_pair((a, b), ml[2].perm)
    # iRevNet down-sampling of cat(a, b) = cat(unshuffle(a), unshuffle(b)); the 8-channel coupling splits
    # 4 / 4, i.e. exactly at that seam.
    a, b = F.pixel_unshuffle(a, 2), F.pixel_unshuffle(b, 2)
    a, b = _coupling(model, ml[4], a, b, inverse=False)
    h = _permute_cat((a, b), ml[5].perm)
    a, b = F.pixel_shuffle(h[:, :4], 2), F.pixel_shuffle(h[:, 4:], 2)
    y_raw, z = _coupling(model, ml[7], a, b, inverse=False)
    return y_raw, z


def fast_inverse(model: FusionINN, y_raw: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Same as ``model.inverse(y_raw, z)``: the exact inverse of :func:`fast_forward`."""
    if y_raw.shape != z.shape or y_raw.ndim != 4 or y_raw.shape[1] != 1:
        raise ValueError(
            f"y and z must both be (N, 1, H, W) of one shape, got {tuple(y_raw.shape)} and {tuple(z.shape)}"
        )
    if y_raw.shape[2] % 2 or y_raw.shape[3] % 2:
        raise ValueError(f"height and width must be even, got {y_raw.shape[2]}x{y_raw.shape[3]}")
    if not model.actnorm_initialised:
        raise RuntimeError("ActNorm is not initialised: run a forward pass or load weights first")
    _check_model(model)
    ml = model.module_list
    a, b = _coupling(model, ml[7], y_raw, z, inverse=True)
    h = _permute_cat((F.pixel_unshuffle(a, 2), F.pixel_unshuffle(b, 2)), ml[5].perm_inv)
    a, b = _coupling(model, ml[4], h[:, :4], h[:, 4:], inverse=True)
    a, b = F.pixel_shuffle(a, 2), F.pixel_shuffle(b, 2)
    a, b = _permute_pair((a, b), ml[2].perm_inv)
    a, b = _coupling(model, ml[1], a, b, inverse=True)
    an = ml[0]
    inv_scale = (-an.scale).exp()
    h = torch.cat([(a - an.bias[:, 0:1]) * inv_scale[:, 0:1], (b - an.bias[:, 1:2]) * inv_scale[:, 1:2]], 1)
    return model._unsqueeze(h)


def fast_training_pass(model: FusionINN, x: torch.Tensor, z_fresh: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Same as ``model.fused_and_decomposed_for_training(x, z_fresh)``: ``(fused, z, decomposed)``, on the
    fast path whatever ``model.use_fast_path`` says."""
    previous, model.use_fast_path = model.use_fast_path, True
    try:
        return model.fused_and_decomposed_for_training(x, z_fresh)
    finally:
        model.use_fast_path = previous


# --------------------------------------------------------------------------------------------------
# Loss


def _filter_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Valid separable Gaussian filtering of every channel of (N, C, H, W)."""
    c, k = x.shape[1], window.numel()
    out = F.conv2d(x, window.reshape(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(out, window.reshape(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def _ssim_pairs(x: torch.Tensor, fused: torch.Tensor, dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM per source of (fused vs x_i) and (dec_i vs x_i), from one filtering pass.

    Wang et al. (2004), IEEE TIP 13(4), doi:10.1109/TIP.2003.819861, with pytorch-msssim's conventions
    (11-tap Gaussian, sigma 1.5, K = (0.01, 0.03), data range 1, valid filtering), as
    :func:`fusioninn.metrics.ssim.ssim_map`. The moments of x are shared by both terms: 11 maps instead
    of 20. Returns two (2,) tensors, each averaged over the batch and windows.
    """
    window = gaussian_window_1d(11, 1.5, dtype=x.dtype, device=x.device)
    c1, c2 = 0.01**2, 0.03**2
    stacked = torch.cat([x, x * x, fused, fused * fused, fused * x, dec, dec * dec, dec * x], 1)
    # one split (one backward node) rather than eight slices, each of which would zero-fill a gradient
    mu_x, e_xx, mu_f, e_ff, e_fx, mu_d, e_dd, e_dx = _filter_valid(stacked, window).split([2, 2, 1, 1, 2, 2, 2, 2], 1)
    mu_xx = mu_x * mu_x
    var_x = e_xx - mu_xx

    def ssim_of(mu_p, e_pp, e_px):
        mu_pp, mu_px = mu_p * mu_p, mu_p * mu_x
        lum = (2 * mu_px + c1) / (mu_pp + mu_xx + c1)
        cs = (2 * (e_px - mu_px) + c2) / ((e_pp - mu_pp) + var_x + c2)
        return (lum * cs).flatten(2).mean(-1).mean(0)

    return ssim_of(mu_f, e_ff, e_fx), ssim_of(mu_d, e_dd, e_dx)


def fast_loss(x: torch.Tensor, fused: torch.Tensor, z: torch.Tensor, decomposed: torch.Tensor,
              weights: LossWeights | None = None, z_target: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, dict]:
    """Same as ``FusionINNLoss(weights)(x, fused, z, decomposed)`` (arXiv:2403.15769, Sec. 3).

    L = w_fwd (L_fusion + w_latent MMD(z, z_target)) + (1 - w_fwd) L_dec, with both SSIM terms from one
    filtering pass. ``z_target`` (N, H*W) defaults to a fresh ``torch.randn_like`` draw, taken at the
    same point of the random stream as :class:`~fusioninn.losses.FusionINNLoss` takes it.
    """
    w = weights or LossWeights()
    s_fus, s_dec = _ssim_pairs(x, fused, decomposed)
    mse_fus = ((fused - x) ** 2).flatten(2).mean(-1).mean(0)
    mse_dec = ((decomposed - x) ** 2).flatten(2).mean(-1).mean(0)
    a = torch.tensor([w.source_1, 1 - w.source_1], dtype=x.dtype, device=x.device)
    l_fus = w.ssim * (a * (1 - s_fus)).sum() + w.l2 * (a * mse_fus).sum()
    if w.gradient:
        l_fus = l_fus + w.gradient * max_gradient_loss(fused, x)
    l_dec = w.ssim * (a * (1 - s_dec)).sum() + w.l2 * (a * mse_dec).sum()
    zf = z.reshape(z.shape[0], -1)
    if w.latent:
        target = torch.randn_like(zf) if z_target is None else z_target
        l_lat = mmd_multiscale(zf, target, w.mmd_scales)
    else:
        l_lat = zf.new_zeros(())
    total = w.forward * (l_fus + w.latent * l_lat) + (1 - w.forward) * l_dec
    parts = {
        "loss": total.detach(),
        "fusion": l_fus.detach(),
        "latent": l_lat.detach(),
        "decomposition": l_dec.detach(),
        "fused_ssim": 0.5 * (s_fus[0] + s_fus[1]).detach(),
        "dec_ssim_1": s_dec[0].detach(),
        "dec_ssim_2": s_dec[1].detach(),
    }
    return total, parts


# --------------------------------------------------------------------------------------------------
# Inference


def fast_fuse(model: FusionINN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fuse a (N, 2, H, W) batch under ``inference_mode``: ``(fused, y_raw, z)``."""
    with torch.inference_mode():
        y_raw, z = fast_forward(model, x)
        return model.fused_image(y_raw), y_raw, z


def fast_decompose(model: FusionINN, fused: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Same as ``model.decompose_tensor(fused, z)`` under ``inference_mode``: (N, 2, H, W) in [0, 1]."""
    with torch.inference_mode():
        return model.output_map(fast_inverse(model, model.reverse_input(fused), z))


def _check_volume(vol: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(vol)
    if arr.ndim != 3:
        raise UserInputError(f"expected an (H, W, D) volume, got shape {arr.shape}", name)
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserInputError(f"expected float values in [0, 1], got dtype {arr.dtype}", name)
    return arr


def _slice_batches(depth: int, batch_slices: int):
    if batch_slices < 1:
        raise ValueError(f"batch_slices must be >= 1, got {batch_slices}")
    for start in range(0, depth, batch_slices):
        yield start, min(start + batch_slices, depth)


def _to_slices(vol: np.ndarray, start: int, stop: int) -> torch.Tensor:
    """Axial slices start..stop of an (H, W, D) array as a (n, 1, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(vol[:, :, start:stop], 2, 0), dtype=np.float32))[:, None]


def fuse_volume(model: FusionINN, vol1: np.ndarray, vol2: np.ndarray, batch_slices: int = 16,
                progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fuse two co-registered (H, W, D) volumes slice by slice, ``batch_slices`` axial slices at a time.

    Values must already be normalised per slice to [0, 1] (as the published recipe does). Returns the
    fused volume (H, W, D) float32 in [0, 1] and the latent (H, W, D, 2) float32 = [z, y_raw] per voxel
    (see :class:`~fusioninn.models.fusioninn.Latent`), which :func:`decompose_volume` inverts exactly.
    Peak memory is bounded by one batch of slices plus the output arrays.
    """
    v1, v2 = _check_volume(vol1, "vol1"), _check_volume(vol2, "vol2")
    if v1.shape != v2.shape:
        raise UserInputError(f"the two volumes differ in shape: {v1.shape} vs {v2.shape}", "vol2")
    h, w, d = v1.shape
    if h % 2 or w % 2:
        raise UserInputError(f"slice height and width must be even, got {h}x{w}", "vol1")
    for name, v in (("vol1", v1), ("vol2", v2)):
        if not np.isfinite(v).all():
            raise UserInputError("contains NaN or Inf", name)
        if v.min() < 0 or v.max() > 1:
            raise UserInputError("values must be normalised to [0, 1] per slice", name)
    dev = next(model.parameters()).device
    fused = np.empty((h, w, d), np.float32)
    latent = np.empty((h, w, d, 2), np.float32)
    for start, stop in _slice_batches(d, batch_slices):
        x = torch.cat([_to_slices(v1, start, stop), _to_slices(v2, start, stop)], 1).to(dev)
        f, y_raw, z = fast_fuse(model, x)
        fused[:, :, start:stop] = np.moveaxis(f[:, 0].cpu().numpy(), 0, 2)
        latent[:, :, start:stop, 0] = np.moveaxis(z[:, 0].cpu().numpy(), 0, 2)
        latent[:, :, start:stop, 1] = np.moveaxis(y_raw[:, 0].cpu().numpy(), 0, 2)
        if progress is not None:
            progress(stop, d)
    return fused, latent


def decompose_volume(model: FusionINN, fused: np.ndarray, latent: np.ndarray | None = None,
                     batch_slices: int = 16, seed: int | None = 0,
                     progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decompose a fused (H, W, D) volume into its two sources, ``batch_slices`` slices at a time.

    With the ``latent`` (H, W, D, 2) from :func:`fuse_volume` the inverse is exact (float precision).
    Without it, each slice is decomposed from the fused image and a latent z ~ N(0, I) drawn from a
    generator seeded with ``seed`` (the clinical mode of the paper). Returns (x1_hat, x2_hat), each
    (H, W, D) float32 in [0, 1].
    """
    f = _check_volume(fused, "fused")
    h, w, d = f.shape
    if latent is not None:
        lat = np.asarray(latent)
        if lat.shape != (h, w, d, 2):
            raise UserInputError(f"latent of shape {lat.shape} does not match the fused volume {f.shape}", "latent")
    dev = next(model.parameters()).device
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()))
    out1 = np.empty((h, w, d), np.float32)
    out2 = np.empty((h, w, d), np.float32)
    for start, stop in _slice_batches(d, batch_slices):
        fb = _to_slices(f, start, stop).to(dev)
        with torch.inference_mode():
            if latent is not None:
                z = _to_slices(lat[..., 0], start, stop).to(dev)
                y_raw = _to_slices(lat[..., 1], start, stop).to(dev)
                # exact inverse, as FusionINN.decompose with a latent (no output map)
                x = fast_inverse(model, y_raw, z)
            else:
                z = torch.randn(fb.shape, generator=gen).to(dev)
                x = fast_decompose(model, fb, z)
        out1[:, :, start:stop] = np.moveaxis(x[:, 0].cpu().numpy(), 0, 2)
        out2[:, :, start:stop] = np.moveaxis(x[:, 1].cpu().numpy(), 0, 2)
        if progress is not None:
            progress(stop, d)
    return out1, out2
