"""The catalogue of fusion-metric variants, keyed ``<metric>@<source>``.

Fusion toolboxes (VIFB, MEFB, the Liu toolbox behind the FusionINN evaluation) implement different
variants under the same names. Every variant we offer is one :class:`MetricSpec`: the key names the metric
and the toolbox whose numbers it reproduces, and the entry says where the formula comes from, which
reference file it matches and how that file sees its inputs.

Calling convention of :attr:`MetricSpec.function`: ``f(a, b, fused) -> float`` with three float64 2-D
NumPy arrays of equal shape on the 0..255 grey scale - what MATLAB holds after ``double(imread(...))``
of a grey image. Colour reduction and 8-bit quantisation (when ``inputs == "8bit"``) happen before the
call; metrics of the fused image alone ignore ``a`` and ``b``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["MetricSpec"]

MetricFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class MetricSpec:
    """One metric variant and its provenance."""

    #: ``<metric>@<source>``, lower case, e.g. ``"qabf@vifb"``.
    key: str
    function: MetricFunction
    #: Citation of the formula, with its DOI.
    formula: str
    #: The reference implementation it matches: ``"owner/repo:path"``.
    reference: str
    #: ``"8bit"``: the reference reads 8-bit images, inputs are rounded to integers 0..255 first;
    #: ``"float"``: the values are passed unrounded (still on the 0..255 scale).
    inputs: str
    #: How the reference turns a colour image into what it measures: ``"mean"`` (mean over channels, VIFB),
    #: ``"grey"`` (luma, as MATLAB's rgb2gray), or ``"none"`` (grey inputs only).
    colour: str
    higher_is_better: bool
    #: Quirks of the reference reproduced here, or how this variant differs from its namesakes.
    note: str = ""
