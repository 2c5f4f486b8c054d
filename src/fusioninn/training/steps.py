"""One training step and one validation batch per model family: FusionINN (fuse, decompose, total loss)
and the fusion-only CNN baselines (fusion loss). The trainer holds no per-family branches."""

from __future__ import annotations

import torch

from ..losses.fusion import OPTIONAL_FUSION_TERMS, FusionINNLoss, LossWeights, decomposition_loss, fusion_loss
from ..metrics.ssim import ssim
from ..models.fusioninn import FusionINN
from . import distributed

__all__ = ["INNStep", "CNNStep", "step_for"]


def _q_ssim_sum(fused: torch.Tensor, x: torch.Tensor) -> float:
    return float((0.5 * (ssim(fused, x[:, :1], reduction="none") + ssim(fused, x[:, 1:], reduction="none"))).sum())


class CNNStep:
    """A fusion-only network: ``model(x)`` is the fused image; the loss is the fusion loss (the published one
    unless optional terms are on: the same terms as FusionINN's, so baselines can be trained alike)."""

    val_keys: tuple[str, ...] = ("q_ssim", "loss")

    def __init__(self, model: torch.nn.Module, weights: LossWeights, fused_noise: float = 0.0) -> None:
        self.model, self.weights = model, weights

    def curve_labels(self, pair: tuple[str, str]) -> list[tuple[str, str]]:
        return [("val_q_ssim", "Q_SSIM (fused)")]

    def loss(self, xl: torch.Tensor, n: int, lo: int, hi: int, world: int, rank: int, generator: torch.Generator
             ) -> tuple[torch.Tensor, dict]:
        """Loss of this rank's share ``xl`` (items [lo, hi)) of a global batch of ``n``, scaled so that the
        rank-averaged gradient equals a single process's. Each rank reads only its share."""
        loss, parts = fusion_loss(self.model(xl), xl, self.weights)
        scale = (hi - lo) * world / n
        logged = {"loss": loss.detach(), "fused_ssim": 0.5 * (parts["ssim_1"] + parts["ssim_2"])}
        # the optional terms that are on, under the names FusionINN's step logs them
        logged.update({k: parts[k] for k in OPTIONAL_FUSION_TERMS if k in parts})
        return loss * scale, logged

    def validation_latents(self, n: int, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor | None:
        return None

    def validate(self, x: torch.Tensor, z: torch.Tensor | None) -> dict:
        """Sums over the batch (the trainer divides by the validation set's size)."""
        fused = self.model(x)
        loss, _ = fusion_loss(fused, x, self.weights)
        return {"q_ssim": _q_ssim_sum(fused, x), "loss": float(loss) * len(x)}


class INNStep(CNNStep):
    """FusionINN: the fused image and the decomposition of the displayed fused image (plus 8-bit-sized
    noise) with a fresh latent, scored by :class:`~fusioninn.losses.FusionINNLoss`."""

    val_keys = ("q_ssim", "loss", "dec_ssim_1", "dec_ssim_2")

    def __init__(self, model: FusionINN, weights: LossWeights, fused_noise: float = 0.0, perturb=None) -> None:
        super().__init__(model, weights)
        self.fused_noise = fused_noise
        self.perturb = perturb  # a fusioninn.perturb.FusedPerturbation, or None
        self.loss_fn = FusionINNLoss(weights)

    def curve_labels(self, pair: tuple[str, str]) -> list[tuple[str, str]]:
        return super().curve_labels(pair) + [("val_dec_ssim_1", f"dec. SSIM {pair[0]}"),
                                             ("val_dec_ssim_2", f"dec. SSIM {pair[1]}")]

    def loss(self, xl: torch.Tensor, n: int, lo: int, hi: int, world: int, rank: int, generator: torch.Generator
             ) -> tuple[torch.Tensor, dict]:
        h, w, dev = xl.shape[2], xl.shape[3], xl.device
        # the global batch's noise, drawn identically on every rank (same generator state), then sliced:
        # a data-parallel run sees exactly the noise of a single-process run
        z_fresh = torch.randn(n, 1, h, w, device=dev, generator=generator)
        z_target = torch.randn(n, h * w, device=dev, generator=generator)
        noise = None
        if self.fused_noise:
            noise = ((torch.rand(n, 1, h, w, device=dev, generator=generator) - 0.5) * self.fused_noise)[lo:hi]
        if self.perturb is None:
            fused, z, dec = self.model.fused_and_decomposed_for_training(xl, z_fresh[lo:hi], noise)
        else:  # the same pass with the fused image perturbed before the reverse pass (fusioninn.perturb)
            y_raw, z = self.model(xl)
            fused = self.model.fused_image(y_raw)
            seen = self.perturb(fused, generator, lo, n)
            seen = seen if noise is None else (seen + noise).clamp(0.0, 1.0)
            dec = self.model.output_map(self.model.inverse(self.model.reverse_input(seen), z_fresh[lo:hi]))
        if world == 1:
            return self.loss_fn(xl, fused, z, dec, z_target=z_target)
        peers = distributed.all_gather_detached(z)
        empty = z.new_zeros(0, *z.shape[1:])
        before = torch.cat(peers[:rank]) if rank else empty
        after = torch.cat(peers[rank + 1 :]) if rank < world - 1 else empty
        return self.loss_fn(xl, fused, z, dec, z_target=z_target, z_peers=(before, after),
                            latent_scale=float(world), data_scale=(hi - lo) * world / n)

    def validation_latents(self, n: int, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 1, *shape, generator=generator)

    def validate(self, x: torch.Tensor, z: torch.Tensor | None) -> dict:
        y_raw, _ = self.model(x)
        fused = self.model.fused_image(y_raw)
        # exactly the clinical decomposition: from the displayed fused image and a fresh latent
        dec = self.model.decompose_tensor(fused, z)
        # The MMD term is left out: on a fixed-size chunk it is dominated by its diagonal and would make the
        # figure depend on how the set is chunked (and across ranks).
        w = self.weights
        l_fus, _ = fusion_loss(fused, x, w)
        l_dec, _ = decomposition_loss(dec, x, w)
        return {"q_ssim": _q_ssim_sum(fused, x), "loss": float(w.forward * l_fus + (1 - w.forward) * l_dec) * len(x),
                "dec_ssim_1": float(ssim(dec[:, :1], x[:, :1], reduction="none").sum()),
                "dec_ssim_2": float(ssim(dec[:, 1:], x[:, 1:], reduction="none").sum())}


def step_for(model: torch.nn.Module, weights: LossWeights, fused_noise: float, perturb=None) -> CNNStep:
    """The step object of ``model``'s family (``perturb``: FusionINN's fused-image perturbations)."""
    if isinstance(model, FusionINN):
        return INNStep(model, weights, fused_noise, perturb)
    return CNNStep(model, weights, fused_noise)
