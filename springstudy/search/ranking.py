"""The search's ranked table, its files and metrics, and the figure of the rungs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from springstudy.outputs import write_bytes_atomic, write_csv_atomic
from springstudy.search.halving import RungResult, _sort_key
from springstudy.search.sampling import Candidate
from springstudy.tables import markdown_table

if TYPE_CHECKING:
    from springstudy.search.trials import SearchResult, TrialOutcome


#: File stems of the outputs: the ranking table (CSV, Markdown); the per-rung table and figure.
RANKING_STEM = "search_ranking"
RUNGS_STEM = "search_rungs"


# --- the ranked table, its files and the rung figure ----------------------------------------------

RANKING_COLUMNS = ("rank", "config_id", "family", "model", "hyperparameters", "params", "receptive_field",
                   "rf_ms", "lr", "batch_size", "rung", "steps", "val_loss", "best_val_loss", "status",
                   "family_rank")


def ranking_table(candidates: Sequence[Candidate], rungs: Sequence[RungResult],
                  outcomes: Mapping[tuple[str, int], TrialOutcome], n_rungs: int,
                  sample_rate: int | None = None) -> pd.DataFrame:
    """Rank every configuration: the furthest rung reached first, then the lowest validation loss
    there (the successive-halving order). ``rung`` is that rung (0-based), ``steps`` the optimiser
    steps actually trained, ``status`` finalist / promoted (waiting for the next rung) / pruned
    after rung r / failed; ``family_rank`` is the rank within the family."""
    last: dict[str, RungResult] = {}
    for r in rungs:
        if r.config_id not in last or r.rung > last[r.config_id].rung:
            last[r.config_id] = r
    rows = []
    for c in candidates:
        if c.config_id not in last:
            continue
        r = last[c.config_id]
        o = outcomes.get((c.config_id, r.rung))
        if o is not None and o.error:
            status = "failed"
        elif r.rung == n_rungs - 1:
            status = "finalist"
        elif r.promoted:
            status = "promoted"
        else:
            status = f"pruned after rung {r.rung}"
        rows.append({"config_id": c.config_id, "family": c.family, "model": c.model,
                     "hyperparameters": c.describe(), "params": c.params, "receptive_field": c.receptive_field,
                     "lr": c.lr, "batch_size": c.batch_size, "rung": r.rung,
                     "steps": o.steps if o is not None else r.steps, "val_loss": r.val_loss,
                     "best_val_loss": o.best_val_loss if o is not None else math.nan, "status": status})
    table = pd.DataFrame(rows, columns=[c for c in RANKING_COLUMNS if c not in ("rank", "rf_ms", "family_rank")])
    if table.empty:
        return table.reindex(columns=list(RANKING_COLUMNS))
    table["_loss"] = table["val_loss"].map(_sort_key)
    table = table.sort_values(["rung", "_loss", "config_id"], ascending=[False, True, True], kind="stable")
    table = table.drop(columns="_loss").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["family_rank"] = table.groupby("family").cumcount() + 1
    table.insert(table.columns.get_loc("receptive_field") + 1, "rf_ms",
                 table["receptive_field"] * 1000.0 / sample_rate if sample_rate else np.nan)
    return table


def _cell(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if column == "lr":
        return f"{value:.2e}"
    if column in ("val_loss", "best_val_loss"):
        return f"{value:.4f}"
    if column == "rf_ms":
        return f"{value:.1f}"
    if column in ("params", "receptive_field"):
        return f"{int(value):,}"
    return str(value)


def ranking_markdown(table: pd.DataFrame, title: str = "", loss: str = "eq. 3.1 (0.5·MAE + 0.5·MR-STFT)") -> str:
    """The ranked table as GitHub-flavoured Markdown (infinite receptive fields as ∞); ``loss``
    names the validation loss (:func:`springstudy.train.loss_label` of the search's settings)."""
    headings = {"rank": "Rank", "config_id": "Config", "family": "Family", "model": "Built from",
                "hyperparameters": "Hyperparameters (Table 5)", "params": "Parameters",
                "receptive_field": "RF (samples)", "rf_ms": "RF (ms)", "lr": "LR", "batch_size": "Batch",
                "rung": "Rung", "steps": "Steps", "val_loss": "Val. loss", "best_val_loss": "Best so far",
                "status": "Status",
                "family_rank": "In family"}
    columns = [c for c in RANKING_COLUMNS if c in table.columns]
    lines = [f"## {title}", ""] if title else []
    lines.append(markdown_table(table, {c: headings[c] for c in columns},
                                formats={c: (lambda v, c=c: _cell(c, v)) for c in columns}))
    lines += ["", f"Validation loss: {loss} at the end of the configuration's "
              "last rung (the rung metric); \"best so far\" is the lowest validation up to then. Ranked by "
              "rung reached, then validation loss; rungs count from 0."]
    return "\n".join(lines) + "\n"


def write_ranking(table: pd.DataFrame, folder: str | Path, stem: str = RANKING_STEM,
                  loss: str = "eq. 3.1 (0.5·MAE + 0.5·MR-STFT)",
                  title: str = "Hyperparameter search (thesis §3.3.1): ranked configurations") -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically; returns both paths."""
    folder = Path(folder)
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    write_csv_atomic(csv_path, table)
    write_bytes_atomic(md_path, ranking_markdown(table, title, loss).encode())
    return csv_path, md_path


def pruning_budget(rungs: Sequence[RungResult], rung_steps: Sequence[int], n_configurations: int) -> dict[str, int]:
    """Optimiser steps the search spent (each rung trains only the steps since the previous one)
    against training every configuration to the last rung."""
    previous = {r: (rung_steps[r - 1] if r else 0) for r in range(len(rung_steps))}
    spent = sum(r.steps - previous[r.rung] for r in rungs)
    return {"steps_trained": int(spent), "steps_without_pruning": int(n_configurations * rung_steps[-1])}


def search_metrics(result: SearchResult, table: pd.DataFrame) -> dict[str, Any]:
    """DVC metrics of a search: the best configuration overall and per family, counts, time."""
    def entry(row: pd.Series) -> dict[str, Any]:
        return {"config_id": row["config_id"], "val_loss": float(row["val_loss"]), "params": int(row["params"]),
                "lr": float(row["lr"]), "batch_size": int(row["batch_size"]), "steps": int(row["steps"])}

    best = table.iloc[0] if len(table) else None
    return {
        "size": result.size.name,
        "configurations": len(result.candidates),
        "rung_trainings": len(result.rungs),
        "trained_rung_trainings": sum(1 for o in result.outcomes.values() if not o.reused),
        "failed": int((table["status"] == "failed").sum()) if len(table) else 0,
        "seconds": round(result.seconds, 1),
        **pruning_budget(result.rungs, result.size.rungs, len(result.candidates)),
        "best_val_loss": None if best is None else float(best["val_loss"]),
        "best": None if best is None else entry(best),
        "families": {family: entry(rows.iloc[0]) for family, rows in table.groupby("family", sort=False)},
    }


def plot_rungs(rung_table: pd.DataFrame, title: str = "",
               loss: str = "eq. 3.1") -> "matplotlib.figure.Figure":  # noqa: F821
    """Validation loss per rung, one panel per family, one line per configuration; pruned
    configurations end in a cross, finalists are drawn thick and labelled."""
    from matplotlib.ticker import FormatStrFormatter

    from springstudy.plots import plt

    families = list(dict.fromkeys(rung_table["family"]))
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families) + 0.6, 3.4), sharey=True,
                             squeeze=False)
    last_rung = rung_table["rung"].max()
    for ax, family in zip(axes[0], families):
        rows = rung_table[rung_table["family"] == family]
        for k, (config_id, runs) in enumerate(rows.groupby("config_id", sort=True)):
            runs = runs.sort_values("rung")
            finite = runs[np.isfinite(runs["val_loss"])]
            color = f"C{k % 10}"
            final = runs["rung"].iloc[-1] == last_rung
            ax.plot(finite["rung_steps"], finite["val_loss"], "-o", color=color, ms=3, lw=2.2 if final else 0.9,
                    alpha=1.0 if final else 0.6)
            if not final and len(finite):
                ax.plot(finite["rung_steps"].iloc[-1], finite["val_loss"].iloc[-1], "x", color=color, ms=7)
            if final and len(finite):
                ax.annotate(config_id, (finite["rung_steps"].iloc[-1], finite["val_loss"].iloc[-1]),
                            xytext=(4, 0), textcoords="offset points", fontsize=7, va="center")
        ax.set_title(family)
        ax.set_xscale("log")
        ax.set_yscale("log")       # a diverging configuration sits decades above the rest
        ax.set_xlabel("steps (rung)")
        ticks = sorted(rung_table["rung_steps"].unique())
        ax.set_xticks(ticks, [str(s) for s in ticks])
        ax.set_xticks([], minor=True)
        ax.set_xlim(ticks[0] / 1.2, ticks[-1] * 1.6)   # room for the finalists' labels
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"validation loss ({loss})")
    plain = FormatStrFormatter("%g")
    axes[0][0].yaxis.set_major_formatter(plain)
    axes[0][0].yaxis.set_minor_formatter(plain)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
