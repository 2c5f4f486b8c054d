"""Window filters shared by the MATLAB-derived metrics (NumPy/SciPy, float64).

Two placements are needed:

- :func:`valid_moments` / :func:`valid_filter`: the window slides over the whole image where it fits
  (``filter2(..., 'valid')``); used by the ``full`` protocol.
- :func:`centre_filter`: what the reference toolbox actually computes with ``imfilter(kernel, image,
  'conv')`` - the kernel and image arguments swapped, so the output has the kernel's size and covers only
  the image centre. MATLAB's ``conv2(A, B, 'same')`` takes the central part of the full convolution
  starting at 0-based index ``size(B) // 2``; for an even-sized image that is one pixel further than
  ``scipy.signal.convolve2d(..., 'same')`` would put it, so the placement is written out here.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..filters import SOBEL_X, SOBEL_Y, gaussian_1d
from ._matlab import memo_arrays

__all__ = ["fspecial_gaussian", "centre_filter", "valid_filter", "ssim_from_moments", "SOBEL_X", "SOBEL_Y"]


def fspecial_gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """MATLAB's ``fspecial('gaussian', size, sigma)``: values below eps*max set to 0, sum 1."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    h = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    h[h < np.finfo(np.float64).eps * h.max()] = 0.0
    return h / h.sum()


def centre_patch(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The (2k-1)-sized zero-padded patch around the centre that ``centre_filter`` reads."""
    kh, kw = shape
    h, w = images.shape[-2:]
    r_lo, c_lo = h // 2 - (kh - 1), w // 2 - (kw - 1)
    r_hi, c_hi = h // 2 + kh, w // 2 + kw
    if r_lo < 0 or c_lo < 0 or r_hi > h or c_hi > w:  # tiny image: the windows reach the zero padding
        pad = [(0, 0)] * (images.ndim - 2) + [(kh, kh), (kw, kw)]
        images = np.pad(images, pad)
        r_lo, r_hi, c_lo, c_hi = r_lo + kh, r_hi + kh, c_lo + kw, c_hi + kw
    return images[..., r_lo:r_hi, c_lo:c_hi]


def _valid_conv(patch: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True 2-D convolution of the last two axes, valid region only."""
    windows = np.lib.stride_tricks.sliding_window_view(patch, kernel.shape, axis=(-2, -1))
    return np.einsum("...pqij,ij->...pq", windows, kernel[::-1, ::-1])


def centre_filter(kernel: np.ndarray, images: np.ndarray) -> np.ndarray:
    """``imfilter(kernel, image, 'conv')`` for a stack of images (..., H, W): a kernel-sized output.

    out[p, q] = sum_ij kernel[i, j] * image[H//2 + p - i, W//2 + q - j], zero outside the image: a valid
    true convolution of the (2k-1)-sized centre patch gives exactly the k x k 'same' centre.
    """
    return _valid_conv(centre_patch(images, kernel.shape), kernel)


def valid_filter(images: np.ndarray, window_1d: np.ndarray) -> np.ndarray:
    """Separable correlation of the last two axes with ``window_1d``, valid region only."""
    r = window_1d.size // 2
    out = ndimage.correlate1d(images, window_1d, axis=-1, mode="constant")
    out = ndimage.correlate1d(out, window_1d, axis=-2, mode="constant")
    return out[..., r : out.shape[-2] - r, r : out.shape[-1] - r]


def local_moments(
    x: np.ndarray, y: np.ndarray, reference: bool, size: int = 11, sigma: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian-weighted means, variances (E[x^2] - mu^2) and covariance of two images.

    ``reference=True`` evaluates them at the centre windows the toolbox uses, else over the valid region.
    """
    if x.shape[-1] < size or x.shape[-2] < size:
        raise ValueError(f"images of {x.shape[-2]}x{x.shape[-1]} are smaller than the {size}x{size} window")
    if reference:
        # Only the centre patch matters: crop first, then form the products.
        x, y = centre_patch(x, (size, size)), centre_patch(y, (size, size))
        m = _valid_conv(np.stack([x, y, x * x, y * y, x * y]), fspecial_gaussian(size, sigma))
    else:
        stack = np.stack([x, y, x * x, y * y, x * y])
        m = valid_filter(stack, gaussian_1d(size, sigma))
    mu_x, mu_y = m[0], m[1]
    return mu_x, mu_y, m[2] - mu_x * mu_x, m[3] - mu_y * mu_y, m[4] - mu_x * mu_y


def ssim_map_255(
    x: np.ndarray, y: np.ndarray, reference: bool, data_range: float = 255.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SSIM map of Wang et al. (2004) as ``ssim_index.m`` computes it; also returns both variances.

    ``x`` and ``y`` may be stacks (N, H, W) of image pairs.
    """
    mu_x, mu_y, var_x, var_y, cov = local_moments(x, y, reference)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ssim_from_moments(mu_x, mu_y, var_x, var_y, cov, c1, c2), var_x, var_y


def ssim_from_moments(
    mu_x: np.ndarray, mu_y: np.ndarray, var_x: np.ndarray, var_y: np.ndarray, cov: np.ndarray, c1: float, c2: float
) -> np.ndarray:
    """The SSIM map (2 mu_x mu_y + C1)(2 cov + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)).

    NumPy, in the toolboxes' order of operations (the metrics' fixtures depend on it); the torch
    :func:`fusioninn.filters.ssim_from_moments` of the losses groups the terms differently.
    """
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)
    return num / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))


@memo_arrays()
def fusion_ssim_maps(
    a: np.ndarray, b: np.ndarray, f: np.ndarray, reference: bool, data_range: float = 255.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SSIM maps of (a, f) and (b, f) and the local variances of a and b, from 8 filtered maps.

    The same numbers as two :func:`ssim_map_255` calls (SSIM is symmetric in its arguments), but the
    moments of ``f`` are filtered once. Within one ``compute`` call the maps are shared (``ssim@vifb``,
    ``ssim@liu``, ``qs@liu``, ``q_p`` use the same ones); callers must not modify them.
    """
    size, sigma = 11, 1.5
    if reference:
        a, b, f = (centre_patch(x, (size, size)) for x in (a, b, f))
        stack = np.stack([a, b, f, a * a, b * b, f * f, a * f, b * f])
        m = _valid_conv(stack, fspecial_gaussian(size, sigma))
    else:
        stack = np.stack([a, b, f, a * a, b * b, f * f, a * f, b * f])
        m = valid_filter(stack, gaussian_1d(size, sigma))
    mu_a, mu_b, mu_f = m[0], m[1], m[2]
    var_a, var_b, var_f = m[3] - mu_a * mu_a, m[4] - mu_b * mu_b, m[5] - mu_f * mu_f
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    map_af = ssim_from_moments(mu_a, mu_f, var_a, var_f, m[6] - mu_a * mu_f, c1, c2)
    map_bf = ssim_from_moments(mu_b, mu_f, var_b, var_f, m[7] - mu_b * mu_f, c1, c2)
    return map_af, map_bf, var_a, var_b
