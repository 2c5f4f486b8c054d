"""The FusionINN invertible network, assembled from FrEIA blocks in the published order.

Kumar et al., "FusionINN: Decomposable Image Fusion for Brain Tumor Monitoring", arXiv:2403.15769.

    ActNorm -> GLOW coupling (width 32) -> random permutation -> iRevNet downsampling
    -> GLOW coupling (width 64) -> random permutation -> iRevNet upsampling
    -> GLOW coupling (width 32) -> split: channel 0 = y (fused, pre-sigmoid), channel 1 = z (latent)

The modules sit in ``module_list`` in that order, so the parameter names are those of the original
FrEIA ``GraphINN`` and an original checkpoint loads without renaming. The split has no parameters and is
done by slicing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import FrEIA.modules as Fm
import numpy as np
import torch
from torch import nn

__all__ = ["FusionINNConfig", "FusionINN", "Latent"]


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
    """

    in_channels: int = 2
    widths: tuple[int, int, int] = (32, 64, 32)
    clamp: float = 2.0
    subnet_out_relu: bool = True
    zero_init: bool = False
    reverse_input: str = "fused"
    output_sigmoid: bool = True
    permutation_seeds: tuple[int, int] = (1, 2)
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
        if self.zero_init and self.subnet_out_relu:
            raise ValueError("zero_init needs subnet_out_relu=False (a ReLU at 0 passes no gradient)")

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
    def fast(cls) -> FusionINNConfig:
        """Our CPU recipe's network: identity-initialised couplings, exact-logit reverse input."""
        return cls(subnet_out_relu=False, zero_init=True, reverse_input="logit", output_sigmoid=False)


def _subnet_constructor(width: int, out_relu: bool, zero_init: bool):
    def build(c_in: int, c_out: int) -> nn.Module:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, c_out, 3, padding=1),
        ]
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


class FusionINN(nn.Module):
    """Invertible fusion network. ``forward(x)`` maps (N, 2, H, W) to ``(y_raw, z)``; ``inverse`` undoes it.

    H and W must be even (the iRevNet downsampling works on 2x2 blocks).
    """

    def __init__(self, config: FusionINNConfig | None = None) -> None:
        super().__init__()
        self.config = config or FusionINNConfig()
        c = self.config
        w1, w2, w3 = c.widths
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
                    Fm.GLOWCouplingBlock(dims, subnet_constructor=_subnet_constructor(w1, c.subnet_out_relu, c.zero_init), clamp=c.clamp),
                    Fm.PermuteRandom(dims, seed=c.permutation_seeds[0]),
                    Fm.IRevNetDownsampling(dims),
                    Fm.GLOWCouplingBlock(down, subnet_constructor=_subnet_constructor(w2, c.subnet_out_relu, c.zero_init), clamp=c.clamp),
                    Fm.PermuteRandom(down, seed=c.permutation_seeds[1]),
                    Fm.IRevNetUpsampling(down),
                    Fm.GLOWCouplingBlock(dims, subnet_constructor=_subnet_constructor(w3, c.subnet_out_relu, c.zero_init), clamp=c.clamp),
                ]
            )
        np.random.set_state(np_state)

    # ----------------------------------------------------------------------------------------------
    # Invertible core
    @staticmethod
    def _check_input(x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 2:
            raise ValueError(f"expected a (N, 2, H, W) tensor of two stacked sources, got shape {tuple(x.shape)}")
        if x.shape[2] % 2 or x.shape[3] % 2:
            raise ValueError(f"height and width must be even, got {x.shape[2]}x{x.shape[3]}")

    @property
    def actnorm_initialised(self) -> bool:
        return not getattr(self.module_list[0], "init_on_next_batch", False)

    def initialise_actnorm(self, x: torch.Tensor) -> None:
        """Data-dependent ActNorm initialisation (zero mean, unit std per channel) from a batch."""
        self._check_input(x)
        actnorm = self.module_list[0]
        with torch.no_grad():
            flat = x.transpose(0, 1).reshape(x.shape[1], -1)
            # FrEIA's own initialiser asserts the nominal 240x240 size; this is the same rule for any size.
            # A constant channel (std 0) keeps scale 1 instead of dividing by zero.
            std = flat.std(dim=1)
            log_scale = torch.where(std > 1e-8, -torch.log(std.clamp_min(1e-8)), torch.zeros_like(std))
            actnorm.scale.data.view(-1)[:] = log_scale
            actnorm.bias.data.view(-1)[:] = -(flat.mean(dim=1) * log_scale.exp())
        actnorm.init_on_next_batch = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(y_raw, z)``, each (N, 1, H, W)."""
        self._check_input(x)
        if not self.actnorm_initialised:
            self.initialise_actnorm(x)
        h = x
        for module in self.module_list:
            (h,), _ = module([h], rev=False, jac=False)
        return h[:, :1], h[:, 1:]

    def inverse(self, y_raw: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`forward`: ``inverse(*forward(x)) == x`` to float precision."""
        if y_raw.shape != z.shape or y_raw.ndim != 4 or y_raw.shape[1] != 1:
            raise ValueError(
                f"y and z must both be (N, 1, H, W) of one shape, got {tuple(y_raw.shape)} and {tuple(z.shape)}"
            )
        h = torch.cat([y_raw, z], dim=1)
        self._check_input(h)
        if not self.actnorm_initialised:
            raise RuntimeError("ActNorm is not initialised: run a forward pass or load weights first")
        for module in reversed(self.module_list):
            (h,), _ = module([h], rev=True, jac=False)
        return h

    # ----------------------------------------------------------------------------------------------
    # Fusion and decomposition
    def reverse_input(self, fused: torch.Tensor) -> torch.Tensor:
        """What the clinical reverse pass is fed for a fused image, per ``config.reverse_input``."""
        if self.config.reverse_input == "logit":
            eps = 1e-6
            return torch.logit(fused.clamp(eps, 1 - eps))
        return fused

    def output_map(self, x_raw: torch.Tensor) -> torch.Tensor:
        """Map the reverse output to images in [0, 1], per ``config.output_sigmoid``."""
        return torch.sigmoid(x_raw) if self.config.output_sigmoid else x_raw.clamp(0.0, 1.0)

    def fuse_tensor(self, x: torch.Tensor) -> tuple[torch.Tensor, Latent]:
        """Fuse a (N, 2, H, W) batch: returns the fused image in [0, 1] and the :class:`Latent`."""
        y_raw, z = self(x)
        return torch.sigmoid(y_raw), Latent(z=z, y_raw=y_raw)

    def decompose_tensor(self, fused: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Learned (clinical) decomposition of a fused batch (N, 1, H, W) with latent ``z``."""
        return self.output_map(self.inverse(self.reverse_input(fused), z))

    def parameter_count(self) -> int:
        """Parameters as the published count: every tensor registered as a parameter (17,648)."""
        return sum(p.numel() for p in self.parameters())

    def fused_and_decomposed_for_training(
        self, x: torch.Tensor, z_fresh: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training pass: ``(fused, z, decomposed)`` where decomposition uses ``z_fresh`` ~ N(0, I)."""
        y_raw, z = self(x)
        fused = torch.sigmoid(y_raw)
        if z_fresh is None:
            z_fresh = torch.randn_like(z)
        rev_in = y_raw if self.config.reverse_input == "logit" else fused
        decomposed = self.output_map(self.inverse(rev_in, z_fresh))
        return fused, z, decomposed


def log2_pixels(h: int, w: int) -> float:  # pragma: no cover - tiny helper for reports
    return math.log2(h * w)
