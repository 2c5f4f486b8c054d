"""Named training variants of issue #17 (a clean, sharp fused image that still decomposes after a real
imaging pipeline): each is a set of ``fusioninn train`` settings, so one command trains it, e.g.

    fusioninn train --variant robust-grid --data ... --init fusioninn-v1 --out runs/robust-grid

Explicit options on the command line win over a variant's settings. docs/training.md reports what each
variant gave; the loss terms are in fusioninn.losses (gradient.py, grid.py, multiscale_gradient.py,
laplacian_detail.py, salience_intensity.py), the perturbations in fusioninn.perturb. The fusion-loss terms
apply to the CNN baselines too (``--model unet --variant sharp``), for the fairness check of issue #17.

Weights of the edge/detail terms (``python benchmarks/edge_terms_scale.py``): at the start of a fine-tune
from fusioninn-v1 on TCGA-DU-7294 (120-pixel crops) the SSIM part of the fusion loss is ~0.08 and the terms
are gradient 0.049, ms_gradient 0.051, laplacian_detail 0.0074, salience_intensity 0.017; from the average
to the Laplacian-pyramid rule they move by -0.016, -0.017, -0.004, -0.0004 (SSIM part: +0.018, the other
way). The weights below give each edge term a pull about as large as the SSIM part's (laplacian_detail 4:
its coefficients are small); salience_intensity 1 pulls towards the maximum rule (0.008) over the
average (0.020).
"""

from __future__ import annotations

__all__ = ["VARIANTS"]

# the edge/detail terms of "sharp" and the robust-r2 settings, shared by the variants built on them
_SHARP_TERMS = {"ms_gradient": 1.0, "laplacian_detail": 4.0, "salience_intensity": 1.0}
_ROBUST_R2_LOSS = {"gradient": 1.0, "grid": 2.0, "dec_r2": 1.0}
_STRONG_PERTURBATIONS = {"fused_perturb": "jpeg:85-95,blur:0.4-0.8,shift:0.25-0.5", "perturb_share": 0.85}

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
    # the edge term plus one edge/detail term each (one at a time)
    "ms-edge": {"loss": {"gradient": 1.0, "ms_gradient": 1.0}},
    "laplacian-detail": {"loss": {"gradient": 1.0, "laplacian_detail": 4.0}},
    "salience": {"loss": {"gradient": 1.0, "salience_intensity": 1.0}},
    # all edge/detail terms
    "sharp": {"loss": {"gradient": 1.0, **_SHARP_TERMS}},
    # ... and the grid penalty, so sharper edges do not come back as a pixel-grid pattern
    "sharp-grid": {"loss": {"gradient": 1.0, **_SHARP_TERMS, "grid": 0.3}},
    # the recipe of the fusioninn-robust weights (a fine-tune of fusioninn-v1, docs/training.md): a strong grid
    # penalty, the decomposition R² term, and strong perturbations of most fused images before the reverse pass
    "robust-r2": {"loss": dict(_ROBUST_R2_LOSS), **_STRONG_PERTURBATIONS},
    # ... with the edge/detail terms of "sharp"
    "robust-r2-sharp": {"loss": {**_ROBUST_R2_LOSS, **_SHARP_TERMS}, **_STRONG_PERTURBATIONS},
    # robust-r2 with augmented sources (fusioninn.training.augment): random 90-degree turns and per-source gamma,
    # so that with one real training case the decomposition cannot lean on that case's intensities
    "robust-r2-aug": {"loss": dict(_ROBUST_R2_LOSS), **_STRONG_PERTURBATIONS, "augment": "dihedral,gamma"},
    # capacity: twice the subnet widths (about twice the parameters); two more full-resolution couplings; both
    "wide": {"widths": (64, 128, 64)},
    "deep": {"extra_couplings": 2},
    "wide-deep": {"widths": (64, 128, 64), "extra_couplings": 2},
    # a step-0 fused image that is the sources' average (in logit space), not a pixel interleave; fast
    # recipe, training from scratch
    "average-init": {"init_mixing": "average"},
}
