"""The FusionINN invertible network, assembled from FrEIA blocks in the published order.

Kumar et al., "FusionINN: Decomposable Image Fusion for Brain Tumor Monitoring", arXiv:2403.15769.

    ActNorm -> GLOW coupling (width 32) -> random permutation -> iRevNet downsampling
    -> GLOW coupling (width 64) -> random permutation -> iRevNet upsampling
    -> GLOW coupling (width 32) -> split: channel 0 = y (fused, pre-sigmoid), channel 1 = z (latent)

The modules sit in ``module_list`` in that order, so the parameter names are those of the original
FrEIA ``GraphINN`` and an original checkpoint loads without renaming. The split has no parameters and is
done by slicing. :class:`FusionINN` computes the network itself (tensor operations on the FrEIA modules'
parameters, subnets on the backend its ``options`` select) and carries the array API (``fuse``,
``decompose``) that the commands, the demo and the README use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import FrEIA.modules as Fm
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import UserInputError
from ..validation import check_array
from .backends import ExecutionOptions, run_subnet

__all__ = ["FusionINNConfig", "FusionINN", "Latent", "Decomposition", "ExecutionOptions"]

#: A NumPy array or a torch tensor (the array API returns the kind it was given).
ArrayLike = Any


@dataclass
class FusionINNConfig:
    """Architecture and inference semantics. Saved with every checkpoint.

    Attributes:
        widths: hidden channels of the three coupling subnets (published: 32, 64, 32).
        clamp: soft clamp on the couplings' log-scale (published: 2.0).
        subnet_out_relu: end each subnet with a ReLU, as the published code does (forces s, t >= 0).
        zero_init: initialise each subnet's last convolution to zero, so every coupling starts as the
            identity (needs ``subnet_out_relu=False``, otherwise no gradient reaches those weights).
        reverse_input: what the clinical reverse pass is fed: ``"fused"`` = the sigmoid image itself
            (published), ``"logit"`` = logit of the fused image, which is the exact pre-sigmoid y.
        output_sigmoid: pass the reverse output through a sigmoid (published) or clamp it to [0, 1].
        permutation_seeds: seeds of the two fixed channel permutations.
        input_logit_eps: if > 0, the network works in logit space: inputs in [0, 1] are squeezed to
            [eps, 1 - eps] and passed through a logit before the first block, and the sigmoid that makes
            the fused image is undone the same way. An identity-initialised network then starts with a
            fused image on the sources' own intensity scale. 0 = published (no transform).
        actnorm_init: "data" (published: zero mean, unit std per channel from the first batch) or
            "identity" (scale 1, bias 0).
        extra_couplings: GLOW coupling blocks appended at full resolution after the published third one
            (subnet width ``widths[2]``; 0 = published). No channel permutation between them: with two
            channels the only other order is a swap, which would make two consecutive updates of one half
            that compose into a single affine map; in the identity order the updates keep alternating
            (y from z, z from y, y from z, ...).
        init_mixing: the network at step 0 with ``zero_init``: "interleave" (every coupling the identity,
            so iRevNet down/upsampling and the second permutation send some of each source's pixels of
            every 2x2 block to the fused channel) or "average" (the first coupling an exact linear mixing
            u = (a + b) / 2, the other channel ± (a - b) / 2, and permutation seeds that route u's four
            2x2 planes back to their own positions in the fused channel: y = (a + b) / 2 in the network's
            input space). Only the initial weights differ; the architecture is that of the seeds.
    """

    in_channels: int = 2
    widths: tuple[int, int, int] = (32, 64, 32)
    clamp: float = 2.0
    subnet_out_relu: bool = True
    zero_init: bool = False
    reverse_input: str = "fused"
    output_sigmoid: bool = True
    permutation_seeds: tuple[int, int] = (1, 2)
    input_logit_eps: float = 0.0
    actnorm_init: str = "data"
    extra_couplings: int = 0
    init_mixing: str = "interleave"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        self.permutation_seeds = tuple(int(s) for s in self.permutation_seeds)
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"widths must be three positive integers, got {self.widths}")
        if self.in_channels != 2:
            raise ValueError(f"FusionINN fuses two sources (in_channels=2), got {self.in_channels}")
        if self.reverse_input not in ("fused", "logit"):
            raise ValueError(f"reverse_input must be 'fused' or 'logit', got {self.reverse_input!r}")
        if not 0.0 <= self.input_logit_eps < 0.5:
            raise ValueError(f"input_logit_eps must be in [0, 0.5), got {self.input_logit_eps}")
        if self.actnorm_init not in ("data", "identity"):
            raise ValueError(f"actnorm_init must be 'data' or 'identity', got {self.actnorm_init!r}")
        if self.zero_init and self.subnet_out_relu:
            raise ValueError("zero_init needs subnet_out_relu=False (a ReLU at 0 passes no gradient)")
        self.extra_couplings = int(self.extra_couplings)
        if not 0 <= self.extra_couplings <= MAX_EXTRA_COUPLINGS:
            raise ValueError(f"extra_couplings must be between 0 and {MAX_EXTRA_COUPLINGS}, got {self.extra_couplings}")
        if self.init_mixing not in INIT_MIXINGS:
            raise ValueError(f"init_mixing must be one of {', '.join(INIT_MIXINGS)}, got {self.init_mixing!r}")
        if self.init_mixing == "average":
            if not self.zero_init:
                raise ValueError("init_mixing 'average' needs zero_init (identity-initialised couplings, the fast "
                                 "recipe): the other couplings must pass the mixed channel through")
            if self.clamp * _ATAN_FACTOR * np.pi / 2 <= abs(np.log(0.5)):
                raise ValueError(f"init_mixing 'average' needs a log-scale of log(1/2) within the soft clamp "
                                 f"(clamp > 0.7), got clamp {self.clamp}")
            average_route(self.permutation_seeds)  # raises ValueError for seeds that cannot route it

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        d["permutation_seeds"] = list(self.permutation_seeds)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FusionINNConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown FusionINN config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def paper(cls) -> FusionINNConfig:
        """The published network and inference semantics."""
        return cls()

    @classmethod
    def fast(cls, **overrides: Any) -> FusionINNConfig:
        """Our CPU recipe's network: identity-initialised couplings, exact-logit reverse input.

        ``init_mixing="average"`` without explicit ``permutation_seeds`` takes :data:`AVERAGE_SEEDS`."""
        if overrides.get("init_mixing") == "average":
            overrides.setdefault("permutation_seeds", AVERAGE_SEEDS)
        settings = dict(subnet_out_relu=False, zero_init=True, reverse_input="logit", output_sigmoid=False,
                        input_logit_eps=0.01, actnorm_init="identity")
        return cls(**{**settings, **overrides})


#: At most this many extra couplings (a bound for typos such as --couplings 200, not a tested limit).
MAX_EXTRA_COUPLINGS = 16
INIT_MIXINGS = ("interleave", "average")
#: Permutation seeds of ``init_mixing="average"``: seed 1 keeps the two channels in order and seed 1287's
#: 8-channel permutation is [4, 5, 6, 7, 0, 1, 2, 3], a swap of the two 2x2-plane halves, so the fused
#: channel gets channel 1's planes in their own order and the latent channel 0's (found by search over seeds).
AVERAGE_SEEDS = (1, 1287)


def _freia_permutation(seed: int, channels: int) -> list[int]:
    """The permutation FrEIA's ``PermuteRandom(seed=seed)`` draws (NumPy's legacy global generator)."""
    return [int(v) for v in np.random.RandomState(seed).permutation(channels)]


def average_route(seeds: tuple[int, int]) -> int:
    """For permutation ``seeds``, which channel of the first coupling's output reaches the fused channel
    with its 2x2 planes in their own positions (0 or 1); ValueError if neither does."""
    p1, p2 = _freia_permutation(seeds[0], 2), _freia_permutation(seeds[1], 8)
    # the upsampling builds the fused channel from channels 0-3 after the second permutation, which
    # takes them from inputs p2[0:4]; the downsampling made inputs 4c..4c+3 from channel c after p1
    for c in (0, 1):
        if p2[:4] == [4 * c, 4 * c + 1, 4 * c + 2, 4 * c + 3]:
            return p1[c]
    raise ValueError(f"permutation seeds {tuple(seeds)} interleave the two channels' 2x2 planes in the fused "
                     f"channel; init_mixing 'average' needs seeds that keep one channel's planes in order, "
                     f"e.g. {AVERAGE_SEEDS}")


def _subnet_constructor(width: int, out_relu: bool, zero_init: bool):
    def build(c_in: int, c_out: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(width, c_out, 3, padding=1)]
        if out_relu:
            layers.append(nn.ReLU())
        if zero_init:
            nn.init.zeros_(layers[2].weight)
            nn.init.zeros_(layers[2].bias)
        return nn.Sequential(*layers)

    return build


@dataclass
class Latent:
    """What exact decomposition needs besides the fused image.

    ``z`` is the latent image; ``y_raw`` the pre-sigmoid fused channel, kept because ``logit(fused)``
    loses precision where the sigmoid saturates (1 - fused < 1e-4 leaves few float32 digits).
    As an array it is (N, 2, H, W): channel 0 = z, channel 1 = y_raw.
    """

    z: torch.Tensor
    y_raw: torch.Tensor

    def to_tensor(self) -> torch.Tensor:
        return torch.cat([self.z, self.y_raw], dim=1)

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> Latent:
        if t.ndim == 3:
            t = t.unsqueeze(0)
        if t.ndim != 4 or t.shape[1] != 2:
            raise ValueError(f"a latent is (N, 2, H, W) [z, y_raw], got shape {tuple(t.shape)}")
        return cls(z=t[:, :1], y_raw=t[:, 1:])


@dataclass
class Decomposition:
    """Result of :meth:`FusionINN.decompose`. Unpacks as ``x1_hat, x2_hat = model.decompose(fused)``.

    ``std`` is the per-pixel standard deviation over the K sampled latents (shape of ``x1`` with a
    leading axis of 2 for the two sources after the batch axis), or ``None`` when K = 1 or exact.
    """

    x1: object
    x2: object
    std: object | None = None
    exact: bool = False

    def __iter__(self):
        yield self.x1
        yield self.x2



# Positions in ``module_list`` (the original GraphINN's order, which fixes the weight names).
_ACTNORM, _COUPLING_1, _PERMUTE_1, _DOWN, _COUPLING_2, _PERMUTE_2, _UP, _COUPLING_3 = range(8)
# FrEIA's "ATAN" soft clamp of the log-scale: s = clamp * 0.636 * atan(u) (FrEIA 0.2, coupling_layers.py).
_ATAN_FACTOR = 0.636
Pair = tuple[torch.Tensor, torch.Tensor]


class FusionINN(nn.Module):
    """Invertible fusion network. ``forward(x)`` maps (N, 2, H, W) to ``(y_raw, z)``; ``inverse`` undoes it.

    H and W must be even (iRevNet works on 2x2 blocks). The FrEIA modules own the parameters (names, init,
    the original-checkpoint layout); :meth:`forward`/:meth:`inverse` compute the network with tensor ops on
    them: no list wrapping or log-determinants, coupling halves kept as separate tensors (no split/concat
    copies), iRevNet as ``pixel_(un)shuffle`` (FrEIA's kernel sends channel c, pixel (i, j) of a 2x2 block to
    4c + 2i + j: ``pixel_unshuffle``'s order), subnets on the backend ``self.options`` selects. FrEIA's own
    graph is the reference of tests and benchmarks (:mod:`fusioninn.bench.reference`).
    """

    def __init__(self, config: FusionINNConfig | None = None, options: ExecutionOptions | None = None) -> None:
        super().__init__()
        self.config = config or FusionINNConfig()
        self.options = options or ExecutionOptions()
        c = self.config
        sub = [_subnet_constructor(w, c.subnet_out_relu, c.zero_init) for w in c.widths]
        # extra couplings are full-resolution like the third, with its width
        # FrEIA modules take their input dims at construction; the convolutions themselves work for any
        # even size, so a nominal 240x240 is given and other sizes run through the same modules.
        dims = [(2, 240, 240)]
        down = [(8, 120, 120)]
        # PermuteRandom reseeds NumPy's global generator; keep the caller's NumPy state untouched.
        np_state = np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.module_list = nn.ModuleList(
                [
                    Fm.ActNorm(dims),
                    Fm.GLOWCouplingBlock(dims, subnet_constructor=sub[0], clamp=c.clamp),
                    Fm.PermuteRandom(dims, seed=c.permutation_seeds[0]),
                    Fm.IRevNetDownsampling(dims),
                    Fm.GLOWCouplingBlock(down, subnet_constructor=sub[1], clamp=c.clamp),
                    Fm.PermuteRandom(down, seed=c.permutation_seeds[1]),
                    Fm.IRevNetUpsampling(down),
                    Fm.GLOWCouplingBlock(dims, subnet_constructor=sub[2], clamp=c.clamp),
                ]
            )
            # appended after the published modules, so those keep their indices and parameter names
            for _ in range(c.extra_couplings):
                self.module_list.append(Fm.GLOWCouplingBlock(dims, subnet_constructor=sub[2], clamp=c.clamp))
        np.random.set_state(np_state)
        if c.init_mixing == "average":
            self._initialise_average_mixing()

    def _initialise_average_mixing(self) -> None:
        """Set the first coupling to an exact linear mixing of the two channels (a, b) -> (u, v).

        Each subnet computes its shift t = k * cond exactly as k * (ReLU(cond) - ReLU(-cond)) through two
        hidden channels (centre taps +1 and -1), and its log-scale as a constant through the last
        convolution's bias. The other hidden channels keep their random first-layer weights (their outgoing
        weights are zero, as in the interleave init), so they receive gradients and train as usual. With
        m = the channel that reaches the fused image (:func:`average_route`):
        m = 0: a' = (a + b) / 2, b' = b - a' = (b - a) / 2;  m = 1: a' = (a - b) / 2, b' = b + a' = (a + b) / 2.
        """
        block = self.module_list[_COUPLING_1]
        m = average_route(self.config.permutation_seeds)
        sign = 1.0 if m == 0 else -1.0
        # s = clamp * 0.636 * atan(r) = log(1/2) for the first half, 0 for the second
        r_half = float(np.tan(np.log(0.5) / (block.clamp * _ATAN_FACTOR)))
        with torch.no_grad():
            for subnet, log_scale_bias, shift in ((block.subnet2, r_half, 0.5 * sign), (block.subnet1, 0.0, -sign)):
                first, last = subnet[0], subnet[2]
                first.weight[:2].zero_()
                first.bias[:2].zero_()
                first.weight[0, 0, 1, 1] = 1.0
                first.weight[1, 0, 1, 1] = -1.0
                last.weight.zero_()
                last.bias.zero_()
                last.bias[0] = log_scale_bias  # output 0: the log-scale of the one updated channel
                last.weight[1, 0, 1, 1] = shift  # output 1: the shift, k * ReLU(x) - k * ReLU(-x)
                last.weight[1, 1, 1, 1] = -shift

    # ----------------------------------------------------------------------------------------------
    # Weights and ActNorm state
    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # noqa: D102
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        for idx in (_DOWN, _UP):  # the pixel (un)shuffle equivalence holds for FrEIA's default kernel only
            mod = self.module_list[idx]
            k = mod.downsample_kernel.detach().cpu().reshape(-1, 4, 4)
            if getattr(mod, "legacy_backend", False) or not torch.equal(k, torch.eye(4).expand_as(k)):
                raise ValueError(f"module_list.{idx}: not FrEIA's default iRevNet kernel")
        self.mark_actnorm_initialised()  # loaded weights include the ActNorm scale and bias
        return result

    @property
    def actnorm_initialised(self) -> bool:
        return not getattr(self.module_list[_ACTNORM], "init_on_next_batch", False)

    def mark_actnorm_initialised(self) -> None:
        """Tell FrEIA's ActNorm that its scale and bias are set (the one place this flag is written)."""
        self.module_list[_ACTNORM].init_on_next_batch = False

    def initialise_actnorm(self, x: torch.Tensor) -> None:
        """Data-dependent ActNorm initialisation (zero mean, unit std per channel) from a batch."""
        self._check_input(x)
        actnorm = self.module_list[_ACTNORM]
        with torch.no_grad():
            if self.config.actnorm_init == "identity":
                actnorm.scale.zero_()
                actnorm.bias.zero_()
            else:
                x = self._squeeze(x)
                flat = x.transpose(0, 1).reshape(x.shape[1], -1)
                # FrEIA's own initialiser asserts the nominal 240x240 size; this is the same rule for any
                # size. A constant channel (std 0) keeps scale 1 instead of dividing by zero.
                std = flat.std(dim=1)
                log_scale = torch.where(std > 1e-8, -torch.log(std.clamp_min(1e-8)), torch.zeros_like(std))
                actnorm.scale.data.view(-1)[:] = log_scale
                actnorm.bias.data.view(-1)[:] = -(flat.mean(dim=1) * log_scale.exp())
        self.mark_actnorm_initialised()

    # ----------------------------------------------------------------------------------------------
    # Invertible core
    @staticmethod
    def _check_input(x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 2:
            raise UserInputError(f"expected a (N, 2, H, W) tensor of two stacked sources, got shape {tuple(x.shape)}")
        if x.shape[2] % 2 or x.shape[3] % 2:
            raise UserInputError(f"height and width must be even, got {x.shape[2]}x{x.shape[3]}")

    def _squeeze(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] image -> network input space (identity unless ``input_logit_eps`` > 0)."""
        eps = self.config.input_logit_eps
        return torch.logit(eps + (1 - 2 * eps) * x) if eps else x

    def _unsqueeze(self, h: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_squeeze`."""
        eps = self.config.input_logit_eps
        return (torch.sigmoid(h) - eps) / (1 - 2 * eps) if eps else h

    def _affine(self, subnet: nn.Module, cond: torch.Tensor, x: torch.Tensor, n: int, clamp: float,
                rev: bool) -> torch.Tensor:
        """One affine half of a GLOW coupling (FrEIA's ``_coupling1``/``_coupling2``): the subnet of
        ``cond`` gives the soft-clamped log-scale s (first ``n`` channels) and the shift t; returns
        e^s x + t, or (x - t) e^-s for ``rev``."""
        a = self._subnet(subnet, cond)
        # A channels-last output sliced by channel leaves a 4-element inner dimension, which the
        # element-wise kernels run unvectorised (atan 4x slower); one NCHW copy makes every slice contiguous.
        a = a.contiguous() if self.options.contiguous_coupling else a
        s, t = clamp * (_ATAN_FACTOR * torch.atan(a[:, :n])), a[:, n:]
        return (x - t) * torch.exp(-s) if rev else torch.exp(s) * x + t

    def _subnet(self, subnet: nn.Module, cond: torch.Tensor) -> torch.Tensor:
        """A coupling subnet on ``cond``, on the backend ``options`` selects (an instance may replace this
        method: the contribution maps route its ReLU through their own rule)."""
        return run_subnet(subnet, cond, self.config.subnet_out_relu, self.options)

    def _coupling_pass(self, block: nn.Module, a: torch.Tensor, b: torch.Tensor, rev: bool) -> Pair:
        """GLOW coupling (Kingma & Dhariwal 2018; Dinh et al. 2017), forward: y1 = e^s2(x2) x1 + t2(x2),
        then y2 = e^s1(y1) x2 + t1(y1); ``rev`` undoes it in the opposite order."""
        if rev:
            b = self._affine(block.subnet1, a, b, block.split_len2, block.clamp, rev=True)
            return self._affine(block.subnet2, b, a, block.split_len1, block.clamp, rev=True), b
        a = self._affine(block.subnet2, b, a, block.split_len1, block.clamp, rev=False)
        return a, self._affine(block.subnet1, a, b, block.split_len2, block.clamp, rev=False)

    def _coupling(self, idx: int, a: torch.Tensor, b: torch.Tensor, rev: bool) -> Pair:
        """Coupling block ``idx``. With ``options.memory_saving`` and autograd recording, it is
        checkpointed: only its two input halves are kept for the backward pass, which recomputes the
        subnets' hidden maps (``torch.utils.checkpoint``) instead of storing them."""
        block = self.module_list[idx]
        if self.options.memory_saving and torch.is_grad_enabled():
            return checkpoint(self._coupling_pass, block, a, b, rev, use_reentrant=False)
        return self._coupling_pass(block, a, b, rev)

    def _permute_pair(self, idx: int, pair: Pair, rev: bool) -> Pair:
        """FrEIA ``PermuteRandom`` on two channels held as two one-channel tensors: no copy."""
        perm = self.module_list[idx].perm_inv if rev else self.module_list[idx].perm
        return pair if int(perm[0]) == 0 else (pair[1], pair[0])

    def _permute_cat(self, idx: int, pair: Pair, rev: bool) -> torch.Tensor:
        perm = self.module_list[idx].perm_inv if rev else self.module_list[idx].perm
        return torch.cat(pair, 1).index_select(1, perm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(y_raw, z)``, each (N, 1, H, W). Initialises ActNorm from ``x`` on first use."""
        self._check_input(x)
        if not self.actnorm_initialised:
            self.initialise_actnorm(x)
        h = self._squeeze(x)
        an = self.module_list[_ACTNORM]
        scale = an.scale.exp()
        # ActNorm, written per channel so the two halves are separate contiguous tensors from the start.
        a = h[:, 0:1] * scale[:, 0:1] + an.bias[:, 0:1]
        b = h[:, 1:2] * scale[:, 1:2] + an.bias[:, 1:2]
        a, b = self._coupling(_COUPLING_1, a, b, rev=False)
        a, b = self._permute_pair(_PERMUTE_1, (a, b), rev=False)
        # iRevNet down-sampling of cat(a, b) = cat(unshuffle(a), unshuffle(b)); the 8-channel coupling
        # splits 4 / 4, i.e. exactly at that seam.
        a, b = self._coupling(_COUPLING_2, F.pixel_unshuffle(a, 2), F.pixel_unshuffle(b, 2), rev=False)
        h = self._permute_cat(_PERMUTE_2, (a, b), rev=False)
        a, b = self._coupling(_COUPLING_3, F.pixel_shuffle(h[:, :4], 2), F.pixel_shuffle(h[:, 4:], 2), rev=False)
        for idx in range(_COUPLING_3 + 1, len(self.module_list)):  # extra couplings
            a, b = self._coupling(idx, a, b, rev=False)
        return a, b

    def inverse(self, y_raw: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`forward`: ``inverse(*forward(x)) == x`` to float precision."""
        if y_raw.shape != z.shape or y_raw.ndim != 4 or y_raw.shape[1] != 1:
            raise UserInputError(
                f"y and z must both be (N, 1, H, W) of one shape, got {tuple(y_raw.shape)} and {tuple(z.shape)}"
            )
        if y_raw.shape[2] % 2 or y_raw.shape[3] % 2:
            raise UserInputError(f"height and width must be even, got {y_raw.shape[2]}x{y_raw.shape[3]}")
        if not self.actnorm_initialised:
            raise RuntimeError("ActNorm is not initialised: run a forward pass or load weights first")
        a, b = y_raw, z
        for idx in range(len(self.module_list) - 1, _COUPLING_3, -1):  # extra couplings, last first
            a, b = self._coupling(idx, a, b, rev=True)
        a, b = self._coupling(_COUPLING_3, a, b, rev=True)
        h = self._permute_cat(_PERMUTE_2, (F.pixel_unshuffle(a, 2), F.pixel_unshuffle(b, 2)), rev=True)
        a, b = self._coupling(_COUPLING_2, h[:, :4], h[:, 4:], rev=True)
        a, b = self._permute_pair(_PERMUTE_1, (F.pixel_shuffle(a, 2), F.pixel_shuffle(b, 2)), rev=True)
        a, b = self._coupling(_COUPLING_1, a, b, rev=True)
        an = self.module_list[_ACTNORM]
        inv_scale = (-an.scale).exp()
        h = torch.cat([(a - an.bias[:, 0:1]) * inv_scale[:, 0:1], (b - an.bias[:, 1:2]) * inv_scale[:, 1:2]], 1)
        return self._unsqueeze(h)

    # ----------------------------------------------------------------------------------------------
    # Fusion and decomposition of tensors
    def reverse_input(self, fused: torch.Tensor) -> torch.Tensor:
        """What the clinical reverse pass is fed for a fused image, per ``config.reverse_input``."""
        if self.config.reverse_input == "logit":
            eps = self.config.input_logit_eps
            if eps:
                return torch.logit(eps + (1 - 2 * eps) * fused.clamp(0.0, 1.0))
            return torch.logit(fused.clamp(1e-6, 1 - 1e-6))
        return fused

    def fused_image(self, y_raw: torch.Tensor) -> torch.Tensor:
        """The displayed fused image in [0, 1] for a pre-sigmoid ``y_raw``."""
        eps = self.config.input_logit_eps
        u = self.fused_image_unclamped(y_raw)
        return u.clamp(0.0, 1.0) if eps else u

    def fused_image_unclamped(self, y_raw: torch.Tensor) -> torch.Tensor:
        """:meth:`fused_image` before its clamp to [0, 1] (which applies only when ``input_logit_eps`` > 0)."""
        eps = self.config.input_logit_eps
        s = torch.sigmoid(y_raw)
        return (s - eps) / (1 - 2 * eps) if eps else s

    def output_map(self, x_raw: torch.Tensor) -> torch.Tensor:
        """Map the reverse output to images in [0, 1], per ``config.output_sigmoid``."""
        return torch.sigmoid(x_raw) if self.config.output_sigmoid else x_raw.clamp(0.0, 1.0)

    def fuse_tensor(self, x: torch.Tensor) -> tuple[torch.Tensor, Latent]:
        """Fuse a (N, 2, H, W) batch: returns the fused image in [0, 1] and the :class:`Latent`."""
        y_raw, z = self(x)
        return self.fused_image(y_raw), Latent(z=z, y_raw=y_raw)

    def decompose_tensor(self, fused: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Learned (clinical) decomposition of a fused batch (N, 1, H, W) with latent ``z``."""
        return self.output_map(self.inverse(self.reverse_input(fused), z))

    def contributions(self, first, second, steps: int = 32, baseline=None, batch_size: int = 4,
                      rule: str = "secant"):
        """Per-source contribution maps of the fused image by integrated gradients (forward-mode AD,
        Gauss–Legendre quadrature, ReLUs split at their switching points unless ``rule="gauss-legendre"``):
        ``fused ≈ baseline + first + second``. See
        :func:`fusioninn.models.contributions.fusioninn_contributions`; returns a
        :class:`~fusioninn.models.contributions.Contributions` of (N, H, W) float32 arrays."""
        from .contributions import fusioninn_contributions

        return fusioninn_contributions(self, first, second, steps=steps, baseline=baseline, batch_size=batch_size,
                                       rule=rule)

    def parameter_count(self) -> int:
        """Parameters as the published count: every tensor registered as a parameter (17,648 for the
        published widths and blocks; the two permutations' index tensors are FrEIA parameters too)."""
        return sum(p.numel() for p in self.parameters())

    def fused_and_decomposed_for_training(
        self, x: torch.Tensor, z_fresh: torch.Tensor | None = None, fused_noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training pass: ``(fused, z, decomposed)``.

        The decomposition is computed exactly as clinical decomposition will be: from the displayed fused
        image (plus ``fused_noise``, e.g. uniform +-0.5/255 so it survives an 8-bit export) and a fresh
        ``z_fresh`` ~ N(0, I) — never from the pre-sigmoid y, which holds values the displayed image has lost.
        """
        y_raw, z = self(x)
        fused = self.fused_image(y_raw)
        if z_fresh is None:
            z_fresh = torch.randn_like(z)
        seen = fused if fused_noise is None else (fused + fused_noise).clamp(0.0, 1.0)
        return fused, z, self.decompose_tensor(seen, z_fresh)

    # ----------------------------------------------------------------------------------------------
    # Array API: NumPy or torch, single images (H, W) or stacks (N, H, W) / (N, 1, H, W), e.g. the axial
    # slices of a volume, processed ``batch_size`` at a time (memory bounded by the batch).
    def fuse(self, x1: ArrayLike, x2: ArrayLike, batch_size: int = 16) -> tuple[ArrayLike, ArrayLike]:
        """Fuse two co-registered images (values in [0, 1]) -> ``(fused, latent)``.

        ``latent`` is a (N, 2, H, W) array/tensor [z, y_raw] (see :class:`Latent`), or (2, H, W) for a
        single image; pass it to :meth:`decompose` for an exact inverse.
        """
        a, kind, ndim = _to_batch(x1, "x1")
        b, _, _ = _to_batch(x2, "x2")
        if a.shape != b.shape:
            raise UserInputError(f"the two sources differ in shape: {tuple(np.shape(x1))} vs "
                                 f"{tuple(np.shape(x2))}")
        x = torch.cat([a, b], dim=1)
        self._check_input(x)
        dev = _device_of(self)
        fused_parts, latent_parts = [], []
        with torch.inference_mode():
            for i in range(0, x.shape[0], _check_batch_size(batch_size)):
                fused, lat = self.fuse_tensor(x[i : i + batch_size].to(dev))
                fused_parts.append(fused.cpu())
                latent_parts.append(lat.to_tensor().cpu())
        latent = torch.cat(latent_parts)
        latent_out = latent[0] if ndim == 2 else latent
        if kind == "numpy":
            latent_out = latent_out.numpy()
        return _from_batch(torch.cat(fused_parts), kind, ndim), latent_out

    def decompose(self, fused: ArrayLike, latent: ArrayLike | None = None, samples: int = 1,
                  seed: int | None = None, batch_size: int = 16,
                  latent_tolerance: float = 1.0 / 255 + 1e-4) -> Decomposition:
        """Decompose a fused image back into its two sources.

        Without ``latent`` (clinical mode) z is drawn from N(0, I) (``seed`` makes it repeatable); with
        ``samples`` = K > 1 the result is the mean of K decompositions and ``std`` their per-pixel standard
        deviation. With the ``latent`` returned by :meth:`fuse` the inverse is exact (float precision); a
        latent whose y does not reproduce ``fused`` (tolerance: one 8-bit grey level) is refused.
        """
        f, kind, ndim = _to_batch(fused, "fused")
        if samples < 1:
            raise UserInputError(f"samples must be >= 1, got {samples}")
        _check_batch_size(batch_size)
        self._check_input(torch.cat([f[:1], f[:1]], 1))
        if latent is not None:
            return self._decompose_exact(f, kind, ndim, latent, batch_size, latent_tolerance)
        dev = _device_of(self)
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()))
        means, stds = [], []
        with torch.inference_mode():
            for i in range(0, f.shape[0], batch_size):
                fb = f[i : i + batch_size].to(dev)
                acc = torch.zeros(fb.shape[0], 2, *fb.shape[2:], device=dev)
                acc2 = torch.zeros_like(acc)
                for _ in range(samples):
                    d = self.decompose_tensor(fb, torch.randn(fb.shape, generator=gen).to(dev))
                    acc += d
                    acc2 += d * d
                mean = acc / samples
                means.append(mean.cpu())
                stds.append((acc2 / samples - mean * mean).clamp_min(0).sqrt().cpu())
        x = torch.cat(means)
        std = torch.cat(stds) if samples > 1 else None
        if std is not None:
            std = std[0] if ndim == 2 else std
            std = std.numpy() if kind == "numpy" else std
        return Decomposition(_from_batch(x[:, :1], kind, ndim), _from_batch(x[:, 1:], kind, ndim), std)

    def _decompose_exact(self, f: torch.Tensor, kind: str, ndim: int, latent: ArrayLike, batch_size: int,
                         tolerance: float) -> Decomposition:
        lat_t, _ = check_array(latent, "latent", ndim=(3, 4), unit_range=False,
                               shape_text="(2, H, W) or (N, 2, H, W) [z, y_raw]")
        lat_t = (lat_t if isinstance(lat_t, torch.Tensor) else torch.from_numpy(lat_t)).float()
        lat_t = lat_t[None] if lat_t.ndim == 3 else lat_t
        if lat_t.shape[1] != 2 or lat_t.shape[0] != f.shape[0] or lat_t.shape[2:] != f.shape[2:]:
            raise UserInputError(
                f"latent of shape {tuple(lat_t.shape)} does not match the fused image {tuple(f.shape)}"
                " (expected [z, y_raw] per image)"
            )
        lat = Latent.from_tensor(lat_t)
        dev = _device_of(self)
        with torch.inference_mode():
            mismatch = (self.fused_image(lat.y_raw) - f).abs().max().item()
            if mismatch > tolerance:
                raise UserInputError(
                    f"latent does not belong to this fused image (max difference {mismatch:.3f} > {tolerance:.3f})"
                )
            outs = [
                self.inverse(lat.y_raw[i : i + batch_size].to(dev), lat.z[i : i + batch_size].to(dev)).cpu()
                for i in range(0, f.shape[0], batch_size)
            ]
        x = torch.cat(outs)
        return Decomposition(_from_batch(x[:, :1], kind, ndim), _from_batch(x[:, 1:], kind, ndim), None, exact=True)


def _check_batch_size(batch_size: int) -> int:
    if int(batch_size) < 1:
        raise UserInputError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def _to_batch(a: ArrayLike, name: str) -> tuple[torch.Tensor, str, int]:
    """Return (N, 1, H, W) float32 tensor, the input kind ('numpy'|'torch') and its ndim."""
    arr, _ = check_array(a, name, ndim=(2, 3, 4), channels=1,
                         shape_text="(H, W), (N, H, W) or (N, 1, H, W)")
    kind = "torch" if isinstance(arr, torch.Tensor) else "numpy"
    t = arr if kind == "torch" else torch.from_numpy(arr)
    ndim = t.ndim
    t = t[None, None] if ndim == 2 else t[:, None] if ndim == 3 else t
    return t.float(), kind, ndim


def _from_batch(t: torch.Tensor, kind: str, ndim: int) -> ArrayLike:
    t = t.detach()[0, 0] if ndim == 2 else t.detach()[:, 0] if ndim == 3 else t.detach()
    return t.cpu().numpy() if kind == "numpy" else t


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device
