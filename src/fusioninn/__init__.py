"""fusioninn: decomposable multimodal brain-MRI image fusion with invertible networks (FusionINN).

>>> import fusioninn
>>> model = fusioninn.load_pretrained()          # the shipped weights
>>> fused, latent = model.fuse(t1ce, flair)      # arrays or tensors, (H, W) or (N, H, W)
>>> t1ce_hat, flair_hat = model.decompose(fused)  # clinical mode: fresh latent
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
