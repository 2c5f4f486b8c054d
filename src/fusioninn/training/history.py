"""The run's epoch history (``metrics.jsonl``, rewritten atomically) and its loss-curve figure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from ..atomic import atomic_path, atomic_write_text
from ..errors import UserInputError

__all__ = ["read_history", "write_history", "plot_curves", "history_sha256"]


def history_sha256(records: Iterable[dict]) -> str:
    """Checksum of history records as a checkpoint stores it (resume refuses a history that differs)."""
    return hashlib.sha256("".join(json.dumps(h, sort_keys=True) + "\n" for h in records).encode()).hexdigest()


def read_history(run_dir: Path, completed_epochs: int = 0) -> list[dict]:
    """metrics.jsonl as written (atomically, so never torn): one JSON object per epoch 1, 2, ...
    Anything else is damage, refused naming the line."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        if completed_epochs > 0:
            raise UserInputError(f"is missing, but the checkpoint has {completed_epochs} completed epoch(s)", path)
        return []
    out = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UserInputError(f"unreadable ({type(err).__name__}); refusing to resume", path) from None
    for n, line in enumerate(text.splitlines(), 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise UserInputError(f"line {n} is not valid JSON (file damaged); refusing to resume", path) from None
        if not isinstance(rec, dict) or rec.get("epoch") != len(out) + 1:
            raise UserInputError(f"line {n} is not the record of epoch {len(out) + 1} (file damaged); "
                                 "refusing to resume", path)
        out.append(rec)
    return out


def write_history(run_dir: Path, history: list[dict], curve_labels: list[tuple[str, str]]) -> None:
    """``metrics.jsonl`` and ``loss_curve.png``; a figure that fails never stops training."""
    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    try:
        plot_curves(run_dir / "loss_curve.png", history, curve_labels)
    except Exception:  # noqa: BLE001 - matplotlib problems of any kind
        pass


def plot_curves(path: Path, history: list[dict], curve_labels: list[tuple[str, str]]) -> None:
    """Train/validation loss, and the validation scores ``curve_labels`` = [(key, label)], per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for axis, curves in ((a1, [("train_loss", "train loss"), ("val_loss", "val loss")]), (a2, curve_labels)):
        for key, label in curves:
            axis.plot(ep, [h[key] for h in history], label=label)
        axis.set_xlabel("epoch")
        axis.legend()
    a1.set_ylabel("loss")
    a2.set_ylim(0, 1)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
