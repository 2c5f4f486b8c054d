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

__all__ = [
    "DEC_KEYS",
    "EvaluationResult",
    "FusionMethod",
    "SCORE_KEYS",
    "evaluate_methods",
    "result_to_json",
    "write_results",
]

#: Decomposition scores; ``None`` for methods that cannot decompose.
DEC_KEYS = ("dec_ssim_1", "dec_ssim_2", "dec_psnr_1", "dec_psnr_2")
#: Every per-image score, in table order.
SCORE_KEYS = METRIC_KEYS + DEC_KEYS

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
}


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
    plus ``decompose`` per image pair, metrics excluded).
    """

    protocol: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: list[dict[str, Any]] = field(default_factory=list)
    #: The fusion-metric keys scored (default: :data:`~fusioninn.metrics.METRIC_KEYS`).
    metric_keys: tuple[str, ...] = METRIC_KEYS

    @property
    def score_keys(self) -> tuple[str, ...]:
        """The fusion metrics, then :data:`DEC_KEYS`."""
        return self.metric_keys + DEC_KEYS


def _can_decompose(method: Any) -> bool:
    return bool(getattr(method, "can_decompose", True)) and callable(getattr(method, "decompose", None))


def _check_batch(x: Any, number: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 4 or arr.shape[1] != 2:
        raise UserInputError(f"batch {number}: expected shape (N, 2, H, W), got {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserInputError(f"batch {number}: expected float images in [0, 1], got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise UserInputError(f"batch {number}: contains NaN or infinite values")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise UserInputError(f"batch {number}: values must lie in [0, 1], got [{arr.min():.4g}, {arr.max():.4g}]")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_output(out: Any, method: str, what: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(out)
    if arr.shape != shape:
        raise UserInputError(f"method {method!r}: {what} returned shape {tuple(arr.shape)}, expected {shape}")
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise UserInputError(f"method {method!r}: {what} returned non-finite or non-float values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise UserInputError(f"method {method!r}: {what} returned values in [{lo:.4g}, {hi:.4g}], expected [0, 1]")
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


def _summarise(
    method: str, rows: list[dict[str, Any]], seconds: float, decomposes: bool, keys: tuple[str, ...] = SCORE_KEYS
) -> dict[str, Any]:
    n = len(rows)
    entry: dict[str, Any] = {"method": method, "n": n}
    for key in keys:
        if n == 0 or (key in DEC_KEYS and not decomposes):
            entry[key] = None
            continue
        values = np.array([r[key] for r in rows], dtype=np.float64)
        entry[key] = {"mean": float(values.mean()), "std": float(values.std())}
    entry["seconds_per_pair"] = seconds / n if n else None
    return entry


def evaluate_methods(
    methods: Sequence[Any],
    batches: Iterable[np.ndarray],
    protocol: str = "full",
    progress: bool = True,
    metrics: str | Sequence[str] | None = None,
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

    Returns:
        An :class:`EvaluationResult`.
    """
    from tqdm import tqdm

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
            for i in range(n):
                row: dict[str, Any] = {"method": name, "index": index + i}
                if metrics is None:
                    row.update(compute_all(x[i, 0], x[i, 1], fused[i], protocol=protocol))
                else:
                    row.update(compute(x[i, 0], x[i, 1], fused[i], names=keys, protocol=protocol))
                if decomposed is not None:
                    row.update(decomposition_scores(x[i, 0], x[i, 1], decomposed[i, 0], decomposed[i, 1]))
                else:
                    row.update(dict.fromkeys(DEC_KEYS))
                rows[name].append(row)
        index += n
        bar.set_postfix(pairs=index)
    bar.close()
    result = EvaluationResult(protocol=protocol, metric_keys=tuple(keys))
    for method, name in zip(methods, names, strict=True):
        result.rows.extend(rows[name])
        result.summary.append(
            _summarise(name, rows[name], seconds[name], _can_decompose(method), result.score_keys)
        )
    return result


def result_to_json(result: EvaluationResult) -> str:
    """The ``results.json`` text: ``{"methods": [...summary...], "protocol": ...}``."""
    body = {"methods": result.summary, "protocol": result.protocol, "metrics": list(result.metric_keys)}
    return json.dumps(body, indent=2, allow_nan=False) + "\n"


def _fmt(value: dict[str, float] | None, key: str) -> str:
    if value is None:
        return "–"
    digits = 2 if key.split("@")[0] in ("psnr", "dec_psnr_1", "dec_psnr_2", "sd", "mi", "en", "qcv") else 3
    return f"{value['mean']:.{digits}f} ± {value['std']:.{digits}f}"


def _markdown(result: EvaluationResult) -> str:
    head = ["method", "n"] + [_LABELS.get(k, k) for k in result.score_keys] + ["s / pair"]
    lines = [
        f"Fusion metrics, protocol `{result.protocol}` (mean ± std over images; see docs/metrics.md).",
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
    ``<key>_std`` columns (empty where a score does not apply); ``per_image.csv`` one row per image.
    """
    out = ensure_writable_dir(out_dir)
    keys = result.score_keys
    summary_rows: list[list[Any]] = [
        ["method", "n"] + [f"{k}_{s}" for k in keys for s in ("mean", "std")] + ["seconds_per_pair"]
    ]
    for e in result.summary:
        cells = [e["method"], str(e["n"])]
        for k in keys:
            cells += ["", ""] if e[k] is None else [_num(e[k]["mean"]), _num(e[k]["std"])]
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
