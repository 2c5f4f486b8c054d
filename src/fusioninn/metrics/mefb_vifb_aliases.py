"""MEFB (and Liu-toolbox) metrics that are the same code as a VIFB metric: aliases, not copies.

MEFB's ``metricsAvg_gradient.m``, ``metricsCross_entropy.m``, ``metricsEdge_intensity.m``,
``metricsEntropy.m``, ``metricsPsnr.m``, ``metricsQabf.m``, ``metricsSD.m``, ``metricsSpatial_frequency.m``,
``metricsQcb.m`` and ``metricsQcv.m`` run the same per-image kernel as VIFB's files of the same name
(diffed: only the wrappers and comments differ), and VIFB's ``Qcb``/``Qcv`` are the Liu toolbox's
``metricChenBlum.m``/``metricChen.m``. So each key here reuses the ``@vifb`` function; only the colour
rule differs:

- MEFB scores each RGB channel and averages (``"mean"``) for every one of them, including the spatial
  frequency, which VIFB applies to the H x 3W channel layout (``sf@vifb`` is ``"concat"``).
- MEFB's wrappers accept all-grey, all-colour, or grey sources with a colour fused image; in that last
  case they keep the fused image's **first channel** (``ag``: rgb2gray), a rule our ``"mean"`` does not
  reproduce (pass ``colour="grey"`` or the first channel yourself). A grey source with a colour one makes
  MEFB's code fail; our ``"mean"`` uses the grey source for every channel.
- The Liu toolbox is grey-only (``"grey"``).

Agreement with Octave runs of the MEFB and Liu files: tests/metrics/test_octave_reference.py.
"""

from __future__ import annotations

from dataclasses import replace

from .registry import MetricSpec
from .vifb_basic import VARIANTS as _BASIC
from .vifb_qabf import VARIANTS as _QABF
from .vifb_qcb import VARIANTS as _QCB
from .vifb_qcv import VARIANTS as _QCV

__all__ = ["VARIANTS"]

_VIFB = {spec.key: spec for spec in _BASIC + _QABF + _QCB + _QCV}


def _alias(key: str, of: str, reference: str, colour: str, note: str = "") -> MetricSpec:
    spec = _VIFB[of]
    text = f"Alias of {of} (same kernel code)" + (f"; {note}" if note else "") + ". " + spec.note
    return replace(spec, key=key, reference=reference, colour=colour, note=text.strip())


_MEFB = "xingchenzhang/MEFB:metrics/metrics"

VARIANTS: tuple[MetricSpec, ...] = (
    _alias("ag@mefb", "ag@vifb", _MEFB + "Avg_gradient.m", "mean"),
    _alias("ce@mefb", "ce@vifb", _MEFB + "Cross_entropy.m", "mean"),
    _alias("ei@mefb", "ei@vifb", _MEFB + "Edge_intensity.m", "mean"),
    _alias("en@mefb", "en@vifb", _MEFB + "Entropy.m", "mean"),
    _alias("psnr@mefb", "psnr@vifb", _MEFB + "Psnr.m", "mean"),
    _alias("qabf@mefb", "qabf@vifb", _MEFB + "Qabf.m", "mean"),
    _alias("sd@mefb", "sd@vifb", _MEFB + "SD.m", "mean"),
    _alias("sf@mefb", "sf@vifb", _MEFB + "Spatial_frequency.m", "mean", "MEFB averages over channels"),
    _alias("qcb@mefb", "qcb@vifb", _MEFB + "Qcb.m", "mean"),
    _alias("qcv@mefb", "qcv@vifb", _MEFB + "Qcv.m", "mean"),
    _alias("qcb@liu", "qcb@vifb", "zhengliu6699/imageFusionMetrics:metricChenBlum.m", "grey"),
    _alias("qcv@liu", "qcv@vifb", "zhengliu6699/imageFusionMetrics:metricChen.m", "grey"),
)
