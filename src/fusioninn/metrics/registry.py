"""The catalogue of fusion-metric variants, keyed ``<metric>@<source>``.

Fusion toolboxes (VIFB, MEFB, the Liu toolbox behind the FusionINN evaluation) implement different
variants under the same names. Every variant we offer is one :class:`MetricSpec`: the key names the metric
and the toolbox whose numbers it reproduces, and the entry says where the formula comes from, which
reference file it matches and how that file sees its inputs.

Calling convention of :attr:`MetricSpec.function`: ``f(a, b, fused) -> float`` with three float64 2-D
NumPy arrays of equal shape on the 0..255 grey scale - what MATLAB holds after ``double(imread(...))``
of a grey image. Colour reduction and 8-bit quantisation (when ``inputs == "8bit"``) happen before the
call; metrics of the fused image alone ignore ``a`` and ``b``.

How the catalogue is assembled: every metric module that defines variants exposes a module-level
``VARIANTS: tuple[MetricSpec, ...]``, and :data:`VARIANT_MODULES` below lists those modules by name (one
line per module; add yours there). :func:`catalogue` imports them in order and checks that keys are
well-formed and unique. A listed module that does not exist (yet) is skipped at run time and is an error
under ``strict=True``, which the test suite uses.

Groups accepted wherever keys are: ``"paper"`` (the five metrics of the FusionINN table, keys
``q_ssim q_fmi q_ncie q_xy q_p``), ``"vifb"``, ``"mefb"``, ``"liu"`` (every key ``...@vifb`` etc.), and
``"all"`` (every key in the catalogue).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import UserInputError

__all__ = [
    "GROUPS",
    "MetricSpec",
    "PAPER_KEYS",
    "VARIANT_MODULES",
    "catalogue",
    "get",
    "group_keys",
    "resolve",
]

MetricFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], float]

_KEY = re.compile(r"^[a-z][a-z0-9_]*(@[a-z][a-z0-9_]*)?$")
_INPUTS = ("8bit", "float")
_COLOUR = ("mean", "grey", "concat", "none")


@dataclass(frozen=True)
class MetricSpec:
    """One metric variant and its provenance."""

    #: ``<metric>@<source>``, lower case, e.g. ``"qabf@vifb"``. The five metrics of the FusionINN table
    #: keep their historical names (``q_ssim`` ...) without a source.
    key: str
    function: MetricFunction
    #: Citation of the formula, with its DOI (``doi:10....``; write ``(no DOI)`` where the source has none).
    formula: str
    #: The reference implementation it matches: ``"owner/repo:path"``.
    reference: str
    #: ``"8bit"``: the reference reads 8-bit images, inputs are rounded to integers 0..255 first;
    #: ``"float"``: the values are passed unrounded (still on the 0..255 scale).
    inputs: str
    #: How the reference turns a colour image into what it measures: ``"mean"`` (the metric of each
    #: channel, averaged - VIFB), ``"grey"`` (luma, as MATLAB's rgb2gray), ``"concat"`` (the channels laid
    #: side by side, H x 3W: what MATLAB's two-subscript indexing of an H x W x 3 array sees), or
    #: ``"none"`` (grey inputs only).
    colour: str
    higher_is_better: bool
    #: Quirks of the reference reproduced here, or how this variant differs from its namesakes.
    note: str = ""

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"metric key {self.key!r} is not '<metric>@<source>' in lower case")
        if self.inputs not in _INPUTS:
            raise ValueError(f"{self.key}: inputs must be one of {_INPUTS}, got {self.inputs!r}")
        if self.colour not in _COLOUR:
            raise ValueError(f"{self.key}: colour must be one of {_COLOUR}, got {self.colour!r}")

    @property
    def metric(self) -> str:
        """The metric part of the key (``"qabf"`` for ``"qabf@vifb"``)."""
        return self.key.split("@", 1)[0]

    @property
    def source(self) -> str:
        """The source part of the key (``"vifb"``), ``""`` for the paper's five."""
        return self.key.split("@", 1)[1] if "@" in self.key else ""


#: Modules (relative to :mod:`fusioninn.metrics`) whose ``VARIANTS`` make up the catalogue, in order.
VARIANT_MODULES: tuple[str, ...] = (
    # The paper's five and our own MI / PSNR / EN / SD (engineer 14a).
    ".paper",
    ".information",
    ".psnr",
    # VIFB (xingchenzhang/VIFB, metrics/*.m) and the extra metrics SCD, CC, Nabf, MS-SSIM (14a).
    ".vifb_basic",
    ".vifb_qabf",
    ".vifb_qcb",
    ".vifb_qcv",
    ".vifb_ssim",
    ".correlation",
    ".nabf",
    ".ms_ssim",
    # MEFB (@mefb) and the Liu toolbox (@liu) modules (engineer 14b) go below, one line each.
    ".ncie_variants",
    ".fmi_mefb",
    ".nmi",
    ".tsallis",
    ".qabf_liu",
    ".ssim_index",
    ".q_piella",
    ".q_zhao",
    ".q_cvejic",
    ".q_yang",
    ".q_zheng",
    ".viff",
    ".mef_ssim",
    ".q_pww",
    ".mefb_vifb_aliases",
)

#: The five metrics of the FusionINN table, in table order.
PAPER_KEYS: tuple[str, ...] = ("q_ssim", "q_fmi", "q_ncie", "q_xy", "q_p")
#: Named groups of keys (see :func:`group_keys`).
GROUPS: tuple[str, ...] = ("paper", "vifb", "mefb", "liu", "all")

_CACHE: dict[bool, dict[str, MetricSpec]] = {}


def _load(strict: bool) -> dict[str, MetricSpec]:
    specs: dict[str, MetricSpec] = {}
    for name in VARIANT_MODULES:
        full = importlib.util.resolve_name(name, __package__)
        try:
            module = importlib.import_module(full)
        except ModuleNotFoundError as err:
            if err.name != full or strict:  # a broken import inside a present module is always an error
                raise
            continue
        variants = getattr(module, "VARIANTS", None)
        if not isinstance(variants, tuple) or not all(isinstance(v, MetricSpec) for v in variants):
            raise TypeError(f"{full}.VARIANTS must be a tuple of MetricSpec")
        for spec in variants:
            if spec.key in specs:
                raise ValueError(f"metric key {spec.key!r} is defined twice (again in {full})")
            specs[spec.key] = spec
    return specs


def catalogue(strict: bool = False) -> dict[str, MetricSpec]:
    """Every registered variant by key, in registration order.

    ``strict=True`` raises when a module of :data:`VARIANT_MODULES` is missing (the tests use it);
    otherwise missing modules are skipped.
    """
    if strict not in _CACHE:
        _CACHE[strict] = _load(strict)
    return _CACHE[strict]


def get(key: str) -> MetricSpec:
    """The spec of one key; a ``UserInputError`` naming close keys when there is none."""
    specs = catalogue()
    if key in specs:
        return specs[key]
    raise UserInputError(_unknown(key, specs))


def group_keys(group: str) -> tuple[str, ...]:
    """The keys of a named group: ``paper``, ``vifb``, ``mefb``, ``liu`` or ``all``."""
    specs = catalogue()
    if group == "paper":
        return tuple(k for k in PAPER_KEYS if k in specs)
    if group == "all":
        return tuple(specs)
    if group in GROUPS:
        return tuple(k for k, s in specs.items() if s.source == group)
    raise UserInputError(f"unknown metric group {group!r}; groups: {', '.join(GROUPS)}")


def _unknown(name: str, specs: dict[str, MetricSpec]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(specs) + list(GROUPS), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `fusioninn metrics --list` shows every key"
    return f"unknown metric {name!r}{hint}"


def resolve(names: str | Iterable[str]) -> tuple[str, ...]:
    """Expand a group name, a comma-separated string or a list of keys and groups into keys.

    Order is kept, duplicates dropped. Unknown names raise a ``UserInputError`` that suggests keys.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    specs = catalogue()
    out: dict[str, None] = {}
    for raw in items:
        if not isinstance(raw, str):
            raise UserInputError(f"metric names must be strings, got {type(raw).__name__}")
        name = raw.strip().lower()
        if not name:
            continue
        if name in GROUPS:
            found = group_keys(name)
            if not found:
                raise UserInputError(f"metric group {name!r} has no metrics installed yet")
            out.update(dict.fromkeys(found))
        elif name in specs:
            out[name] = None
        else:
            raise UserInputError(_unknown(name, specs))
    if not out:
        raise UserInputError("no metrics named")
    return tuple(out)
