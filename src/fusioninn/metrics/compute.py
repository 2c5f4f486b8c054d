"""All fusion scores of one triplet at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import UserInputError
from ._checks import MIN_SIDE, as_8bit, as_unit_float, check_protocol, check_same_shape
from .information import entropy, mutual_information, standard_deviation
from .psnr import psnr
from .q_fmi import q_fmi
from .q_ncie import q_ncie
from .q_p import q_p
from .q_ssim import q_ssim
from .q_xy import q_xy

__all__ = ["compute", "compute_all", "METRIC_KEYS", "Q_KEYS"]

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


def compute(
    a: Any,
    b: Any,
    fused: Any,
    names: str | Sequence[str] = "paper",
    colour: str = "source",
    protocol: str = "full",
) -> dict[str, float]:
    """Scores of (a, b, fused) for the metric keys ``names``, as ``{key: value}`` in the order asked.

    Args:
        a, b: the two source images; fused: the fused image. Grey (H, W) or colour (H, W, 3) NumPy arrays
            or torch tensors, uint8 or float in [0, 1]; grey and colour may be mixed (an infrared source
            is often grey); all of one height and width, at least 11 x 11.
        names: a group (``"paper"``, ``"vifb"``, ``"mefb"``, ``"liu"``, ``"all"``), a key such as
            ``"qabf@vifb"``, a comma-separated string of both, or a list of them. See
            :func:`fusioninn.metrics.registry.catalogue` for every key.
        colour: how colour images are reduced: ``"source"`` (each variant's own rule, e.g. per-channel
            mean for VIFB, grey for the Liu toolbox), or one rule for all: ``"mean"``, ``"grey"``
            (MATLAB rgb2gray) or ``"concat"``. Grey images are never changed.
        protocol: for the paper's five keys (``q_ssim`` ...) only: ``"full"`` (the published formulas over
            the whole image) or ``"reference"`` (what the MATLAB evaluation code computes); see
            :func:`compute_all`.

    Each variant receives the values its reference reads: 8-bit variants get float images quantised with
    ``floor(255 x + 0.5)``, float variants ``255 x`` (8-bit inputs are used as they are).
    """
    from . import registry
    from ._checks import as_255
    from ._colour import COLOUR_OPTIONS, apply_rule
    from ._matlab import memo_scope
    from .paper import REFERENCE_FUNCTIONS

    if colour not in COLOUR_OPTIONS:
        raise UserInputError(f"colour must be one of {', '.join(COLOUR_OPTIONS)}, got {colour!r}")
    check_protocol(protocol)
    keys = registry.resolve(names)
    raw = [as_255(x, n, MIN_SIDE) for x, n in ((a, "a"), (b, "b"), (fused, "fused"))]
    shapes = {n: v.shape[:2] for n, (v, _) in zip(("a", "b", "fused"), raw, strict=True)}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n} {s[0]}x{s[1]}" for n, s in shapes.items())
        raise UserInputError(f"images must have the same size, got {listed}")
    all_8bit = all(is8 for _, is8 in raw)
    views: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
        "float": tuple(v for v, _ in raw),  # type: ignore[dict-item]
        "8bit": tuple(v if is8 else np.floor(v + 0.5) for v, is8 in raw),  # type: ignore[dict-item]
    }
    grey = all(v.ndim == 2 for v, _ in raw)
    out: dict[str, float] = {}
    # Aliases (e.g. qcb@vifb, qcb@mefb, qcb@liu) are one function under different colour rules: on the
    # same inputs and rule they are one evaluation.
    scores: dict[tuple, float] = {}
    with memo_scope():  # keys that share an intermediate (e.g. qp@liu and qp@mefb) compute it once
        for key in keys:
            spec = registry.get(key)
            function = spec.function
            if protocol == "reference" and key in REFERENCE_FUNCTIONS:
                function = REFERENCE_FUNCTIONS[key]
            rule = spec.colour if colour == "source" else colour
            integer = spec.inputs == "8bit" or all_8bit
            same = (function, spec.inputs, integer, None if grey else rule)
            if same not in scores:
                try:
                    scores[same] = float(apply_rule(function, rule, *views[spec.inputs], integer=integer))
                except UserInputError as err:
                    raise UserInputError(f"{key}: {err}") from None
            out[key] = scores[same]
    return out
