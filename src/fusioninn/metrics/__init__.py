"""Fusion and decomposition quality metrics (one module per metric)."""

from .ssim import SSIMLoss, gaussian_filter, gaussian_window_1d, ssim, ssim_map

__all__ = ["SSIMLoss", "gaussian_filter", "gaussian_window_1d", "ssim", "ssim_map"]
