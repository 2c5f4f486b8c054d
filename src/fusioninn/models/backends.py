"""How a coupling subnet (conv3x3 -> ReLU -> conv3x3 [-> ReLU]) runs, chosen per model (``model.options``,
an :class:`ExecutionOptions`; nothing here is process-wide). :func:`run_subnet` takes the first that applies:
``native`` (the C kernels of :mod:`.native`, full-resolution 1 -> C -> 2 subnets, float32 CPU; forward, and
with autograd a backward that recomputes the hidden map), ``fused_conv`` (no autograd, CPU: oneDNN's fused
conv+ReLU and a tap GEMM for 2 output channels), ``conv2d`` (PyTorch, channels-last or NCHW). "No autograd"
is ``not torch.is_grad_enabled()``: ``no_grad`` and ``inference_mode`` run the same kernels. Measured effect
of each: docs/performance.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import native

__all__ = ["ExecutionOptions", "run_subnet", "subnet_backend", "NativeSubnet"]


@dataclass
class ExecutionOptions:
    """Execution choices of one model. The results agree to float rounding whatever is chosen.

    Attributes:
        native: the C subnet kernels: None = use them where they compiled and passed their self-test
            (default), False = never, True = require them (an error says why they are unavailable;
            ``fusioninn info`` shows the same reason).
        channels_last: run the PyTorch convolutions in the channels-last layout (faster on CPU for these
            thin convolutions).
        fused_conv: without autograd, use oneDNN's fused conv+ReLU and the tap GEMM where they apply.
        contiguous_coupling: copy each subnet output to NCHW before the coupling's element-wise maths
            (a channels-last slice leaves a short inner axis that the element-wise kernels run unvectorised).
        memory_saving: with autograd, checkpoint each coupling block: its hidden maps are recomputed in the
            backward pass instead of stored (lower peak memory, more compute).
    """

    native: bool | None = None
    channels_last: bool = True
    fused_conv: bool = True
    contiguous_coupling: bool = True
    memory_saving: bool = False

    def use_native(self) -> bool:
        if self.native is False:
            return False
        if native.available():
            return True
        if self.native:
            raise RuntimeError(f"native kernels requested but unavailable: {native.status()['reason']}")
        return False


@functools.cache
def _conv_relu_available() -> bool:
    """Whether this PyTorch build exposes oneDNN's fused convolution + ReLU (a private op; probed once)."""
    try:
        x = torch.zeros(1, 1, 4, 4)
        torch.ops.mkldnn._convolution_pointwise(x, torch.zeros(2, 1, 3, 3), None, [1, 1], [1, 1], [1, 1], 1,
                                                "relu", [], "")
        return True
    except (RuntimeError, AttributeError):
        return False


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the channels-last layout, also for one channel.

    PyTorch treats a one-channel NCHW tensor as ambiguous and keeps the convolution in NCHW, which then
    forces layout copies downstream; a (N, H, W, 1) view permuted to NCHW is unambiguously channels-last.
    """
    if t.shape[1] == 1:
        n, _, h, w = t.shape
        return t.reshape(n, h, w, 1).permute(0, 3, 1, 2)
    return t.contiguous(memory_format=torch.channels_last)


def _conv3x3_taps(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """3x3 convolution (zero padding 1) of a channels-last ``h`` with few output channels, as one GEMM.

    oneDNN vectorises a convolution over its output channels, so a 32 -> 2 convolution costs as much as
    a 32 -> 16 one. Here one GEMM maps the C input channels to the 9 x O tap planes (the long pixel axis
    in the vector lanes), and nine shifted additions sum the taps. Without autograd only.
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


class NativeSubnet(torch.autograd.Function):
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


def subnet_backend(seq: torch.nn.Module, x: torch.Tensor, options: ExecutionOptions) -> str:
    """Which backend :func:`run_subnet` uses for this subnet and input: "native", "fused_conv" or "conv2d"."""
    c1, c2 = seq[0], seq[2]
    on_cpu = x.device.type == "cpu" and x.dtype == torch.float32 and c1.weight.dtype == torch.float32
    thin = x.shape[1] == 1 and c2.weight.shape[0] == 2  # the full-resolution 1 -> C -> 2 subnets
    if on_cpu and thin and options.use_native():
        return "native"
    if on_cpu and not torch.is_grad_enabled() and options.fused_conv and options.channels_last \
            and _conv_relu_available():
        return "fused_conv"
    return "conv2d"


def run_subnet(seq: torch.nn.Module, x: torch.Tensor, out_relu: bool, options: ExecutionOptions) -> torch.Tensor:
    """conv3x3 -> ReLU -> conv3x3 [-> ReLU] on the ``nn.Sequential``'s own weights."""
    c1, c2 = seq[0], seq[2]
    backend = subnet_backend(seq, x, options)
    if backend == "native":
        if torch.is_grad_enabled():
            return NativeSubnet.apply(x, c1.weight, c1.bias, c2.weight, c2.bias, out_relu)
        return native.fused_subnet(x, c1.weight, c1.bias, c2.weight, c2.bias, out_relu)
    if backend == "fused_conv":
        x = _channels_last(x)
        h = torch.ops.mkldnn._convolution_pointwise(x, _channels_last(c1.weight), c1.bias, [1, 1], [1, 1], [1, 1],
                                                    1, "relu", [], "")
        if c2.weight.shape[0] <= 2:  # measured faster only for the full-resolution 32 -> 2 case
            a = _conv3x3_taps(h, c2.weight, c2.bias)
        else:
            a = F.conv2d(h, _channels_last(c2.weight), c2.bias, padding=1)
        return F.relu_(a) if out_relu else a
    w1, w2 = c1.weight, c2.weight
    if options.channels_last:
        x, w1, w2 = _channels_last(x), _channels_last(w1), _channels_last(w2)
    # In-place ReLUs: a convolution's backward needs its input, not its output, so the output may be
    # overwritten; saves one full-resolution 32-channel allocation per subnet.
    h = F.relu_(F.conv2d(x, w1, c1.bias, padding=1))
    a = F.conv2d(h, w2, c2.bias, padding=1)
    return F.relu_(a) if out_relu else a
