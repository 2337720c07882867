"""The ``train`` stage (thesis §3.3, Table 7): one named run of ``params.yaml``'s ``train.runs``.

:func:`run` resolves the run's settings (the ``train`` group for the profile, the dataset
format's entry, the run's own keys: :func:`springstudy.config.train_params`), trains it
(resumable), and writes its DVC metrics (:func:`run_metrics`), its validation history for
``dvc plots`` and its training-curve figure. Notebook ``03_train`` shows the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from springstudy.config import load_params, project_root
from springstudy.outputs import write_bytes_atomic, write_json_atomic
from springstudy.outputs import save_figure
from springstudy.plots import plot_training_curves
from springstudy.train import RunResult, TrainConfig, config_from_params, loss_label, train


@dataclass
class TrainStage:
    """What :func:`run` trained and wrote."""

    config: TrainConfig
    result: RunResult
    metrics: dict[str, Any]
    history: pd.DataFrame
    figure: Any
    written: list[Path] = field(default_factory=list)


def run_metrics(model: str, fmt: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A run's DVC metrics: its size, steps, loss (in words, from its config), best validation
    loss, throughput and CPU time, and its validation metrics (``val_<name>``), from the run's summary."""
    return {"model": model, "format": fmt, "params": summary["params"], "steps": summary["steps"],
            "loss": loss_label(summary["config"]),
            "best_val_loss": summary["best_val_loss"], "train_samples_per_second": summary["train_samples_per_second"],
            "train_cpu_seconds": summary["train_cpu_seconds"],
            **{f"val_{k}": v for k, v in summary["val_metrics"].items()}}


def run(model: str, fmt: str, profile: str, data: Path, out: Path, *, run: str | None = None,
        split_file: Path | None = None, resume: bool = False, metrics_path: Path | None = None,
        figure_path: Path | None = None, history_path: Path | None = None,
        params: dict[str, Any] | None = None) -> TrainStage:
    """Train ``model`` on ``data`` (format ``fmt``) with ``params.yaml``'s settings for ``profile``
    and ``run`` into ``out``; write the metrics, history and figure that are given paths."""
    params = load_params(project_root() / "params.yaml") if params is None else params
    config = config_from_params(model, str(out), str(data), params, profile, format=fmt, run=run,
                                split_file=None if split_file is None else str(split_file))
    result = train(config, resume=resume)
    history = pd.DataFrame(result.history)
    stage = TrainStage(config, result, run_metrics(model, fmt, result.summary), history,
                       plot_training_curves(result.history, title=f"{model} ({fmt}, {profile})",
                                            loss=loss_label(config)))
    if history_path is not None:
        write_bytes_atomic(history_path, history.to_csv(index=False).encode())
        stage.written.append(history_path)
    if figure_path is not None:
        stage.written.append(save_figure(stage.figure, figure_path))
    if metrics_path is not None:
        write_json_atomic(metrics_path, stage.metrics)
        stage.written.append(metrics_path)
    return stage


def reading(stage: TrainStage) -> str:
    """How far the validation loss fell, and why the run stopped."""
    first, last = stage.result.history[0]["val_loss"], stage.result.summary["best_val_loss"]
    return (f"Reading: validation loss went from {first:.3f} at the first check to {last:.3f} at best "
            f"({(1 - last / first) * 100:.0f}% lower); the run stopped by "
            f"{stage.result.summary['stopped'].replace('_', ' ')}.")


__all__ = ["TrainStage", "reading", "run", "run_metrics"]
