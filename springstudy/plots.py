"""Figures shared by the notebooks (each function returns a matplotlib Figure; saving is the
caller's, through :func:`springstudy.outputs.save_figure`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402


def plot_training_curves(history: Sequence[dict[str, Any]], title: str = "", loss: str = "training loss") -> plt.Figure:
    """Training and validation loss (log scale; ``loss`` names it on the axis, e.g.
    :func:`springstudy.train.loss_label` of the run's config) and the learning rate over steps, one run."""
    steps = [h["step"] for h in history]
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True, height_ratios=[3, 1])
    ax.plot(steps, [h["train_loss"] for h in history], "o-", ms=3, label="training (last batch)")
    ax.plot(steps, [h["val_loss"] for h in history], "s-", ms=3, label="validation")
    ax.set_yscale("log")
    ax.set_ylabel(loss)
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


def plot_learning_curves(histories: Mapping[str, Sequence[dict[str, Any]]], title: str = "",
                         bounds: Mapping[str, float] | None = None) -> plt.Figure:
    """Every run of one rate: validation ESR against training CPU-seconds (left) and the
    validation loss against steps (right), one line per run; a run's receptive-field bound
    (``bounds[label]``, :mod:`springstudy.bounds`) as a dashed line in its colour. Histories
    written before CPU time was recorded are drawn against steps only."""
    fig, (ax_esr, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.2))
    for k, (label, history) in enumerate(histories.items()):
        rows = [h for h in history if h.get("val_loss") is not None and h["val_loss"] == h["val_loss"]]
        if not rows:
            continue
        colour = f"C{k % 10}"
        if all("cpu_seconds" in h and "val_esr" in h for h in rows):
            ax_esr.plot([h["cpu_seconds"] / 60 for h in rows], [h["val_esr"] for h in rows], "o-", ms=3,
                        color=colour, label=label)
            if bounds and label in bounds:
                ax_esr.axhline(bounds[label], color=colour, ls="--", lw=0.8)
        ax_loss.plot([h["step"] for h in rows], [h["val_loss"] for h in rows], "o-", ms=3, color=colour, label=label)
    ax_esr.axhline(1.0, color="0.5", ls=":", lw=1.0)
    for ax, xlabel, ylabel in ((ax_esr, "training CPU time (min)", "validation ESR (dashed: the run's bound)"),
                               (ax_loss, "step", "validation loss")):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=7, ncol=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
