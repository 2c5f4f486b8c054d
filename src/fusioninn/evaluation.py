"""Batched evaluation of fusion methods over a data set, and the result files.

A *method* is any object with

- ``name: str``;
- ``fuse(x: np.ndarray) -> np.ndarray`` taking float32 (N, 2, H, W) in [0, 1] (channel 0 = first
  source, e.g. T1ce; channel 1 = second, e.g. FLAIR) and returning the fused images (N, H, W) in [0, 1];
- optionally ``decompose(fused: np.ndarray) -> np.ndarray`` returning (N, 2, H, W) in [0, 1]; a method
  without it, or with ``can_decompose = False``, gets ``null`` decomposition scores.

:func:`evaluate_methods` runs every method on every batch, scores each image with
:func:`fusioninn.metrics.compute_all` or, given ``metrics``, :func:`fusioninn.metrics.compute` (and
:func:`fusioninn.metrics.decomposition_scores`), and
:func:`write_results` writes ``results.md``, ``results.csv``, ``per_image.csv`` and ``results.json``.
Nothing here knows about models or data loaders.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .atomic import atomic_write_text, ensure_writable_dir
from .errors import UserInputError
from .metrics import METRIC_KEYS, compute, compute_all, decomposition_scores, registry
from .metrics.decomposition_r2 import pooled_r2, r2_from_parts, r2_parts
from .metrics.grid import grid_scores
from .perturb import Perturbation, parse_perturbations, perturb_fused
from .validation import RANGE_TOLERANCE, check_array

__all__ = [
    "DEC_KEYS",
    "GRID_KEYS",
    "PERTURB_KEYS",
    "R2_KEYS",
    "EvaluationResult",
    "FusionMethod",
    "SCORE_KEYS",
    "evaluate_methods",
    "perturb_keys",
    "result_to_json",
    "write_results",
]

#: Decomposition scores; ``None`` for methods that cannot decompose.
DEC_KEYS = ("dec_ssim_1", "dec_ssim_2", "dec_psnr_1", "dec_psnr_2")
#: Pixel-grid pattern of the fused image (fusioninn.metrics.grid); summarised by the median over images.
GRID_KEYS = ("grid_ratio", "grid_rms")
#: Decomposition R^2 per source (fusioninn.metrics.decomposition_r2); summarised pooled over images.
R2_KEYS = ("dec_r2_1", "dec_r2_2")
#: Every per-image score, in table order (``perturb`` adds ``<key>@<perturbation>`` columns).
SCORE_KEYS = METRIC_KEYS + GRID_KEYS + DEC_KEYS + R2_KEYS
#: The scores recomputed after each perturbation of the saved fused image.
PERTURB_KEYS = ("dec_r2_1", "dec_r2_2", "dec_ssim_1", "dec_ssim_2")

_LABELS = {
    "q_ssim": "Q_SSIM",
    "q_fmi": "Q_FMI",
    "q_ncie": "Q_NCIE",
    "q_xy": "Q_XY",
    "q_p": "Q_P",
    "psnr": "PSNR (dB)",
    "mi": "MI",
    "en": "EN",
    "sd": "SD",
    "dec_ssim_1": "dec. SSIM 1",
    "dec_ssim_2": "dec. SSIM 2",
    "dec_psnr_1": "dec. PSNR 1",
    "dec_psnr_2": "dec. PSNR 2",
    "grid_ratio": "grid ratio (median)",
    "grid_rms": "grid RMS, grey levels (median)",
    "dec_r2_1": "dec. R² 1",
    "dec_r2_2": "dec. R² 2",
}


#: Joins a score key and a perturbation name (``dec_r2_1:jpeg95``); ``@`` already names a metric's source.
PERTURB_SEP = ":"


def perturb_keys(perturbations: Sequence[Perturbation]) -> tuple[str, ...]:
    """The per-perturbation score keys, ``dec_r2_1:jpeg95`` etc., in table order."""
    return tuple(f"{k}{PERTURB_SEP}{p.name}" for p in perturbations for k in PERTURB_KEYS)


def _base(key: str) -> str:
    """The score a (possibly per-perturbation) key is of: ``dec_r2_1:jpeg95`` -> ``dec_r2_1``."""
    return key.partition(PERTURB_SEP)[0]


def _label(key: str) -> str:
    base, _, where = key.partition(PERTURB_SEP)
    label = _LABELS.get(base, base)
    return f"{label} after {where}" if where else label


@runtime_checkable
class FusionMethod(Protocol):
    """What :func:`evaluate_methods` needs from a fusion method (``decompose`` is optional)."""

    name: str

    def fuse(self, x: np.ndarray) -> np.ndarray: ...


@dataclass
class EvaluationResult:
    """Per-image rows and per-method summaries of one evaluation run.

    ``rows``: one dict per (method, image) with ``method``, ``index`` (running image number) and every
    key of :data:`SCORE_KEYS` (decomposition scores ``None`` where the method cannot decompose).
    ``summary``: one dict per method in the ``results.json`` schema: ``method``, ``n``, each score as
    ``{"mean", "std"}`` (population std) or ``None``, and ``seconds_per_pair`` (wall time of ``fuse``
    plus ``decompose`` per image pair, metrics excluded). The grid and R² scores also have a ``median``, the
    R² scores a ``pooled`` value (1 - summed squared errors / summed squared gaps over all images), the
    figure the tables show. ``perturbations``: the names given to ``perturb``, whose scores are the
    ``<key>@<name>`` entries.
    """

    protocol: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    #: The fusion-metric keys scored (default: :data:`~fusioninn.metrics.METRIC_KEYS`).
    metric_keys: tuple[str, ...] = METRIC_KEYS
    perturbations: list[str] = field(default_factory=list)

    @property
    def score_keys(self) -> tuple[str, ...]:
        """The fusion metrics, the grid scores, :data:`DEC_KEYS`, the R² scores, then per perturbation."""
        return (self.metric_keys + GRID_KEYS + DEC_KEYS + R2_KEYS
                + tuple(f"{k}{PERTURB_SEP}{p}" for p in self.perturbations for k in PERTURB_KEYS))


def _can_decompose(method: Any) -> bool:
    return bool(getattr(method, "can_decompose", True)) and callable(getattr(method, "decompose", None))


def _check_batch(x: Any, number: int) -> np.ndarray:
    arr, _ = check_array(np.asarray(x), f"batch {number}", ndim=(4,), channels=2, shape_text="shape (N, 2, H, W)")
    return np.clip(arr, 0.0, 1.0, dtype=np.float32)  # within RANGE_TOLERANCE: clip the round-off


def _check_output(out: Any, method: str, what: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(out)
    if arr.shape != shape:
        raise UserInputError(f"method {method!r}: {what} returned shape {tuple(arr.shape)}, expected {shape}")
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise UserInputError(f"method {method!r}: {what} returned non-finite or non-float values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise UserInputError(f"method {method!r}: {what} returned values in [{lo:.4g}, {hi:.4g}], expected [0, 1]")
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


def _summarise(method: str, rows: list[dict[str, Any]], seconds: float, decomposes: bool,
               keys: Sequence[str] = SCORE_KEYS, r2_parts_of: dict[str, list] | None = None) -> dict[str, Any]:
    n = len(rows)
    entry: dict[str, Any] = {"method": method, "n": n}
    for key in keys:
        base = _base(key)
        if n == 0 or ((base in DEC_KEYS or base in R2_KEYS) and not decomposes):
            entry[key] = None
            continue
        values = np.array([r[key] for r in rows], dtype=np.float64)
        entry[key] = {"mean": float(values.mean()), "std": float(values.std())}
        if base in GRID_KEYS or base in R2_KEYS:
            entry[key]["median"] = float(np.median(values))
        if base in R2_KEYS and r2_parts_of is not None:
            entry[key]["pooled"] = pooled_r2(r2_parts_of[key])
    entry["seconds_per_pair"] = seconds / n if n else None
    return entry


def evaluate_methods(
    methods: Sequence[Any],
    batches: Iterable[np.ndarray],
    protocol: str = "full",
    progress: bool = True,
    metrics: str | Sequence[str] | None = None,
    perturb: Sequence[Perturbation] | str | None = None,
) -> EvaluationResult:
    """Fuse (and decompose) every batch with every method and score each image.

    Args:
        methods: objects following :class:`FusionMethod`; names must be unique.
        batches: iterable of float arrays (N, 2, H, W) in [0, 1]; iterated once.
        protocol: ``"full"`` or ``"reference"``, passed to :func:`fusioninn.metrics.compute_all`.
        progress: show a tqdm progress bar (on stderr) over the batches.
        metrics: metric keys or groups for :func:`fusioninn.metrics.compute` (e.g. ``"paper"``,
            ``["qabf@vifb", "mi@qu"]``); ``None`` (default) scores the nine historical keys of
            :func:`fusioninn.metrics.compute_all` (the paper's five, psnr, mi, en, sd).
        perturb: perturbations of the saved (8-bit) fused image (:mod:`fusioninn.perturb`, e.g.
            ``"jpeg95,blur0.5"``); each decomposing method also decomposes every perturbed image, scored
            as ``dec_r2_1:jpeg95`` etc. (not timed).

    Returns:
        An :class:`EvaluationResult`.
    """
    from tqdm import tqdm

    perturbations = parse_perturbations(perturb) if isinstance(perturb, str) or perturb is None else list(perturb)
    if protocol not in ("full", "reference"):
        raise UserInputError(f"protocol must be 'full' or 'reference', got {protocol!r}")
    keys = METRIC_KEYS if metrics is None else registry.resolve(metrics)
    methods = list(methods)
    if not methods:
        raise UserInputError("no methods to evaluate")
    names = [str(getattr(m, "name", "")) for m in methods]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise UserInputError(f"methods need unique, non-empty names, got {names}")
    for m, name in zip(methods, names, strict=True):
        if not callable(getattr(m, "fuse", None)):
            raise UserInputError(f"method {name!r} has no fuse(x) method")

    rows: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    extra_keys = GRID_KEYS + DEC_KEYS + R2_KEYS + perturb_keys(perturbations)
    r2_of: dict[str, dict[str, list]] = {n: {k: [] for k in extra_keys if _base(k) in R2_KEYS} for n in names}
    seconds = dict.fromkeys(names, 0.0)
    total = len(batches) if hasattr(batches, "__len__") else None  # type: ignore[arg-type]
    index = 0
    bar = tqdm(batches, total=total, unit="batch", disable=not progress, file=sys.stderr, desc="evaluate")
    for number, raw in enumerate(bar):
        x = _check_batch(raw, number)
        n, _, h, w = x.shape
        for method, name in zip(methods, names, strict=True):
            start = time.perf_counter()
            fused = _check_output(method.fuse(x.copy()), name, "fuse", (n, h, w))
            decomposed = None
            if _can_decompose(method):
                decomposed = _check_output(
                    method.decompose(fused.astype(np.float32)), name, "decompose", (n, 2, h, w)
                )
            seconds[name] += time.perf_counter() - start
            robust = {}
            if decomposed is not None:
                for p in perturbations:
                    seen, sources = perturb_fused(fused, x, p, seed=index)
                    robust[p.name] = (seen, sources, _check_output(
                        method.decompose(seen), name, f"decompose ({p.name})", (n, 2, h, w)))
            for i in range(n):
                row: dict[str, Any] = {"method": name, "index": index + i}
                if metrics is None:
                    row.update(compute_all(x[i, 0], x[i, 1], fused[i], protocol=protocol))
                else:
                    row.update(compute(x[i, 0], x[i, 1], fused[i], names=keys, protocol=protocol))
                row.update(grid_scores(x[i, 0], x[i, 1], fused[i]))
                _decomposition_into(row, r2_of[name], i, x, fused, decomposed, robust, extra_keys)
                rows[name].append(row)
        index += n
        bar.set_postfix(pairs=index)
    bar.close()
    result = EvaluationResult(protocol=protocol, metric_keys=tuple(keys),
                              perturbations=[p.name for p in perturbations])
    for method, name in zip(methods, names, strict=True):
        result.rows.extend(rows[name])
        result.summary.append(_summarise(name, rows[name], seconds[name], _can_decompose(method),
                                         result.score_keys, r2_of[name]))
    return result


def _decomposition_into(row: dict[str, Any], parts_of: dict[str, list], i: int, x: np.ndarray, fused: np.ndarray,
                        decomposed: np.ndarray | None, robust: dict, extra_keys: tuple[str, ...]) -> None:
    """Image ``i``'s decomposition scores (SSIM/PSNR, R², and after each perturbation) into ``row``."""
    if decomposed is None:
        row.update(dict.fromkeys(k for k in extra_keys if _base(k) in DEC_KEYS + R2_KEYS))
        return
    row.update(decomposition_scores(x[i, 0], x[i, 1], decomposed[i, 0], decomposed[i, 1]))
    _r2_into(row, parts_of, "", x[i], decomposed[i], fused[i])
    for pname, (seen, sources, dec) in robust.items():
        s = decomposition_scores(sources[i, 0], sources[i, 1], dec[i, 0], dec[i, 1])
        for k in (1, 2):
            row[f"dec_ssim_{k}{PERTURB_SEP}{pname}"] = s[f"dec_ssim_{k}"]
        _r2_into(row, parts_of, f"{PERTURB_SEP}{pname}", sources[i], dec[i], seen[i])


def _r2_into(row: dict[str, Any], parts_of: dict[str, list], suffix: str, x: np.ndarray, dec: np.ndarray,
             fused: np.ndarray) -> None:
    """Per-image R² of both sources into ``row`` and their (error, gap) into ``parts_of`` for pooling."""
    for k in (0, 1):
        err, gap = r2_parts(x[k], dec[k], fused)
        key = f"dec_r2_{k + 1}{suffix}"
        row[key] = r2_from_parts(err, gap)
        parts_of[key].append((err, gap))


def result_to_json(result: EvaluationResult) -> str:
    """The ``results.json`` text: ``{"methods": [...summary...], "protocol": ..., "metrics": [...]}``, plus
    ``"perturbations": [...]`` when the run scored any."""
    body: dict[str, Any] = {"methods": result.summary, "protocol": result.protocol,
                            "metrics": list(result.metric_keys)}
    if result.perturbations:
        body["perturbations"] = result.perturbations
    return json.dumps(body, indent=2, allow_nan=False) + "\n"


def _fmt(value: dict[str, float] | None, key: str) -> str:
    if value is None:
        return "–"
    base = _base(key)
    if base in GRID_KEYS:  # a few images with a strong pattern would dominate a mean
        return f"{value['median']:.3g}" if base == "grid_ratio" else f"{value['median']:.3f}"
    if base in R2_KEYS and "pooled" in value:
        return f"{value['pooled']:.3f}"
    digits = 2 if key.split("@")[0] in ("psnr", "dec_psnr_1", "dec_psnr_2", "sd", "mi", "en", "qcv") else 3
    return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"


def _markdown(result: EvaluationResult) -> str:
    head = ["method", "n"] + [_label(k) for k in result.score_keys] + ["s / pair"]
    lines = [
        f"Fusion metrics, protocol `{result.protocol}` (mean ± std over images; grid scores: median over "
        "images; decomposition R²: pooled over images; see docs/metrics.md).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    for entry in result.summary:
        cells = [entry["method"], str(entry["n"])] + [_fmt(entry[k], k) for k in result.score_keys]
        sec = entry["seconds_per_pair"]
        cells.append("–" if sec is None else f"{sec:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def _num(value: Any) -> str:
    return "" if value is None else repr(float(value)) if isinstance(value, float) else str(value)


def write_results(result: EvaluationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv``, ``per_image.csv`` and ``results.json`` atomically.

    Returns the paths by name. ``results.csv`` has one row per method with ``<key>_mean`` and
    ``<key>_std`` columns (empty where a score does not apply), ``<key>_median`` for the grid scores and
    ``<key>_pooled`` for the R² scores; ``per_image.csv`` one row per image.
    """
    out = ensure_writable_dir(out_dir)
    keys = result.score_keys
    summary_rows: list[list[Any]] = [
        ["method", "n"] + [f"{k}_{s}" for k in keys for s in ("mean", "std")]
        + [f"{k}_median" for k in keys if _base(k) in GRID_KEYS]
        + [f"{k}_pooled" for k in keys if _base(k) in R2_KEYS] + ["seconds_per_pair"]
    ]
    for e in result.summary:
        cells = [e["method"], str(e["n"])]
        for k in keys:
            cells += ["", ""] if e[k] is None else [_num(e[k]["mean"]), _num(e[k]["std"])]
        cells += ["" if e[k] is None else _num(e[k]["median"]) for k in keys if _base(k) in GRID_KEYS]
        cells += ["" if e[k] is None else _num(e[k].get("pooled")) for k in keys if _base(k) in R2_KEYS]
        summary_rows.append(cells + [_num(e["seconds_per_pair"])])
    image_rows: list[list[Any]] = [["method", "index", *keys]]
    image_rows += [[r["method"], str(r["index"])] + [_num(r[k]) for k in keys] for r in result.rows]
    paths = {
        "json": atomic_write_text(out / "results.json", result_to_json(result)),
        "markdown": atomic_write_text(out / "results.md", _markdown(result)),
        "csv": atomic_write_text(out / "results.csv", _csv(summary_rows)),
        "per_image": atomic_write_text(out / "per_image.csv", _csv(image_rows)),
    }
    return paths
