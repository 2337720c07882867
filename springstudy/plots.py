"""Figures shared by the notebooks (each function returns a matplotlib Figure; saving is the
caller's, through :func:`save_figure`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402

from springstudy.io import write_bytes_atomic  # noqa: E402


def plot_training_curves(history: Sequence[dict[str, Any]], title: str = "") -> plt.Figure:
    """Training and validation loss (log scale) and the learning rate over steps, one run."""
    steps = [h["step"] for h in history]
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True, height_ratios=[3, 1])
    ax.plot(steps, [h["train_loss"] for h in history], "o-", ms=3, label="training (last batch)")
    ax.plot(steps, [h["val_loss"] for h in history], "s-", ms=3, label="validation")
    ax.set_yscale("log")
    ax.set_ylabel("0.5·MAE + 0.5·MR-STFT")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax_lr.plot(steps, [h["lr"] for h in history], color="C2")
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG atomically (rendered in memory, then renamed into place; folders made)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)
