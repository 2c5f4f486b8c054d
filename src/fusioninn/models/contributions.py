"""Per-source contribution maps: how much of every fused value came from each source.

For a fusion network ``F(x_1, x_2)`` the maps are integrated gradients (Sundararajan, Taly & Yan,
"Axiomatic attribution for deep networks", ICML 2017, arXiv:1703.01365) along the straight path
``gamma(alpha) = b + alpha (x - b)`` from a baseline ``b`` (black images by default) to the inputs::

    c_i(p) = integral_0^1  d/d eps F(gamma(alpha) + eps (x_i - b_i) e_i)(p)  d alpha

The integrand is a directional derivative of the whole fused image along the i-th source's difference
image, i.e. one Jacobian-vector product per path point and source: forward-mode AD
(:func:`torch.func.jvp`) gives the maps of every output pixel at once, where reverse mode would need one
pass per pixel. The path points of a quadrature batch and both source directions are stacked into one
batch. The integral is taken with Gauss–Legendre quadrature on [0, 1], by default with the *secant rule*
for the network's piecewise-linear units (ReLUs, the output clamp): each node owns the cell of the path
between the cumulative weights around it, and in its JVP every such unit carries its secant slope over
the cell instead of its 0/1 derivative, which splits the path at the unit's switching point (see
:class:`Kinks`; without it the integrand's jumps limit any fixed-node rule to first order). By the
fundamental theorem of calculus ``F(x) = F(b) + c_1 + c_2`` (*completeness*), up to the quadrature error,
which :attr:`Contributions.completeness_max_abs` reports. The share map is
``w_1 = |c_1| / (|c_1| + |c_2|)`` (0.5 where both are 0).

The training-free rules are not smooth networks but *linear once their selections are fixed*: average
(weights 0.5), maximum (the indicator of the larger source), PCA (two global weights), Laplacian pyramid
and DWT (max-abs selection of detail coefficients, averaged base: a fixed linear map per source), guided
filtering (the rule's own refined weight maps on base and detail layers). For these the contribution is
the rule's own weighting applied to each source, ``c_i = L_i(x_i - b_i)`` and ``baseline = L_1(b_1) +
L_2(b_2)`` with the selections/weights of the inputs held fixed: exact, no quadrature (``steps=None``);
completeness holds to float rounding except where the rule clips its output to [0, 1].

Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018 (arXiv:1810.03292), is the reference for
the model-randomisation test in ``tests/models/test_contributions.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..errors import UserInputError
from ..validation import check_array

if TYPE_CHECKING:
    from .fusioninn import FusionINN

__all__ = [
    "Contributions",
    "gauss_legendre",
    "share_map",
    "integrated_gradients",
    "Kinks",
    "QUADRATURE_RULES",
    "fusioninn_contributions",
    "network_contributions",
    "rule_contributions",
    "RULE_ATTRIBUTION",
]

#: how each training-free rule's contributions are defined (see the module docstring)
RULE_ATTRIBUTION: dict[str, str] = {
    "average": "exact: weights 0.5 and 0.5",
    "maximum": "exact: weight 1 for the larger source at each pixel (ties: the first), 0 for the other",
    "pca": "exact: the two global PCA weights of each slice",
    "laplacian": "exact: max-abs-selected detail bands and half of each base, per source, collapsed",
    "dwt": "exact: max-abs-selected detail coefficients and half of each approximation, per source, inverted",
    "guided": "exact: the rule's guided-filter weight maps on each source's base and detail layers",
}


@dataclass
class Contributions:
    """Per-source contributions to a fused image; every array is float32 (N, H, W).

    ``fused ≈ baseline + first + second``; ``share_first = |first| / (|first| + |second|)`` (0.5 where
    both are 0). ``steps`` is the number of quadrature points (``None`` for the exact rule weights).
    ``computed``: indices of the images whose maps were computed, when some were skipped because they
    hold no signal (``None``: all).
    """

    first: np.ndarray
    second: np.ndarray
    baseline: np.ndarray
    fused: np.ndarray
    share_first: np.ndarray
    method: str
    steps: int | None
    computed: np.ndarray | None = None
    #: the quadrature rule of the integrated gradients ("secant", "gauss-legendre"; None for the exact rules)
    rule: str | None = None

    @property
    def residual(self) -> np.ndarray:
        """``fused - baseline - first - second`` (the completeness error per pixel)."""
        return self.fused - self.baseline - self.first - self.second

    @property
    def completeness_max_abs(self) -> float:
        """max |fused − baseline − c_1 − c_2| over all pixels."""
        r = self.residual
        return float(np.abs(r).max()) if r.size else 0.0

    @property
    def share_second(self) -> np.ndarray:
        return (1.0 - self.share_first).astype(np.float32)


def gauss_legendre(steps: int, power: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in (0, 1) and weights (summing to 1) of the ``steps``-point Gauss–Legendre rule on [0, 1],
    after the substitution ``alpha = t ** power``.

    Plain Gauss–Legendre (``power=1``) is exact for polynomials of degree 2 * steps - 1. ``power > 1``
    clusters the nodes near alpha = 0, where FusionINN's input logit (``logit(0.01 + 0.98 x)``) makes the
    integrand nearly singular on a black baseline: the near-pole at alpha ~ -0.01 moves to |t| ~ 0.01 ** (1 /
    power), far enough from the interval for Gauss–Legendre's fast convergence (docs/interpretability.md).
    """
    if int(steps) < 1:
        raise UserInputError(f"steps must be >= 1, got {steps}")
    if power < 1:
        raise ValueError(f"power must be >= 1, got {power}")
    t, w = np.polynomial.legendre.leggauss(int(steps))
    t, w = (t + 1.0) / 2.0, w / 2.0
    return t**power, w * power * t ** (power - 1.0)


def share_map(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``|c_1| / (|c_1| + |c_2|)``, 0.5 where both contributions are 0, float32."""
    a, b = np.abs(np.asarray(first, np.float64)), np.abs(np.asarray(second, np.float64))
    total = a + b
    out = np.full(a.shape, 0.5)
    np.divide(a, total, out=out, where=total > 0)
    return out.astype(np.float32)


#: quadrature rules of :func:`integrated_gradients`
QUADRATURE_RULES = ("secant", "gauss-legendre")


class Kinks:
    """The piecewise-linear units of a network (ReLU, leaky ReLU, a clamp), seen by the ``secant`` rule.

    A network's ``fused_fn(points, kinks)`` sends the input of each such unit through :meth:`relu`,
    :meth:`leaky_relu` or :meth:`clamp`. Outside a ``secant`` pass (``mode`` None) these are the plain
    operations. In ``"record"`` mode they also keep their inputs (the pre-activations at the cell edges);
    in ``"replay"`` mode (inside the JVP at the cell's node) they return the plain value but carry the
    tangent with the *secant slope* of the unit over the cell, ``(act(h_end) − act(h_start)) / (h_end −
    h_start)``: the fraction of the cell on which the unit is active, i.e. the path split at the unit's
    switching point (exact where the pre-activation is linear across the cell).
    """

    def __init__(self) -> None:
        self.mode: str | None = None
        self.records: list[tuple[torch.Tensor, Callable]] = []
        self.slopes: list[torch.Tensor] = []
        self._next = 0

    def _unit(self, h: torch.Tensor, act: Callable, slope_at: Callable) -> torch.Tensor:
        """``act(h)``; ``slope_at(h)`` is its derivative at h (used where a cell is degenerate). ``h`` must
        not be modified afterwards (record mode keeps it)."""
        if self.mode == "record":
            self.records.append((h.detach(), act, slope_at))
            return act(h)
        if self.mode == "replay":
            slope = self.slopes[self._next]
            self._next += 1
            # primal: act(h) at the node; tangent: the cell's secant slope times the tangent of h. The
            # batch is (tangents x cells): the slopes of the P cells broadcast over the tangents.
            value = act(h.detach())
            moving = h - h.detach()  # primal 0, tangent: that of h
            tangent = (moving.view(-1, *slope.shape) * slope).view_as(h)
            return value + tangent
        return act(h)

    def relu(self, h: torch.Tensor) -> torch.Tensor:
        return self._unit(h, torch.relu, lambda v: (v > 0).to(v.dtype))

    def leaky_relu(self, h: torch.Tensor, negative_slope: float) -> torch.Tensor:
        return self._unit(h, lambda v: torch.nn.functional.leaky_relu(v, negative_slope),
                          lambda v: torch.where(v > 0, 1.0, negative_slope).to(v.dtype))

    def clamp(self, h: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        return self._unit(h, lambda v: v.clamp(lo, hi), lambda v: ((v > lo) & (v < hi)).to(v.dtype))

    def secant_slopes(self) -> None:
        """Turn the records at P + 1 cell edges into the slopes of the P cells, ready to replay. Where a
        pre-activation does not move across a cell (no secant), the slope is the derivative at its start."""
        slopes = []
        for h, act, slope_at in self.records:
            h0, h1 = h[:-1], h[1:]
            dh = h1 - h0
            still = dh.abs() <= 1e-6 * (h0.abs() + h1.abs()) + 1e-30
            slope = (act(h1) - act(h0)).div_(dh.masked_fill_(still, 1.0))
            slopes.append(torch.where(still, slope_at(h0), slope))
        self.records, self.slopes, self._next = [], slopes, 0


def _secant_batched(fused_fn, kinks: Kinks, base, delta, tangent, nodes, edges, weights, out, cells: int) -> None:
    """The secant rule for one image, ``cells`` cells per call: a plain pass at their P + 1 edges, then one
    JVP of both tangents at the P nodes (batch: tangent-major). Needs networks whose units keep the
    sample as their leading batch index (FusionINN)."""
    from torch.func import jvp

    for start in range(0, len(nodes), cells):
        ks = np.arange(start, min(start + cells, len(nodes)))
        at = torch.as_tensor(edges[ks[0] : ks[-1] + 2], dtype=base.dtype, device=base.device)
        kinks.mode = "record"
        try:
            fused_fn(base + at.view(-1, 1, 1, 1) * delta, kinks)
        finally:
            kinks.mode = None
        kinks.secant_slopes()
        alpha = torch.as_tensor(nodes[ks], dtype=base.dtype, device=base.device).repeat(2).view(-1, 1, 1, 1)
        kinks.mode = "replay"
        try:
            _, d = jvp(lambda p: fused_fn(p, kinks), (base + alpha * delta,),
                       (tangent.repeat_interleave(len(ks), dim=0),))  # source 0 for every cell, then source 1
        finally:
            kinks.mode, kinks.slopes = None, []
        d = d.to(torch.float64).view(2, len(ks), *d.shape[1:])
        out += (weights[ks].view(-1, 1, 1) * d).sum(1)


def _secant_single(fused_fn, kinks: Kinks, base, delta, tangent, nodes, edges, weights, out) -> None:
    """The secant rule for one image, one point per call (any network, whatever it does with the batch):
    a plain pass at each edge (kept for the next cell), then one JVP per tangent at the cell's node."""
    from torch.func import jvp

    def record(alpha: float) -> list:
        kinks.mode = "record"
        try:
            fused_fn((base + alpha * delta)[None], kinks)
        finally:
            kinks.mode = None
        taken, kinks.records = kinks.records, []
        return taken

    previous = record(float(edges[0]))
    for k, alpha in enumerate(nodes):
        following = record(float(edges[k + 1]))
        kinks.records = [(torch.stack([h0, h1]), act, slope_at)
                         for (h0, act, slope_at), (h1, _, _) in zip(previous, following, strict=True)]
        kinks.secant_slopes()
        slopes = kinks.slopes
        for source in range(2):
            kinks.mode, kinks.slopes, kinks._next = "replay", slopes, 0
            try:
                _, d = jvp(lambda p: fused_fn(p, kinks), ((base + float(alpha) * delta)[None],),
                           (tangent[source][None],))
            finally:
                kinks.mode, kinks.slopes = None, []
            out[source] += weights[k] * d[0].to(torch.float64)
        previous = following


def integrated_gradients(
    fused_fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    baseline: torch.Tensor,
    steps: int = 32,
    batch_points: int = 8,
    power: float = 1.0,
    rule: str = "gauss-legendre",
    kinks: Kinks | None = None,
    batched_units: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients of every fused pixel with respect to each of the two sources.

    Args:
        fused_fn: maps (M, 2, H, W) source pairs to (M, H, W) fused images; must be traceable by
            forward-mode AD (plain differentiable tensor operations). With ``kinks`` it is called as
            ``fused_fn(points, kinks)`` and routes its piecewise-linear units through ``kinks``.
        x: (N, 2, H, W) inputs; ``baseline``: same shape.
        steps: Gauss–Legendre points on the path (one JVP per point and source).
        batch_points: at most this many (point, image, source) evaluations per JVP call (memory bound).
        power: node clustering towards the baseline (see :func:`gauss_legendre`).
        rule: ``"gauss-legendre"``: the plain rule; ``"secant"``: the same nodes and weights, each node
            owning the cell of the path between the cumulative weights around it, with every unit of
            ``kinks`` carrying its secant slope over that cell (see :class:`Kinks` and
            docs/interpretability.md). Needs ``kinks``; costs one extra plain forward pass per cell edge.
        batched_units: the network's units keep each sample as their leading batch index (FusionINN), so
            the secant rule may batch cells; ``False``: one point per call (networks that rearrange the
            batch, e.g. two-branch CNNs that stack both sources along it).

    Returns:
        ``(c1, c2)``, each (N, H, W): the contributions of source 1 and source 2.
    """
    from torch.func import jvp

    if x.shape != baseline.shape or x.ndim != 4 or x.shape[1] != 2:
        raise ValueError(f"x and baseline must both be (N, 2, H, W), got {tuple(x.shape)} and {tuple(baseline.shape)}")
    if rule not in QUADRATURE_RULES:
        raise UserInputError(f"unknown quadrature rule {rule!r}; rules: {', '.join(QUADRATURE_RULES)}")
    nodes, weights = gauss_legendre(steps, power)
    n = x.shape[0]
    delta = x - baseline
    out = torch.zeros(2, n, *x.shape[2:], dtype=torch.float64, device=x.device)
    if rule == "secant":
        if kinks is None:
            raise ValueError("the secant rule needs the network's Kinks")
        # cell edges: the cumulative weights; Gauss nodes separate them (Chebyshev–Markov–Stieltjes)
        edges = np.concatenate([[0.0], np.cumsum(weights)])
        edges[-1] = 1.0
        w_all = torch.as_tensor(weights, dtype=torch.float64, device=x.device)
        with torch.no_grad():
            for i in range(n):
                tangent = torch.zeros(2, 2, *x.shape[2:], dtype=x.dtype, device=x.device)
                tangent[0, 0], tangent[1, 1] = delta[i, 0], delta[i, 1]
                if batched_units:
                    _secant_batched(fused_fn, kinks, baseline[i], delta[i], tangent, nodes, edges, w_all, out[:, i],
                                    max(1, int(batch_points) // 2))
                else:
                    _secant_single(fused_fn, kinks, baseline[i], delta[i], tangent, nodes, edges, w_all, out[:, i])
        return out[0].to(x.dtype), out[1].to(x.dtype)
    call = fused_fn if kinks is None else (lambda p: fused_fn(p, kinks))
    # one tangent per source: the source's difference image, zero in the other channel
    tangents = torch.zeros(2, *x.shape, dtype=x.dtype, device=x.device)
    tangents[0, :, 0] = delta[:, 0]
    tangents[1, :, 1] = delta[:, 1]
    # (point, source, image) triples, flattened and cut into batches of whole images
    jobs = [(k, s, i) for k in range(len(nodes)) for s in range(2) for i in range(n)]
    per_call = max(1, int(batch_points))
    with torch.no_grad():  # forward-mode only: no autograd graph (and no kernels without a JVP rule)
        for start in range(0, len(jobs), per_call):
            chunk = jobs[start : start + per_call]
            k_idx = torch.tensor([k for k, _, _ in chunk])
            s_idx = torch.tensor([s for _, s, _ in chunk], device=x.device)
            i_idx = torch.tensor([i for _, _, i in chunk], device=x.device)
            alpha = torch.as_tensor(nodes[k_idx.numpy()], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
            points = baseline[i_idx] + alpha * delta[i_idx]
            _, directional = jvp(call, (points,), (tangents[s_idx, i_idx],))
            w = torch.as_tensor(weights[k_idx.numpy()], dtype=torch.float64, device=x.device).view(-1, 1, 1)
            out.index_put_((s_idx, i_idx), w * directional.to(torch.float64), accumulate=True)
    return out[0].to(x.dtype), out[1].to(x.dtype)


# --------------------------------------------------------------------------------------------------
# Inputs


def _as_pairs(first, second, baseline) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 2, H, W) float32 inputs and baseline tensors from arrays or tensors of (H, W) or (N, H, W)."""

    def batch(a, name: str) -> torch.Tensor:
        t = a.detach().cpu() if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))
        t, _ = check_array(t, name, ndim=(2, 3), shape_text="(H, W) or (N, H, W)")
        t = t.float().clamp(0.0, 1.0)  # within RANGE_TOLERANCE: clip the round-off
        return t[None] if t.ndim == 2 else t

    a, b = batch(first, "first"), batch(second, "second")
    if a.shape != b.shape:
        raise UserInputError(f"the two sources differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    x = torch.stack([a, b], 1)
    if baseline is None:
        return x, torch.zeros_like(x)
    if isinstance(baseline, tuple | list):
        base = torch.stack([batch(baseline[0], "baseline[0]"), batch(baseline[1], "baseline[1]")], 1)
    else:
        bt = baseline.detach().cpu() if isinstance(baseline, torch.Tensor) else torch.from_numpy(np.asarray(baseline))
        base = bt.float()
        if base.ndim == 3 and base.shape[0] == 2:
            base = base[None]
    if base.shape[1:] != x.shape[1:] or base.shape[0] not in (1, x.shape[0]):
        raise UserInputError(f"baseline of shape {tuple(base.shape)} does not match the inputs {tuple(x.shape)}"
                             " (give (first, second) or an (N, 2, H, W) array)")
    return x, base.expand_as(x).contiguous()


def _finish(method: str, steps, x: torch.Tensor, fused, base_fused, c1, c2) -> Contributions:
    arrays = [np.ascontiguousarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t, dtype=np.float32)
              for t in (c1, c2, base_fused, fused)]
    return Contributions(first=arrays[0], second=arrays[1], baseline=arrays[2], fused=arrays[3],
                         share_first=share_map(arrays[0], arrays[1]), method=method, steps=steps)


# --------------------------------------------------------------------------------------------------
# Networks


def _network_ig(name: str, fused_fn, device, first, second, steps, baseline, batch_size, batch_points,
                rule: str, batched_units: bool = True) -> Contributions:
    """``fused_fn(points, kinks)``: the network's fused image, its piecewise-linear units through ``kinks``."""
    x, base = _as_pairs(first, second, baseline)
    parts = {k: [] for k in ("c1", "c2", "fused", "base")}
    kinks = Kinks()
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb, bb = x[start : start + batch_size].to(device), base[start : start + batch_size].to(device)
            c1, c2 = integrated_gradients(fused_fn, xb, bb, steps=steps, batch_points=batch_points, rule=rule,
                                          kinks=kinks, batched_units=batched_units)
            parts["c1"].append(c1.cpu())
            parts["c2"].append(c2.cpu())
            parts["fused"].append(fused_fn(xb, kinks).cpu())
            parts["base"].append(fused_fn(bb, kinks).cpu())
    cat = {k: torch.cat(v) if v else torch.zeros(0, *x.shape[2:]) for k, v in parts.items()}
    out = _finish(name, int(steps), x, cat["fused"], cat["base"], cat["c1"], cat["c2"])
    out.rule = rule
    return out


def fusioninn_contributions(
    model: FusionINN,
    first,
    second,
    steps: int = 32,
    baseline=None,
    batch_size: int = 4,
    batch_points: int = 8,
    rule: str = "secant",
) -> Contributions:
    """Integrated-gradients contribution maps of a FusionINN's fused image (see the module docstring).

    Args:
        model: a FusionINN (its parameters are used as they are; eval mode is not required: it has no
            batch statistics).
        first, second: the two sources, (H, W) or (N, H, W) arrays/tensors in [0, 1]; H, W even.
        steps: Gauss–Legendre points on the path (see docs/interpretability.md for completeness against
            steps on real slices).
        baseline: ``None`` (black images), ``(b_1, b_2)``, or an (N, 2, H, W) array.
        batch_size: images per batch; ``batch_points``: JVP evaluations per call.
        rule: ``"secant"`` (default): Gauss–Legendre with the subnets' ReLUs and the output clamp split at
            their switching points; ``"gauss-legendre"``: the plain rule (see :func:`integrated_gradients`).
    """
    import copy
    import dataclasses

    import torch.nn.functional as F

    device = next(model.parameters()).device
    # Forward-mode AD needs plain differentiable operations: neither the native C kernels nor oneDNN's fused
    # conv+ReLU have a JVP rule. A shallow copy shares the parameters and gets its own options and its own
    # subnet evaluation (conv3x3 -> ReLU -> conv3x3 [-> ReLU], the ReLUs through the Kinks).
    traced = copy.copy(model)
    traced.options = dataclasses.replace(model.options, native=False, fused_conv=False, memory_saving=False,
                                         channels_last=False)
    current = {"kinks": Kinks()}
    out_relu = model.config.subnet_out_relu

    def subnet(seq: nn.Module, cond: torch.Tensor) -> torch.Tensor:
        kinks = current["kinks"]
        h = kinks.relu(F.conv2d(cond, seq[0].weight, seq[0].bias, padding=1))
        a = F.conv2d(h, seq[2].weight, seq[2].bias, padding=1)
        return kinks.relu(a) if out_relu else a

    traced._subnet = subnet
    clamped = model.config.input_logit_eps > 0  # fused_image clamps to [0, 1] only then

    def fused_fn(x: torch.Tensor, kinks: Kinks) -> torch.Tensor:
        current["kinks"] = kinks
        y_raw, _ = traced(x)
        u = traced.fused_image_unclamped(y_raw)[:, 0]
        return kinks.clamp(u, 0.0, 1.0) if clamped else u

    x, _ = _as_pairs(first, second, None)
    model._check_input(x)
    if not model.actnorm_initialised:
        raise RuntimeError("ActNorm is not initialised: load weights or run a forward pass first")
    return _network_ig("fusioninn", fused_fn, device, first, second, steps, baseline, batch_size, batch_points,
                       rule)


def network_contributions(
    module: nn.Module,
    first,
    second,
    steps: int = 32,
    baseline=None,
    name: str | None = None,
    batch_size: int = 4,
    batch_points: int = 8,
    rule: str = "secant",
) -> Contributions:
    """Integrated-gradients contribution maps of any fusion network ``module((N, 2, H, W)) -> (N, 1, H, W)``
    (the CNN baselines). The module is run in eval mode (batch norm with its running statistics). With the
    ``secant`` rule its ``nn.ReLU`` and ``nn.LeakyReLU`` modules are split at their switching points (max
    pooling is not: it keeps the plain rule's error there)."""
    first_param = next(module.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    was_training = module.training
    module.eval()
    current = {"kinks": Kinks()}
    stash: dict[nn.Module, torch.Tensor] = {}

    def before(mod: nn.Module, inputs):
        if current["kinks"].mode is not None:
            stash[mod] = inputs[0].clone()  # in-place activations overwrite their input

    def after(mod: nn.Module, inputs, output):
        kinks = current["kinks"]
        if kinks.mode is None:
            return None
        h = stash.pop(mod)
        if isinstance(mod, nn.LeakyReLU):
            return kinks.leaky_relu(h, mod.negative_slope)
        return kinks.relu(h)

    handles = []
    for mod in module.modules():
        if isinstance(mod, nn.ReLU | nn.LeakyReLU):
            handles += [mod.register_forward_pre_hook(before), mod.register_forward_hook(after)]

    def fused_fn(x: torch.Tensor, kinks: Kinks) -> torch.Tensor:
        current["kinks"] = kinks
        return module(x)[:, 0]

    try:
        # one point per call: some baselines stack both sources along the batch inside the network
        return _network_ig(name or type(module).__name__.lower(), fused_fn, device, first, second, steps, baseline,
                           batch_size, batch_points, rule, batched_units=False)
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)


# --------------------------------------------------------------------------------------------------
# Training-free rules: their own weights, exactly


def _rule_linear_parts(name: str, a: np.ndarray, b: np.ndarray):
    """For the inputs (N, H, W) float64, return ``(L_1, L_2)``: the rule's linear map of each source with
    the selections and weights of these inputs held fixed, so that ``rule(a, b) = L_1(a) + L_2(b)``
    before clipping."""
    from .baselines import rules as R

    if name == "average":
        return (lambda u: 0.5 * u), (lambda v: 0.5 * v)
    if name == "maximum":
        pick = a >= b  # np.maximum keeps the first on ties; either is exact there
        return (lambda u: np.where(pick, u, 0.0)), (lambda v: np.where(pick, 0.0, v))
    if name == "pca":
        w = np.array([R._pca_weights(ai, bi) for ai, bi in zip(a, b, strict=True)])
        return (lambda u: w[:, 0, None, None] * u), (lambda v: w[:, 1, None, None] * v)
    if name == "laplacian":
        n = R.laplacian_levels(a.shape[-2:])
        pa, pb = R.laplacian_pyramid(a, n), R.laplacian_pyramid(b, n)
        picks = [np.abs(da) >= np.abs(db) for da, db in zip(pa[:-1], pb[:-1], strict=True)]

        def lap(u: np.ndarray, own: bool) -> np.ndarray:
            bands = R.laplacian_pyramid(u, n)
            kept = [np.where(m if own else ~m, d, 0.0) for m, d in zip(picks, bands[:-1], strict=True)]
            return R.reconstruct_laplacian_pyramid([*kept, 0.5 * bands[-1]])

        return (lambda u: lap(u, True)), (lambda v: lap(v, False))
    if name == "dwt":
        import pywt

        wav = pywt.Wavelet("db2")
        h, w = a.shape[-2:]
        level = min(3, pywt.dwt_max_level(min(h, w), wav.dec_len))
        if level == 0:
            return (lambda u: 0.5 * u), (lambda v: 0.5 * v)
        ca = pywt.wavedec2(a, wav, mode="symmetric", level=level, axes=(-2, -1))
        cb = pywt.wavedec2(b, wav, mode="symmetric", level=level, axes=(-2, -1))
        picks = [tuple(np.abs(u) >= np.abs(v) for u, v in zip(da, db, strict=True))
                 for da, db in zip(ca[1:], cb[1:], strict=True)]

        def dwt(u: np.ndarray, own: bool) -> np.ndarray:
            cu = pywt.wavedec2(u, wav, mode="symmetric", level=level, axes=(-2, -1))
            kept: list = [0.5 * cu[0]]
            for masks, details in zip(picks, cu[1:], strict=True):
                kept.append(tuple(np.where(m if own else ~m, d, 0.0) for m, d in zip(masks, details, strict=True)))
            return pywt.waverec2(kept, wav, mode="symmetric", axes=(-2, -1))[:, :h, :w]

        return (lambda u: dwt(u, True)), (lambda v: dwt(v, False))
    if name == "guided":
        from scipy import ndimage

        wb, wd = R.guided_weight_maps(a, b)

        def gff(u: np.ndarray, k: int) -> np.ndarray:
            base = ndimage.uniform_filter(u, size=(1, 31, 31), mode="reflect")
            return wb[k] * base + wd[k] * (u - base)

        return (lambda u: gff(u, 0)), (lambda v: gff(v, 1))
    raise UserInputError(f"no contribution rule for {name!r}; rules: {', '.join(RULE_ATTRIBUTION)}")


def _rule_weight_share(name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The rule's own per-pixel weight of source 1 where the rule defines one (average, maximum, PCA)."""
    from .baselines import rules as R

    if name == "average":
        return np.full(a.shape, 0.5, np.float32)
    if name == "maximum":
        return (a >= b).astype(np.float32)
    if name == "pca":
        w = np.array([R._pca_weights(ai, bi) for ai, bi in zip(a, b, strict=True)])
        return np.broadcast_to(w[:, 0, None, None], a.shape).astype(np.float32)
    return None


def rule_contributions(name: str, first, second, baseline=None) -> Contributions:
    """Exact contributions of a training-free rule (one of :data:`RULE_ATTRIBUTION`).

    With the rule's selections and weights for these inputs held fixed, the rule is ``clip(L_1(x_1) +
    L_2(x_2), 0, 1)``. Its integrated gradients along the straight path from the baseline then have a
    closed form: ``c_i = r · L_i(x_i − b_i)`` with ``r`` the fraction of the path on which the clip is
    inactive, ``r = (clip(u) − clip(u_b)) / (u − u_b)`` (``u = L_1(x_1) + L_2(x_2)``, ``u_b`` the same for
    the baseline), so completeness is exact to float rounding. ``share_first`` is the rule's own weight of
    source 1 where the rule defines one per pixel (average: 0.5, maximum: the indicator, PCA: its global
    weight), otherwise ``|c_1| / (|c_1| + |c_2|)``.
    """
    from .baselines.registry import RULES

    if name not in RULE_ATTRIBUTION:
        raise UserInputError(f"no contribution rule for {name!r}; rules: {', '.join(RULE_ATTRIBUTION)}")
    x, base = _as_pairs(first, second, baseline)
    a, b = x[:, 0].double().numpy(), x[:, 1].double().numpy()
    ba, bb = base[:, 0].double().numpy(), base[:, 1].double().numpy()
    lin1, lin2 = _rule_linear_parts(name, a, b)
    l1, l2 = lin1(a - ba), lin2(b - bb)
    u_base = lin1(ba) + lin2(bb)
    u = u_base + l1 + l2
    rise = np.clip(u, 0.0, 1.0) - np.clip(u_base, 0.0, 1.0)
    span = u - u_base
    ratio = np.ones_like(u)
    np.divide(rise, span, out=ratio, where=np.abs(span) > 1e-12)
    fused = RULES[name](x[:, 0].numpy(), x[:, 1].numpy())
    out = _finish(name, None, x, fused, np.clip(u_base, 0.0, 1.0), ratio * l1, ratio * l2)
    weight = _rule_weight_share(name, a, b)
    if weight is not None:
        out.share_first = weight
    return out
