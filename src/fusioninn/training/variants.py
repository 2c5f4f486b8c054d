"""Named training variants of issue #17 (a clean, sharp fused image that still decomposes after a real
imaging pipeline): each is a set of ``fusioninn train`` settings, so one command trains it, e.g.

    fusioninn train --variant robust-grid --data ... --init fusioninn-v1 --out runs/robust-grid

Explicit options on the command line win over a variant's settings. docs/training.md reports what each
variant gave; the loss terms are in fusioninn.losses (gradient.py, grid.py), the perturbations in
fusioninn.perturb.
"""

from __future__ import annotations

__all__ = ["VARIANTS"]

#: variant name -> TrainConfig fields ("loss" holds LossWeights fields).
VARIANTS: dict[str, dict] = {
    # the edge term of the shipped v1 weights' fine-tune alone
    "edge": {"loss": {"gradient": 1.0}},
    # + a penalty on the fused image's power at the grid frequencies (losses/grid.py)
    "grid": {"loss": {"gradient": 1.0, "grid": 0.3}},
    # + JPEG-like quantisation, blur, sub-pixel resampling or noise of half the fused images before the
    # reverse pass (the robust-watermarking recipe)
    "robust": {"loss": {"gradient": 1.0}, "fused_perturb": "jpeg,blur,shift,noise", "perturb_share": 0.5},
    # both
    "robust-grid": {"loss": {"gradient": 1.0, "grid": 0.3}, "fused_perturb": "jpeg,blur,shift,noise",
                    "perturb_share": 0.5},
    # capacity: twice the subnet widths (4x the parameters); two more full-resolution couplings; both
    "wide": {"widths": (64, 128, 64)},
    "deep": {"extra_couplings": 2},
    "wide-deep": {"widths": (64, 128, 64), "extra_couplings": 2},
    # a step-0 fused image that is the sources' average (in logit space), not a pixel interleave; fast
    # recipe, training from scratch
    "average-init": {"init_mixing": "average"},
}
