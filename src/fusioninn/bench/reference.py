"""The reference FusionINN: FrEIA's own modules and the original graph and training step, for comparison.

Tests and benchmarks only: nothing in the library imports this module (``fusioninn bench`` and
``benchmarks/`` do). Two references, both on the weights of a
:class:`fusioninn.FusionINN`:

* :func:`freia_forward` / :func:`freia_inverse` run the model's own FrEIA modules (``module_list``) in
  order, through FrEIA's ``forward(..., rev=...)``; every :class:`~fusioninn.FusionINNConfig` option
  (logit input space, widths, output ReLU) is honoured. ``FusionINN.forward``/``inverse`` must agree.
* The original graph, below.

The original research code (Kumar et al., arXiv:2403.15769; github nish03/FusionINN, ``inn_train.py``)
assembles a FrEIA 0.2 ``GraphINN`` from nodes (input, ActNorm, three GLOW couplings, two random
permutations, iRevNet down/up-sampling, a split, two outputs), runs it with log-determinants switched on,
and computes its loss from ``pytorch_msssim.ssim`` called once per source and term, ``torch.nn.MSELoss``
and a multiscale MMD. This module rebuilds that graph and that computation (written here, not copied) so
that :mod:`fusioninn.bench.speed` and the tests can compare against it with the *same* weights: the
``GraphINN``'s ``module_list`` holds its modules in the same order as :class:`fusioninn.FusionINN`, so
``graph.load_state_dict(model.state_dict())`` copies every weight and both permutations.

Only the published configuration (no logit input space, sigmoid output, fused image fed to the reverse
pass) exists in the original; :func:`reference_training_loss` implements exactly that.
"""

from __future__ import annotations

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import numpy as np
import torch
from torch import nn

__all__ = ["freia_forward", "freia_inverse", "freia_fuse_tensor", "freia_decompose_tensor",
           "freia_training_pass", "build_reference_graph", "reference_from_model", "reference_training_loss",
           "reference_fuse_decompose"]


def freia_forward(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``model.forward(x)`` through FrEIA's own modules: ``(y_raw, z)``."""
    model._check_input(x)
    if not model.actnorm_initialised:
        model.initialise_actnorm(x)
    h = model._squeeze(x)
    for module in model.module_list:
        (h,), _ = module([h], rev=False, jac=False)
    return h[:, :1], h[:, 1:]


def freia_inverse(model, y_raw: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``model.inverse(y_raw, z)`` through FrEIA's own modules."""
    if y_raw.shape != z.shape or y_raw.ndim != 4 or y_raw.shape[1] != 1:
        raise ValueError(
            f"y and z must both be (N, 1, H, W) of one shape, got {tuple(y_raw.shape)} and {tuple(z.shape)}"
        )
    h = torch.cat([y_raw, z], dim=1)
    model._check_input(h)
    if not model.actnorm_initialised:
        raise RuntimeError("ActNorm is not initialised: run a forward pass or load weights first")
    for module in reversed(model.module_list):
        (h,), _ = module([h], rev=True, jac=False)
    return model._unsqueeze(h)


def freia_fuse_tensor(model, x: torch.Tensor):
    """``model.fuse_tensor(x)`` on the FrEIA reference: ``(fused, (y_raw, z))``."""
    y_raw, z = freia_forward(model, x)
    return model.fused_image(y_raw), (y_raw, z)


def freia_decompose_tensor(model, fused: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``model.decompose_tensor(fused, z)`` on the FrEIA reference."""
    return model.output_map(freia_inverse(model, model.reverse_input(fused), z))


def freia_training_pass(model, x: torch.Tensor, z_fresh: torch.Tensor | None = None):
    """``model.fused_and_decomposed_for_training(x, z_fresh)`` on the FrEIA reference."""
    y_raw, z = freia_forward(model, x)
    fused = model.fused_image(y_raw)
    z_fresh = torch.randn_like(z) if z_fresh is None else z_fresh
    return fused, z, freia_decompose_tensor(model, fused, z_fresh)


def _subnet(width: int, out_relu: bool):
    def build(c_in: int, c_out: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(width, c_out, 3, padding=1)]
        if out_relu:
            layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    return build


def build_reference_graph(widths: tuple[int, int, int] = (32, 64, 32), clamp: float = 2.0,
                          out_relu: bool = True, size: int = 240) -> Ff.GraphINN:
    """The original node graph: input -> ActNorm -> coupling -> permute -> down -> coupling -> permute
    -> up -> coupling -> split -> (y_raw, z). Weights are random; load a state dict to compare."""
    w1, w2, w3 = widths
    np_state = np.random.get_state()  # PermuteRandom draws from NumPy's global generator
    nodes = [Ff.InputNode(2, size, size, name="input")]
    nodes.append(Ff.Node(nodes[-1], Fm.ActNorm, {}, name="actnorm"))
    nodes.append(Ff.Node(nodes[-1], Fm.GLOWCouplingBlock, {"subnet_constructor": _subnet(w1, out_relu), "clamp": clamp},
                         name="conv_1"))
    nodes.append(Ff.Node(nodes[-1], Fm.PermuteRandom, {}, name="permute_1"))
    nodes.append(Ff.Node(nodes[-1], Fm.IRevNetDownsampling, {}, name="down"))
    nodes.append(Ff.Node(nodes[-1], Fm.GLOWCouplingBlock, {"subnet_constructor": _subnet(w2, out_relu), "clamp": clamp},
                         name="conv_2"))
    nodes.append(Ff.Node(nodes[-1], Fm.PermuteRandom, {}, name="permute_2"))
    nodes.append(Ff.Node(nodes[-1], Fm.IRevNetUpsampling, {}, name="up"))
    nodes.append(Ff.Node(nodes[-1], Fm.GLOWCouplingBlock, {"subnet_constructor": _subnet(w3, out_relu), "clamp": clamp},
                         name="conv_3"))
    split = Ff.Node(nodes[-1], Fm.Split, {}, name="split")
    nodes.append(split)
    nodes.append(Ff.OutputNode(split.out0, name="y"))
    nodes.append(Ff.OutputNode(split.out1, name="z"))
    graph = Ff.GraphINN(nodes, verbose=False)
    np.random.set_state(np_state)
    return graph


def reference_from_model(model, size: int = 240) -> Ff.GraphINN:
    """A reference graph carrying the weights (and permutations) of a :class:`FusionINN`."""
    c = model.config
    graph = build_reference_graph(c.widths, c.clamp, c.subnet_out_relu, size)
    graph.load_state_dict(model.state_dict(), strict=True)
    graph.module_list[0].init_on_next_batch = False
    return graph.to(next(model.parameters()).device)


def _mmd_original(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multiscale inverse-multiquadric MMD as the original computes it (dense accumulators, biased)."""
    xx, yy, xy = x @ x.t(), y @ y.t(), x @ y.t()
    rx = xx.diag().unsqueeze(0).expand_as(xx)
    ry = yy.diag().unsqueeze(0).expand_as(yy)
    dxx = rx.t() + rx - 2.0 * xx
    dyy = ry.t() + ry - 2.0 * yy
    dxy = rx.t() + ry - 2.0 * xy
    kxx, kyy, kxy = torch.zeros_like(xx), torch.zeros_like(xx), torch.zeros_like(xx)
    for a in (0.05, 0.2, 0.9):
        kxx = kxx + a**2 / (a**2 + dxx)
        kyy = kyy + a**2 / (a**2 + dyy)
        kxy = kxy + a**2 / (a**2 + dxy)
    return torch.mean(kxx + kyy - 2.0 * kxy)


def reference_training_loss(graph: Ff.GraphINN, x: torch.Tensor, z_target: torch.Tensor,
                            z_fresh: torch.Tensor) -> torch.Tensor:
    """One training loss of the original loop (published weights), for a batch ``x`` (N, 2, H, W).

    ``z_target`` (N, H*W) is the MMD's Gaussian sample and ``z_fresh`` (N, 1, H, W) the latent fed to the
    reverse pass; both are arguments so that another implementation can be compared on the same draw.
    """
    from pytorch_msssim import ssim as msssim_ssim

    n = x.shape[0]
    mse = nn.MSELoss()
    x1, x2 = x[:, 0:1], x[:, 1:2]
    (y_raw, z), _log_jac = graph(x)
    fused = torch.sigmoid(y_raw)
    z = z.reshape(n, -1)
    ssim_fus = 0.5 * (1 - msssim_ssim(fused, x1, data_range=1)) + 0.5 * (1 - msssim_ssim(fused, x2, data_range=1))
    l2_fus = 0.5 * mse(fused, x1) + 0.5 * mse(fused, x2)
    forward_loss = 0.8 * ssim_fus + 0.2 * l2_fus + _mmd_original(z, z_target)
    rev, _ = graph([fused, z_fresh], rev=True)
    rev = torch.sigmoid(rev)
    r1, r2 = rev[:, 0:1], rev[:, 1:2]
    ssim_rev = 0.5 * (1 - msssim_ssim(r1, x1, data_range=1)) + 0.5 * (1 - msssim_ssim(r2, x2, data_range=1))
    l2_rev = 0.5 * mse(r1, x1) + 0.5 * mse(r2, x2)
    return 0.5 * forward_loss + 0.5 * (0.8 * ssim_rev + 0.2 * l2_rev)


def reference_fuse_decompose(graph: Ff.GraphINN, x: torch.Tensor, z_fresh: torch.Tensor
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Fuse (sigmoid of y) and decompose with fresh noise, as the original validation/inference does."""
    with torch.no_grad():
        (y_raw, _z), _ = graph(x)
        fused = torch.sigmoid(y_raw)
        rev, _ = graph([fused, z_fresh], rev=True)
        return fused, torch.sigmoid(rev)
