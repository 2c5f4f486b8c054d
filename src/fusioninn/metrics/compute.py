"""All fusion scores of one triplet at once."""

from __future__ import annotations

from typing import Any

from ._checks import MIN_SIDE, as_8bit, as_unit_float, check_protocol, check_same_shape
from .information import entropy, mutual_information, standard_deviation
from .psnr import psnr
from .q_fmi import q_fmi
from .q_ncie import q_ncie
from .q_p import q_p
from .q_ssim import q_ssim
from .q_xy import q_xy

__all__ = ["compute_all", "METRIC_KEYS", "Q_KEYS"]

#: The five metrics of the published table.
Q_KEYS = ("q_ssim", "q_fmi", "q_ncie", "q_xy", "q_p")
#: Keys of :func:`compute_all`, in table order.
METRIC_KEYS = Q_KEYS + ("psnr", "mi", "en", "sd")


def compute_all(a: Any, b: Any, fused: Any, protocol: str = "full") -> dict[str, float]:
    """Every fusion score of (a, b, fused) under ``protocol`` ("full" or "reference").

    Quantisation: Q_SSIM (protocol "full") and PSNR use the float [0, 1] images; FMI, NCIE, Q_XY, Q_P,
    the reference Q_SSIM, MI, EN and SD use the 8-bit images (see :mod:`fusioninn.metrics._checks`).
    Inputs are checked once here (2-D, same size, >= 11x11, finite, 0..255 or [0, 1]).
    """
    check_protocol(protocol)
    # Convert once: each metric then receives exact 8-bit or float arrays and skips re-quantising.
    u = [as_unit_float(x, n, MIN_SIDE) for x, n in ((a, "a"), (b, "b"), (fused, "fused"))]
    check_same_shape(dict(zip(("a", "b", "fused"), u, strict=True)))
    q8 = [as_8bit(x, n, MIN_SIDE).astype("uint8") for x, n in ((a, "a"), (b, "b"), (fused, "fused"))]
    return {
        "q_ssim": q_ssim(*(u if protocol == "full" else q8), protocol=protocol),
        "q_fmi": q_fmi(*q8, protocol=protocol),
        "q_ncie": q_ncie(*q8, protocol=protocol),
        "q_xy": q_xy(*q8, protocol=protocol),
        "q_p": q_p(*q8, protocol=protocol),
        "psnr": psnr(*u),
        "mi": mutual_information(*q8),
        "en": entropy(q8[2]),
        "sd": standard_deviation(q8[2]),
    }
