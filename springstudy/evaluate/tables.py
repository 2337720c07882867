"""Tables 8-10 and Fig 15: Markdown beside the thesis's printed numbers, CSV and DVC metrics files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from springstudy.evaluate.scoring import EvaluationError
from springstudy.evaluate.stats import DEFAULT_CONFIDENCE, NOISE_FLOORS, SUMMARY_METRICS
from springstudy.outputs import write_bytes_atomic, write_csv_atomic, write_json_atomic
from springstudy.tables import fmt_interval, fmt_number, markdown_table
from springstudy.thesis_tables import MIXUP_NOTE, ThesisTable, printed_and_corrected, relabelling_check


#: Column headings of the metrics, as the tables print them.
METRIC_HEADINGS = {"mae": "MAE", "mse": "MSE", "esr": "ESR", "dc": "DC", "esr_pre": "ESR (pre-emph.)",
                   "stft": "STFT", "mr_stft": "MR-STFT"}


@dataclass(frozen=True)
class DatasetTables:
    """Where a dataset's results go: thesis table number, file stem, short rate label."""

    number: int
    stem: str
    rate_label: str
    title: str


#: Thesis Table 9 reports SpringSet (16 kHz), Table 10 EGFxSet (48 kHz).
DATASET_TABLES = {
    "springset": DatasetTables(9, "table9_16k", "16k", "Table 9 · test results, SpringSet format (16 kHz)"),
    "egfxset": DatasetTables(10, "table10_48k", "48k", "Table 10 · test results, EGFxSet format (48 kHz)"),
}
BASELINE_TABLE_STEM = "table8_baselines"


# --- tables, metrics files ------------------------------------------------------------------

def _fmt_as_printed(value: Any) -> str:
    """Up to six significant digits: the thesis's numbers as transcribed (1.396, 7.21e-05)."""
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:g}"
    return fmt_number(value)


def results_markdown(summary: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS,
                     confidence: float = DEFAULT_CONFIDENCE, lead: Sequence[str] = ()) -> str:
    """Our results as Markdown: ``mean [lo, hi]`` per metric, the best value in bold."""
    frame = summary.copy()
    best = frame["best"] if "best" in frame else pd.Series("", index=frame.index)
    for metric in metrics:
        cells = []
        for i, row in frame.iterrows():
            cell = fmt_interval(row[metric], row[f'{metric}_lo'], row[f'{metric}_hi'])
            cells.append(f"**{cell}**" if metric in str(best[i]).split(";") else cell)
        frame[f"_{metric}"] = cells
    columns = [*lead, "model", "kind", "params", "n_items", *[f"_{m}" for m in metrics]]
    headings = [*(c.replace("_", " ").capitalize() for c in lead), "Model", "Kind", "Parameters", "Items",
                *(f"{METRIC_HEADINGS[m]}" for m in metrics)]
    bounded = "bound_esr" in frame and frame["bound_esr"].notna().any()
    if bounded:         # springstudy.bounds: the receptive-field linear bound and the gap to it
        for column in ("bound_esr", "gap"):
            frame[f"_{column}"] = [fmt_interval(r[column], r[f'{column}_lo'], r[f'{column}_hi'])
                                   for _, r in frame.iterrows()]
        columns += ["_bound_esr", "_gap"]
        headings += ["Bound ESR", "Gap (ESR / bound)"]
    table = markdown_table(frame, dict(zip(columns, headings)))
    among = summary.attrs.get("best_among", "model")
    pool = "of the trained models" if among == "model" else "of all rows" if among == "all" else f"among {among} rows"
    note = (" Bound ESR: the test ESR of the least-squares FIR as long as the model's receptive field (recurrent "
            "models: the item), fitted on the training split; gap: the model's ESR over it." if bounded else "")
    if "recipe" in frame:           # which training recipe made which rows
        recipes: dict[str, list[str]] = {}
        for _, row in frame.iterrows():
            if isinstance(row["recipe"], str) and row["recipe"]:
                recipes.setdefault(row["recipe"], []).append(str(row["model"]))
        note += "".join(f"\n\nTrained with {recipe}: {', '.join(models)}." for recipe, models in recipes.items())
    floors = "; ".join(f"{METRIC_HEADINGS[m]} below {v:g} is rounding noise and marks no row"
                       for m, v in NOISE_FLOORS.items() if m in metrics)
    return (f"{table}\n\nMean over all test items, [{confidence:.0%} BCa bootstrap interval, paired across rows]; "
            f"lowest mean {pool} in bold ({floors}).{note}")


def thesis_markdown(thesis: ThesisTable) -> str:
    """The thesis's table as printed and under the corrected labels, with the note on the mix-up."""
    frame = printed_and_corrected(thesis)
    printed = markdown_table(frame, dict(zip(["model", "params", "printed_mae", "printed_esr", "printed_dc",
                                              "printed_mr_stft"], ["Model", "Parameters", "MAE", "ESR", "DC", "MR-STFT"])),
                             default=_fmt_as_printed)
    parts = [f"### Thesis Table {thesis.number} as printed\n\n_{thesis.caption}_\n\n{printed}"]
    if thesis.mislabelled:
        corrected = markdown_table(frame, dict(zip(["model", "params", "mae", "mse", "esr", "dc"],
                                                   ["Model", "Parameters", "MAE", "MSE (printed \"ESR\")",
                                                    "ESR (printed \"DC\")", "DC (printed \"MR-STFT\")"])),
                                   default=_fmt_as_printed)
        check = relabelling_check(thesis)
        parts.append(f"### Thesis Table {thesis.number}, corrected labels\n\n{corrected}\n\n{MIXUP_NOTE} "
                     f"Consistency of the relabelling: printed \"ESR\" / printed \"DC\" (MSE/ESR = mean target "
                     f"power) is {check['power_mean']:.3g} on average with a coefficient of variation of "
                     f"{check['power_cv']:.0%} across models; MSE >= MAE² holds on "
                     f"{'every' if check['mse_ge_mae2'] else 'not every'} row.")
    else:
        parts.append(f"{MIXUP_NOTE} Table {thesis.number} is read with its printed labels.")
    return "\n\n".join(parts)


def write_table(summary: pd.DataFrame, folder: str | Path, stem: str, title: str,
                thesis: ThesisTable | None = None, confidence: float = DEFAULT_CONFIDENCE,
                lead: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` (the summary, bounds in ``<metric>_lo/_hi`` columns) and ``<stem>.md``
    (ours, then the thesis's published numbers beside them), atomically. Returns both paths."""
    folder = Path(folder)
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    write_csv_atomic(csv_path, summary)
    parts = [f"## {title}", results_markdown(summary, confidence=confidence, lead=lead)]
    if thesis is not None:
        parts.append(thesis_markdown(thesis))
    write_bytes_atomic(md_path, ("\n\n".join(parts) + "\n").encode())
    return csv_path, md_path


def metrics_record(summary: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS,
                   **extra: Any) -> dict[str, Any]:
    """The summary as a DVC metrics record: ``{"models": {model: {metric, metric_lo, metric_hi,
    params, n_items}}, **extra}`` (plain numbers only, so ``dvc metrics diff`` compares them)."""
    models = {}
    for _, row in summary.iterrows():
        entry: dict[str, Any] = {"params": None if pd.isna(row["params"]) else int(row["params"]),
                                 "n_items": int(row["n_items"])}
        for metric in metrics:
            for suffix in ("", "_lo", "_hi"):
                entry[f"{metric}{suffix}"] = float(row[f"{metric}{suffix}"])
        for column in ("bound_esr", "gap"):        # springstudy.bounds, where added
            if column in row and pd.notna(row[column]):
                entry.update({f"{column}{suffix}": float(row[f"{column}{suffix}"]) for suffix in ("", "_lo", "_hi")})
        models[str(row["model"])] = entry
    return {"models": models, **extra}


def write_metrics(summary: pd.DataFrame, path: str | Path, **extra: Any) -> Path:
    """Write :func:`metrics_record` as JSON (sorted keys, atomically); returns the path."""
    write_json_atomic(path, metrics_record(summary, **extra))
    return Path(path)


# --- Figure 15 ------------------------------------------------------------------------------

def plot_predictions(examples: Mapping[str, Mapping[int, np.ndarray]], split: Any, sample_rate: int,
                     title: str | None = None, seconds: float | None = None) -> Any:
    """Fig 15: prediction (blue) over target (orange) for the same test items, one row per model.

    ``examples[model][index]`` is the prediction of test item ``index`` of ``split``; columns
    are the items (sorted). ``seconds`` shows only the first seconds of each item.
    """
    import matplotlib.pyplot as plt

    models = [m for m in examples if examples[m]]
    if not models:
        raise EvaluationError("no predictions to plot")
    indices = sorted({i for m in models for i in examples[m]})
    n = split.wet.shape[-1] if seconds is None else min(split.wet.shape[-1], int(round(seconds * sample_rate)))
    t = np.arange(n) / sample_rate
    fig, axes = plt.subplots(len(models), len(indices), figsize=(4.0 * len(indices), 1.9 * len(models) + 0.6),
                             sharex=True, squeeze=False)
    for r, model in enumerate(models):
        for c, index in enumerate(indices):
            ax = axes[r, c]
            target = split.wet[index, 0, :n].double().numpy()
            ax.plot(t, target, color="C1", lw=0.6, label="target")
            if index in examples[model]:
                ax.plot(t, examples[model][index][:n], color="C0", lw=0.6, alpha=0.85, label="prediction")
            if r == 0:
                ax.set_title(f"test item {index}", fontsize=8)
            if c == 0:
                ax.set_ylabel(model, fontsize=8)
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncol=2)
    if title:
        fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97 if title else 1))
    return fig
