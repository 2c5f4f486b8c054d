"""Catalogue entries for the five metrics of the FusionINN table (Kumar et al., arXiv:2403.15769).

Keys ``q_ssim q_fmi q_ncie q_xy q_p`` are the ``full`` protocol of :mod:`fusioninn.metrics.q_ssim` etc.:
the published formulas over the whole image. ``compute(..., protocol="reference")`` swaps in
:data:`REFERENCE_FUNCTIONS`, what the MATLAB code behind the table computes (centre-only SSIM, Q_XY and
Q_P; see docs/metrics.md). Note that the paper's Q_P is Piella's metric, **not** MEFB's ``qp`` (Zhao's
phase-congruency metric).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .q_fmi import q_fmi
from .q_ncie import q_ncie
from .q_p import q_p
from .q_ssim import q_ssim
from .q_xy import q_xy
from .registry import MetricSpec

__all__ = ["REFERENCE_FUNCTIONS", "SAME_AS", "VARIANTS"]

_TOOLBOX = "nish03/FusionINN:FusionMetrics/"  # the Liu toolbox files as the FusionINN evaluation ran them


def _u8(x: np.ndarray) -> np.ndarray:
    return x.astype(np.uint8)


def _ssim_full(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    return q_ssim(a / 255.0, b / 255.0, f / 255.0)


def _on_8bit(fn, protocol: str):
    def metric(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
        return fn(_u8(a), _u8(b), _u8(f), protocol=protocol)

    metric.__name__ = f"{fn.__name__}_{protocol}"
    return metric


_FUNCTIONS = {"q_ssim": q_ssim, "q_fmi": q_fmi, "q_ncie": q_ncie, "q_xy": q_xy, "q_p": q_p}

#: The ``reference`` protocol of each key (8-bit inputs).
REFERENCE_FUNCTIONS = {key: _on_8bit(fn, "reference") for key, fn in _FUNCTIONS.items()}

#: Which catalogue variant each of the paper's five names is, as (``full`` protocol, ``reference``
#: protocol); None where no other key computes it (Q_XY's and Q_P's ``full`` readings are our own:
#: the 2000 paper's weighting over the interior, Piella's Q with flat windows' lambda thresholded).
#: Equal on 8-bit images (tests/metrics/test_shared_intermediates.py).
SAME_AS: dict[str, tuple[str | None, str]] = {
    "q_ssim": ("ssim@liu", "ssim@fusioninn"),
    "q_fmi": ("fmi@haghighat2014", "fmi@fusioninn"),
    "q_ncie": ("qncie@fusioninn", "qncie@fusioninn"),
    "q_xy": (None, "qabf@fusioninn"),
    "q_p": (None, "piella@fusioninn"),
}


def _same_as(key: str) -> str:
    full, reference = SAME_AS[key]
    if full is None:
        return f" protocol='reference' = {reference}; the full reading is no other key's."
    return f" Same as {full}; protocol='reference' = {reference}."


def _toolbox_key(key: str, file: str, formula: str, note: str) -> MetricSpec:
    """A key whose ``full`` protocol runs on the 8-bit grey images, matched to the toolbox file ``file``."""
    return MetricSpec(
        key=key,
        function=_on_8bit(_FUNCTIONS[key], "full"),
        formula=formula,
        reference=_TOOLBOX + file,
        inputs="8bit",
        colour="grey",
        higher_is_better=True,
        note=note,
    )


_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="q_ssim",
        function=_ssim_full,
        formula="Wang, Bovik, Sheikh & Simoncelli 2004, doi:10.1109/TIP.2003.819861; (SSIM(A,F)+SSIM(B,F))/2",
        reference="VainF/pytorch-msssim:pytorch_msssim/ssim.py",
        inputs="float",
        colour="grey",
        higher_is_better=True,
        note="The published Q_SSIM: pytorch-msssim SSIM (11x11 Gaussian, sigma 1.5, data range 1, valid "
        "windows) on the float images. protocol='reference': the Liu toolbox ssim_index.m, centre only.",
    ),
    _toolbox_key(
        "q_fmi",
        "fmi.m",
        formula="Haghighat, Aghagolzadeh & Seyedarabi 2011, doi:10.1016/j.compeleceng.2011.07.012; "
        "windowed: Haghighat & Razian 2014, doi:10.1109/ICAICT.2014.7036000",
        note="Pixel feature, 3x3 windows; constant windows read in exact arithmetic (0) and the "
        "second-source shortcut on raw windows. protocol='reference' reproduces fmi.m's round-off reading.",
    ),
    _toolbox_key(
        "q_ncie",
        "metricWang.m",
        formula="Wang, Shen & Jin 2008, doi:10.1016/B978-0-12-372529-5.00017-2",
        note="Both protocols equal metricWang.m (whole image).",
    ),
    _toolbox_key(
        "q_xy",
        "metricXydeas.m",
        formula="Xydeas & Petrovic 2000, doi:10.1049/el:20000267",
        note="full: the 2000 paper's weighted sum and constants over the interior, orientation modulo pi "
        "(close to qabf@vifb, which differs at the zero-padded border and in orientation folding). "
        "protocol='reference': metricXydeas.m as run (toolbox constants, 3x3 centre only).",
    ),
    _toolbox_key(
        "q_p",
        "metricPeilla.m",
        formula="Piella & Heijmans 2003, doi:10.1109/ICIP.2003.1247209 (sw = 1, SSIM maps as Q0)",
        note="Piella's Q, not MEFB's qp (Zhao's phase congruency). full: every valid window; "
        "protocol='reference': metricPeilla.m as run (centre windows only).",
    ),
)

VARIANTS: tuple[MetricSpec, ...] = tuple(replace(spec, note=spec.note + _same_as(spec.key)) for spec in _SPECS)
