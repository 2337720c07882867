"""The ``search`` stage (thesis §3.3.1, Table 5): the hyperparameter search with progressive
pruning (successive halving) that ``search.yaml`` describes.

:func:`prepare` reads the search's size for the profile, loads the training and validation items
once and draws the configurations; :func:`run` trains them rung by rung (reusing earlier runs)
and writes the ranked table, the per-rung table and figure and the DVC metrics. :func:`reading`
is what notebook ``09_search`` says of the result, from tested parts (:func:`rung_correlation`,
:func:`steps_saved`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from springstudy import search
from springstudy.outputs import write_bytes_atomic, write_json_atomic
from springstudy.outputs import save_figure
from springstudy.train import TrainConfig, load_splits


@dataclass
class SearchPlan:
    """What the search will do: its size, the space it draws from, the data and the candidates."""

    spec: search.SearchSize
    space: search.SearchSpace
    splits: dict[str, Any]
    sample_rate: int
    candidates: list[search.Candidate]
    schedule: pd.DataFrame


@dataclass
class SearchStage:
    """What :func:`run` trained and wrote."""

    plan: SearchPlan
    result: search.SearchResult
    ranking: pd.DataFrame
    rung_table: pd.DataFrame
    budget: dict[str, int]
    metrics: dict[str, Any]
    table_markdown: Path
    figure: Path
    written: list[Path] = field(default_factory=list)


def prepare(data: Path, *, seed: int, search_file: Path | None = None, profile: str | None = None,
            size: str | None = None, split_file: Path | None = None, scratch: Path) -> SearchPlan:
    """The search's size (``profile`` through ``size_by_profile``, else ``size``), its space capped
    to that size, the training and validation items (the trainer's own transforms, loaded once),
    the seeded candidates and the successive-halving schedule."""
    params = search.load_search(search_file)
    spec = search.search_size(params, name=None if profile is not None else size, profile=profile)
    splits, sample_rate, _ = load_splits(TrainConfig(model="search", out=str(scratch), data=str(data), seed=seed,
                                                     split_file=None if split_file is None else str(split_file)))
    space = search.size_space(search.search_space(params), spec)
    candidates = search.sample_configurations(space, spec.configurations, seed, sample_rate)
    plan = search.schedule(spec.configurations, spec.rungs, spec.eta, spec.min_survivors, spec.per_family)
    return SearchPlan(spec, space, splits, sample_rate, candidates, plan)


def run(plan: SearchPlan, *, runs_dir: Path, seed: int, tables_dir: Path, figures_dir: Path,
        metrics_path: Path | None = None, progress: bool = True) -> SearchStage:
    """Run the planned search into ``runs_dir`` and write its tables, figure and metrics."""
    spec = plan.spec
    result = search.run_search(plan.candidates, spec, plan.splits, plan.sample_rate, runs_dir, seed, progress=progress)
    rung_table = result.rung_table()
    ranking = result.ranking()
    budget = search.pruning_budget(result.rungs, spec.rungs, len(plan.candidates))
    title = f"Hyperparameter search (thesis §3.3.1, Table 5), size {spec.name}: ranked configurations"
    from springstudy.train import loss_label

    loss = loss_label(spec.train)                   # the search's own training settings
    csv_path, md_path = search.write_ranking(ranking, tables_dir, title=title, loss=loss)
    rungs_path = tables_dir / f"{search.RUNGS_STEM}.csv"
    write_bytes_atomic(rungs_path, rung_table.to_csv(index=False, float_format="%.6g").encode())
    metrics = search.search_metrics(result, ranking)
    written = [csv_path, md_path, rungs_path]
    if metrics_path is not None:
        write_json_atomic(metrics_path, metrics)
        written.append(metrics_path)
    fig = search.plot_rungs(rung_table, title=f"Successive halving, size {spec.name} (eta {spec.eta})", loss=loss)
    figure = save_figure(fig, figures_dir / f"{search.RUNGS_STEM}.png", close=True)
    written.append(figure)
    return SearchStage(plan, result, ranking, rung_table, budget, metrics, md_path, figure, written)


def rung_correlation(rung_table: pd.DataFrame) -> tuple[int, float] | None:
    """Spearman's rank correlation between the validation losses at rungs 0 and 1 of the
    configurations promoted past rung 0, and how many they are (None below three): whether a
    short run predicts a longer one, the premise of pruning."""
    first = rung_table[rung_table["rung"] == 0].set_index("config_id")["val_loss"]
    going_on = rung_table[rung_table["rung"] == 1].set_index("config_id")["val_loss"]
    if len(going_on) < 3:
        return None
    pair = pd.concat([first.loc[going_on.index], going_on], axis=1, keys=["first", "second"])
    return len(going_on), float(pair.rank().corr().iloc[0, 1])


def steps_saved(budget: dict[str, int]) -> float:
    """The share of optimiser steps pruning saved against training every configuration to the last rung."""
    return 1 - budget["steps_trained"] / budget["steps_without_pruning"]


def reading(stage: SearchStage) -> str:
    """The search's reading (Markdown): the best configuration and the best per family, whether
    short runs predicted longer ones, the pruned configurations' learning rates, the steps saved."""
    ranking, rung_table = stage.ranking, stage.rung_table
    best = ranking.iloc[0]
    finalists = ranking[ranking["status"] == "finalist"]
    lines = [f"The best configuration is **{best['config_id']}** ({best['family']}, built from {best['model']}: "
             f"{best['hyperparameters']}; {best['params']:,} parameters; lr {best['lr']:.2e}, batch "
             f"{best['batch_size']}), validation loss {best['val_loss']:.4f} after {best['steps']} steps. "
             + "Best per family: " + "; ".join(
                 f"{r['family']} {r['config_id']} {r['val_loss']:.4f} ({r['params']:,} parameters)"
                 for _, r in finalists.iterrows()) + "."]
    correlation = rung_correlation(rung_table)
    if correlation is not None:
        n, rho = correlation
        lines.append(f"Among the {n} configurations promoted past rung 0, the rank correlation between "
                     f"their losses at rungs 0 and 1 is {rho:+.2f} (Spearman): the premise of pruning, that a short "
                     f"run predicts a longer one, "
                     f"{'holds here' if rho > 0.5 else 'is weak here' if rho > 0 else 'fails here'}.")
    pruned_first = ranking[ranking["rung"] == 0]
    if len(pruned_first) and len(finalists):
        lines.append(f"Configurations pruned at rung 0 had a median learning rate of {pruned_first['lr'].median():.2e}, "
                     f"the finalists {finalists['lr'].median():.2e}.")
    lines.append(f"The search trained {stage.budget['steps_trained']:,} optimiser steps, against "
                 f"{stage.budget['steps_without_pruning']:,} for training every configuration to the last rung: "
                 f"pruning saved {steps_saved(stage.budget):.0%} of the steps.")
    failed = ranking[ranking["status"] == "failed"]
    if len(failed):
        lines.append(f"{len(failed)} configuration(s) diverged (non-finite loss): {', '.join(failed['config_id'])}.")
    return "\n\n".join(lines)


__all__ = ["SearchPlan", "SearchStage", "prepare", "reading", "rung_correlation", "run", "steps_saved"]
