"""Fusion and decomposition quality metrics (one module per metric).

The five metrics of the FusionINN table - :func:`q_ssim`, :func:`q_fmi`, :func:`q_ncie`, :func:`q_xy`,
:func:`q_p` - take ``protocol="full"`` (the published formula over the whole image, the default) or
``protocol="reference"`` (what the MATLAB evaluation code actually computes); see ``docs/metrics.md``.
Inputs are 2-D NumPy arrays or torch tensors, uint8 or float in [0, 1].

Every variant of every metric, keyed ``<metric>@<source>`` (``qabf@vifb``, ``mi@qu`` ...), is in the
catalogue of :mod:`fusioninn.metrics.registry`; :func:`compute` scores a triplet for any keys or groups
(``"paper"``, ``"vifb"``, ``"mefb"``, ``"liu"``, ``"all"``), grey or colour.
"""

from . import registry
from .compute import METRIC_KEYS, Q_KEYS, compute, compute_all
from .decomposition import decomposition_scores
from .information import entropy, mutual_information, mutual_information_pair, standard_deviation
from .psnr import PSNR_MAX, psnr, psnr_pair
from .q_fmi import q_fmi
from .q_ncie import q_ncie
from .q_p import q_p
from .q_ssim import q_ssim, ssim_float
from .q_xy import q_xy
from .ssim import SSIMLoss, gaussian_filter, gaussian_window_1d, ssim, ssim_map

__all__ = [
    "METRIC_KEYS",
    "PSNR_MAX",
    "Q_KEYS",
    "SSIMLoss",
    "compute",
    "compute_all",
    "decomposition_scores",
    "entropy",
    "gaussian_filter",
    "gaussian_window_1d",
    "mutual_information",
    "mutual_information_pair",
    "psnr",
    "psnr_pair",
    "q_fmi",
    "q_ncie",
    "q_p",
    "q_ssim",
    "q_xy",
    "registry",
    "ssim",
    "ssim_float",
    "ssim_map",
    "standard_deviation",
]
