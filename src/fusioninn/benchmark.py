"""The paper-style comparison (Kumar et al., Table 1): every method on one data set, the five Q metrics,
decomposition scores where a method can decompose, seconds per pair and parameter counts, as Markdown +
JSON, plus a figure of the sources, each method's fused image and FusionINN's decomposition."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from .atomic import atomic_path, atomic_write_text, ensure_writable_dir
from .evaluation import evaluate_methods, write_results

__all__ = ["run_benchmark", "NOT_RUN"]

NOT_RUN = {
    "ddfm": "DDFM needs a 2 GB ImageNet diffusion model (guided-diffusion 256x256 uncond) that cannot be "
            "downloaded or shipped here; listed, not run (published: Q_SSIM 0.921, ~10 s per pair on a GPU).",
}

Q_KEYS = ("q_ssim", "q_fmi", "q_ncie", "q_xy", "q_p")


def run_benchmark(methods: list, x, out: str | Path, data_label: str, protocol: str = "full",
                  batch_size: int = 16, progress: bool = True, figure_index: int | None = None,
                  metrics: str | list[str] | None = None, workers: int = 1, perturb: str | None = None) -> dict:
    """Evaluate ``methods`` on ``x`` and write the benchmark files to ``out``.

    ``x``: an (N, 2, H, W) array or a :class:`~fusioninn.data.dataset.SliceDataset` (streamed in batches).
    ``metrics``: metric keys or groups (see :func:`fusioninn.metrics.compute`); ``None`` scores the
    historical keys and the table shows the paper's five. ``perturb``: perturbations of the saved fused
    image after which decomposition is scored again (:mod:`fusioninn.perturb`).
    """
    from .data.dataset import ArrayDataset, SliceDataset

    data = x if isinstance(x, SliceDataset) else ArrayDataset(np.asarray(x, dtype=np.float32))
    out = ensure_writable_dir(out)
    t0 = time.perf_counter()
    content: list[np.ndarray] = []

    def batches():
        for b in data.batches(batch_size, workers=workers):
            content.append(_content(b))  # for the figure's slice, without a second pass over the data
            yield b

    result = evaluate_methods(methods, _Sized(batches(), -(-len(data) // batch_size)), protocol=protocol,
                              progress=progress, metrics=metrics, perturb=perturb)
    wall = time.perf_counter() - t0
    write_results(result, out)
    params = {m.name: int(getattr(m, "parameter_count", 0) or 0) for m in methods}
    summary = {
        "data": data_label,
        "pairs": int(len(data)),
        "protocol": protocol,
        "metrics": list(Q_KEYS if metrics is None else result.metric_keys),
        "wall_seconds": wall,
        "machine": {"python": platform.python_version(), "cpu_threads": _threads()},
        "methods": [{**e, "parameters": params.get(e["method"], 0)} for e in result.summary],
        "not_run": NOT_RUN,
        "perturbations": result.perturbations,
    }
    atomic_write_text(out / "benchmark.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    atomic_write_text(out / "benchmark.md", _markdown(summary))
    idx = figure_index if figure_index is not None else int(np.argmax(np.concatenate(content)))
    _figure(out / "comparison.png", methods, data.read([idx]))
    return summary


class _Sized:
    """An iterator with a length (for the progress bar)."""

    def __init__(self, it, n: int) -> None:
        self.it, self.n = it, n

    def __iter__(self):
        return iter(self.it)

    def __len__(self) -> int:
        return self.n


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _content(x: np.ndarray) -> np.ndarray:
    # per slice, the content in both sources: the figure shows the slice with the most, a representative,
    # not a cherry-picked, example
    return (x[:, 0] > 0.05).mean((1, 2)) + (x[:, 1] > 0.05).mean((1, 2))


def _pick_slice(x: np.ndarray) -> int:
    return int(np.argmax(_content(x)))


def _fmt(v, digits=3):
    return "—" if v is None else f"{v['mean']:.{digits}f} ± {v['std']:.{digits}f}"


def _median(v, digits=3):
    return "—" if v is None else f"{v['median']:.{digits}f}"


def _pooled(v):
    return "—" if v is None else f"{v['pooled']:.3f}"


_LABELS = {"q_ssim": "Q_SSIM", "q_fmi": "Q_FMI", "q_ncie": "Q_NCIE", "q_xy": "Q_XY", "q_p": "Q_P"}


def _markdown(s: dict) -> str:
    keys = s.get("metrics", Q_KEYS)
    lines = [
        f"Benchmark on `{s['data']}` ({s['pairs']} pairs, protocol `{s['protocol']}`; mean ± std over pairs). "
        f"Wall time {s['wall_seconds']:.1f} s on {s['machine']['cpu_threads']} CPU threads.",
        "",
        "| method | " + " | ".join(_LABELS.get(k, k) for k in keys)
        + " | dec. SSIM 1 | dec. SSIM 2 | grid ratio | grid RMS | dec. R² 1 | dec. R² 2 | s / pair | parameters |",
        "|---|" + "---:|" * (len(keys) + 8),
    ]
    for e in s["methods"]:
        cells = [e["method"]] + [_fmt(e[k]) for k in keys] + [_fmt(e["dec_ssim_1"]), _fmt(e["dec_ssim_2"])]
        cells += [_median(e["grid_ratio"], 2), _median(e["grid_rms"]), _pooled(e["dec_r2_1"]), _pooled(e["dec_r2_2"])]
        cells += [f"{e['seconds_per_pair']:.4f}", f"{e['parameters']:,}" if e["parameters"] else "0 (rule)"]
        lines.append("| " + " | ".join(cells) + " |")
    for name, why in s["not_run"].items():
        lines.append(f"| {name} | not run |" + " |" * (len(keys) + 7))
        lines.append("")
        lines.append(f"{name}: {why}")
    lines += ["", "Grid ratio: power at the grid frequencies over the larger source's; grid RMS: the fused image's "
              "grid-frequency amplitude in 8-bit grey levels (both medians over pairs, fusioninn.metrics.grid). "
              "Decomposition R²: 1 - |x̂ - x|² / |fused - x|², pooled over pairs (fusioninn.metrics.decomposition_r2)."]
    names = s.get("perturbations") or []
    decomposers = [e for e in s["methods"] if e.get("dec_r2_1") is not None]
    if names and decomposers:
        lines += ["", "Decomposition R² (source 1 / source 2, pooled) after each perturbation of the saved 8-bit "
                  "fused image (fusioninn.perturb):", "",
                  "| method | from the float image | " + " | ".join(names) + " |",
                  "|---|" + "---:|" * (len(names) + 1)]
        for e in decomposers:
            cells = [e["method"], f"{_pooled(e['dec_r2_1'])} / {_pooled(e['dec_r2_2'])}"]
            cells += [f"{_pooled(e[f'dec_r2_1:{n}'])} / {_pooled(e[f'dec_r2_2:{n}'])}" for n in names]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _figure(path: Path, methods: list, x: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics.ssim import ssim as ssim_t

    def s(a, b):
        import torch

        return float(ssim_t(torch.from_numpy(np.asarray(a, np.float64))[None, None],
                            torch.from_numpy(np.asarray(b, np.float64))[None, None]))

    panels = [("T1ce", x[0, 0], ""), ("FLAIR", x[0, 1], "")]
    dec = None
    for m in methods:
        f = m.fuse(x)[0]
        panels.append((m.name, f, f"SSIM {s(x[0, 0], f):.3f} / {s(x[0, 1], f):.3f}"))
        if getattr(m, "can_decompose", False) and callable(getattr(m, "decompose", None)):
            dec = (m.name, m.decompose(f[None].astype(np.float32))[0])
    if dec is not None:
        panels.append((f"{dec[0]} → T1ce", dec[1][0], f"SSIM {s(x[0, 0], dec[1][0]):.3f}"))
        panels.append((f"{dec[0]} → FLAIR", dec[1][1], f"SSIM {s(x[0, 1], dec[1][1]):.3f}"))
    cols = min(6, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img, caption) in zip(axes.flat, panels, strict=False):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{title}\n{caption}" if caption else title, fontsize=8)
    fig.suptitle("Fused images (SSIM against T1ce / FLAIR) and FusionINN's decomposition", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
