"""Augmentation of the source pairs a training step sees (``fusioninn train --augment``).

With one real training case, a network can learn that case's intensities instead of how to fuse and
decompose; these augmentations widen what it sees:

- ``dihedral``: a random 90° rotation of each batch's crop (with the horizontal flip every cropped run
  already has, the 8 symmetries of the square);
- ``gamma[:S]``: per slice and per source, intensities raised to a power γ = exp(u), u uniform in [-S, S]
  (default S 0.3; TorchIO's ``RandomGamma`` default log-gamma range): the two sequences' contrasts vary
  independently, so the relation between them has to be read from the images, not remembered.

Every draw comes from the epoch plan's generator (seed, epoch): a resumed run sees the same augmentations,
and every rank of a data-parallel run draws them for the whole global batch and takes its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SourceAugmentation", "AUGMENT_KINDS"]

AUGMENT_KINDS = ("dihedral", "gamma")
DEFAULT_LOG_GAMMA = 0.3


@dataclass(frozen=True)
class SourceAugmentation:
    """Which augmentations a run uses; ``log_gamma`` 0 = no gamma."""

    dihedral: bool = False
    log_gamma: float = 0.0

    @classmethod
    def from_spec(cls, spec: str) -> SourceAugmentation:
        """``"dihedral"``, ``"gamma"``, ``"gamma:0.4"`` or a comma-separated combination."""
        dihedral, log_gamma = False, 0.0
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            kind, sep, value = item.partition(":")
            if kind == "dihedral" and not sep:
                dihedral = True
            elif kind == "gamma":
                try:
                    log_gamma = float(value) if sep else DEFAULT_LOG_GAMMA
                except ValueError:
                    raise ValueError(f"augmentation {item!r}: gamma takes a number, e.g. gamma:0.3") from None
                if not 0 < log_gamma <= 1:
                    raise ValueError(f"augmentation {item!r}: the log-gamma range must lie in (0, 1]")
            else:
                raise ValueError(f"augmentations must be some of {', '.join(AUGMENT_KINDS)} (gamma:S for a "
                                 f"log-gamma range), got {item!r}")
        if not (dihedral or log_gamma):
            raise ValueError(f"augmentation spec {spec!r} names no augmentation")
        return cls(dihedral=dihedral, log_gamma=log_gamma)

    def plan(self, generator: torch.Generator, steps: int, batch_size: int) -> dict[str, torch.Tensor]:
        """One epoch's draws: ``rot90`` (steps,) quarter turns, ``log_gamma`` (steps, batch_size, 2)."""
        rot = (torch.randint(0, 4, (steps,), generator=generator) if self.dihedral
               else torch.zeros(steps, dtype=torch.long))
        log_gamma = ((2 * torch.rand(steps, batch_size, 2, generator=generator) - 1) * self.log_gamma
                     if self.log_gamma else torch.zeros(steps, batch_size, 2))
        return {"rot90": rot, "log_gamma": log_gamma}

    def apply(self, x: torch.Tensor, plan: dict[str, torch.Tensor], step: int, lo: int = 0) -> torch.Tensor:
        """Augment ``x`` (N, 2, H, W) in [0, 1], rows ``lo`` to ``lo + N`` of global batch ``step``."""
        turns = int(plan["rot90"][step])
        if turns and x.shape[-1] == x.shape[-2]:
            x = torch.rot90(x, turns, dims=(-2, -1))
        if self.log_gamma:
            gamma = plan["log_gamma"][step, lo : lo + x.shape[0]].exp().to(x.device, x.dtype)
            x = x.clamp_min(0) ** gamma[:, :, None, None]
        return x.contiguous()
