"""The ``evaluate`` stage (thesis §4.1.2, Tables 9-10, Fig 15): every trained run scored on its
dataset's test split beside the baselines, each model against its receptive-field bound.

:func:`run` scores, per dataset, every run's ``best.pt`` and the closed-form baselines on every
test item; adds each model's receptive-field linear bound and its gap (``bounds=True``); writes
Table 9 or 10 (CSV, Markdown beside the thesis's numbers, per-item CSV), a DVC metrics file per
rate, the bound curve (CSV and figure), the learning curves and Fig 15; and returns it all.
:func:`reading` is what notebook ``05_evaluate`` says of it, from tested parts
(:func:`springstudy.evaluate.paired_verdict`, :func:`springstudy.bounds.gap_reading`,
:func:`springstudy.thesis_tables.relabelling_check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from springstudy import bounds as bd
from springstudy import evaluate as ev
from springstudy.outputs import write_bytes_atomic
from springstudy.outputs import save_figure
from springstudy.thesis_tables import TABLE_FOR_DATASET, corrected_reading, relabelling_check


@dataclass
class EvaluateStage:
    """What :func:`run` scored and wrote."""

    runs: dict[str, dict[str, Path]]
    evaluations: dict[str, ev.Evaluation]
    summaries: dict[str, pd.DataFrame]
    n_resamples: int
    confidence: float
    seed: int
    tables: dict[str, Path] = field(default_factory=dict)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, dict[str, Path]] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def train_demo_runs(sources: Mapping[str, Path], split_files: Mapping[str, Path | None], runs_root: Path, *,
                    model: str, steps: int, crop_seconds: float, batch_size: int, seed: int,
                    split_method: str) -> None:
    """Train a demo ``model`` for a few steps per dataset into ``runs_root/<dataset>/<model>``, so
    the stage has a run to score when it is given none (a notebook run as it is)."""
    from springstudy.train import TrainConfig, train

    for name, source in sources.items():
        split_file = split_files.get(name)
        config = TrainConfig(model=model, out=str(runs_root / name / model), data=str(source),
                             split_file=None if split_file is None else str(split_file),
                             split_method=split_method, max_steps=steps, val_every=steps,
                             batch_size=batch_size, crop_seconds=crop_seconds, seed=seed,
                             val_items=1, val_seconds=crop_seconds,   # a demo: validate on one crop
                             tensorboard=False)
        train(config, progress=False)


def find_stage_runs(runs_root: Path, datasets: Sequence[str], models: Sequence[str] | None = None
                    ) -> dict[str, dict[str, Path]]:
    """Per dataset, the run folders under ``runs_root/<dataset>`` (only ``models`` if given)."""
    return {name: ev.find_runs([runs_root / name], models) if (runs_root / name).is_dir() else {}
            for name in datasets}


def run(sources: Mapping[str, Path], split_files: Mapping[str, Path | None], runs: Mapping[str, Mapping[str, Path]],
        *, seed: int, split_method: str, baselines: Sequence[str], noise_amplitude: float | None,
        ir_seconds: float | None, ir_regularisation: float, pre_emphasis: float, n_resamples: int,
        confidence: float, batch_size: int, n_examples: int, figure_baselines: Sequence[str], bounds: bool,
        bound_curve_points: int, tables_dir: Path, metrics_dir: Path, figures_dir: Path,
        audio_dir: Path | None = None) -> EvaluateStage:
    """Score every dataset's runs and baselines and write its table, metrics, bound curve,
    learning curves, Fig 15 and the Fig 15 items as audio (``audio_dir``, default
    ``<tables_dir>/../audio``: ``examples_<rate>/``, see :func:`springstudy.audio.write_examples`)."""
    from springstudy.audio import write_examples

    from springstudy.plots import plot_learning_curves
    from springstudy.train import summary_json

    result = EvaluateStage({name: dict(r) for name, r in runs.items()}, {}, {}, n_resamples, confidence, seed)
    caches = {}
    for name, source in sources.items():
        e = ev.evaluate(source, result.runs[name], split_files.get(name), seed, split_method, baselines,
                        noise_amplitude, ir_seconds, ir_regularisation, pre_emphasis, batch_size, n_examples)
        result.evaluations[name] = e
        summary = e.summary(n_resamples=n_resamples, confidence=confidence, seed=seed)
        if bounds and result.runs[name]:
            caches[name] = bd.BoundCache(e.train, e.sample_rate, ir_regularisation,
                                         [f for f in e.baselines.values() if isinstance(f, bd.LinearIR)])
            summary = bd.add_bounds(summary, e, result.runs[name], caches[name], n_resamples, confidence, seed)
        result.summaries[name] = summary
        tables = ev.DATASET_TABLES[name]
        csv_path, md_path = ev.write_table(summary, tables_dir, tables.stem, tables.title, TABLE_FOR_DATASET[name],
                                           confidence)
        items_path = tables_dir / f"{tables.stem}_items.csv"
        write_bytes_atomic(items_path, e.items.to_csv(index=False, float_format="%.8g").encode())
        result.tables[name] = md_path
        result.written += [csv_path, md_path, items_path,
                           ev.write_metrics(summary, metrics_dir / f"evaluate_{tables.rate_label}.json", dataset=name,
                                            sample_rate=e.sample_rate, n_resamples=n_resamples,
                                            confidence=confidence)]

    def save(kind: str, name: str, figure: object, stem: str) -> None:
        path = save_figure(figure, figures_dir / f"{stem}_{ev.DATASET_TABLES[name].rate_label}.png", close=True)
        result.figures.setdefault(kind, {})[name] = path
        result.written.append(path)

    for name, cache in caches.items():
        e, label = result.evaluations[name], ev.DATASET_TABLES[name].rate_label
        result.curves[name] = bd.bound_curve(cache, e.test, points=bound_curve_points)
        curve_path = tables_dir / f"bound_curve_{label}.csv"
        write_bytes_atomic(curve_path, result.curves[name].to_csv(index=False, float_format="%.6g").encode())
        result.written.append(curve_path)
        save("bound", name, bd.plot_esr_vs_receptive_field(
            result.summaries[name], result.curves[name],
            f"{name} ({e.sample_rate // 1000} kHz): test ESR against receptive field",
            item_seconds=cache.item_length / e.sample_rate), "bound_esr")
    for name, e in result.evaluations.items():
        if not result.runs[name]:
            continue
        histories = {m: summary_json(Path(r) / "summary.json")["history"] for m, r in result.runs[name].items()
                     if (Path(r) / "summary.json").is_file()}
        frame = result.summaries[name].set_index("model")
        run_bounds = {m: frame.loc[m, "bound_esr"] for m in histories if "bound_esr" in frame and m in frame.index}
        save("learning_curves", name, plot_learning_curves(
            histories, f"{name} ({e.sample_rate // 1000} kHz): learning curves", run_bounds), "learning_curves")
    for name, e in result.evaluations.items():
        shown = {m: ex for m, ex in e.examples.items() if m in result.runs[name] or m in figure_baselines}
        if shown:
            save("fig15", name, ev.plot_predictions(
                shown, e.test, e.sample_rate,
                f"Fig 15 · {name} ({e.sample_rate // 1000} kHz): prediction (blue) and target (orange)"),
                "fig15_predictions")
            folder = (audio_dir or Path(tables_dir).parent / "audio") / f"examples_{ev.DATASET_TABLES[name].rate_label}"
            write_examples(folder, e.sample_rate, e.test.dry[:, 0].double().numpy(), e.test.wet[:, 0].double().numpy(),
                           shown, sorted(e.example_indices), list(e.test.ids))
            result.written += sorted(folder.iterdir())
    return result


def _interval(row: pd.Series, metric: str) -> str:
    from springstudy.tables import fmt_interval

    return fmt_interval(row[metric], row[metric + "_lo"], row[metric + "_hi"])


def linear_ir_verdicts(result: EvaluateStage, name: str) -> dict[str, str]:
    """Per trained model of dataset ``name``: ``better``, ``worse`` or ``undecided`` against the
    Linear IR on test ESR, by the paired bootstrap of the per-item differences."""
    e = result.evaluations[name]
    table = result.summaries[name].set_index("model")
    by = e.items.set_index(["model", "index"])["esr"]
    words = {"better than": "better", "worse than": "worse", "not distinguishable from": "undecided"}
    verdicts = {}
    for model in table.index[table["kind"] == "model"]:
        d = ev.paired_difference(by.loc[model].to_numpy(), by.loc["Linear IR"].to_numpy(), result.n_resamples,
                                 result.confidence, result.seed)
        verdicts[model] = words[ev.paired_verdict(d.lo, d.hi)]
    return verdicts


def reading(result: EvaluateStage) -> str:
    """The stage's reading, per dataset (Markdown): the best trained models, how many beat the
    Linear IR and Silence, each model's gap to its bound, and the thesis's table read with its
    corrected labels."""
    lines = []
    for name, e in result.evaluations.items():
        table = result.summaries[name].set_index("model")
        trained = [m for m in table.index if table.loc[m, "kind"] == "model"]
        n_test = len(e.test.ids)
        text = f"**{name}** ({n_test} test item{'s' if n_test != 1 else ''}). "
        if not trained:
            lines.append(text + "No trained model was found; only the baselines are scored.")
            continue
        best = {metric: table.index[(table["kind"] == "model") & table["best"].str.contains(metric)].tolist()
                for metric in ev.TABLE_METRICS}
        text += "Lowest means among the trained models: " + "; ".join(
            f"{ev.METRIC_HEADINGS[m]} {', '.join(best[m])} ({table.loc[best[m][0], m]:.3g})"
            for m in ev.TABLE_METRICS) + ". "
        if "Linear IR" in table.index:
            verdicts = linear_ir_verdicts(result, name)
            counts = pd.Series(verdicts).value_counts()
            text += (f"Against the Linear IR (ESR {_interval(table.loc['Linear IR'], 'esr')}), "
                     f"{counts.get('better', 0)} of {len(trained)} trained models have a lower ESR beyond resampling "
                     f"noise ({', '.join(m for m, v in verdicts.items() if v == 'better') or 'none'}), "
                     f"{counts.get('worse', 0)} a higher one, {counts.get('undecided', 0)} are undecided. ")
        below_one = [m for m in trained if table.loc[m, "esr_hi"] < 1]
        text += f"{len(below_one)} of {len(trained)} have an ESR interval entirely below Silence's 1. "
        if "gap" in table and table["gap"].notna().any():
            limits = bd.gap_reading(result.summaries[name].dropna(subset=["gap"]))
            by_limit = {kind: [m for m, k in limits.items() if k == kind] for kind in ("architecture", "training")}
            text += ("Against its receptive-field bound (gap = ESR / bound ESR): "
                     + ", ".join(f"{m} {table.loc[m, 'gap']:.3g}" for m in limits) + ". "
                     + f"Within 2× of its bound, so limited by its architecture: "
                       f"{', '.join(by_limit['architecture']) or 'none'}; "
                     + f"limited by its training: {', '.join(by_limit['training']) or 'none'}. ")
        thesis = corrected_reading(TABLE_FOR_DATASET[name]).set_index("model")
        common = [m for m in trained if m in thesis.index]
        check = relabelling_check(TABLE_FOR_DATASET[name])
        power = float((e.test.wet.double() ** 2).mean())
        above_one = thesis.index[thesis["esr"] > 1].tolist()
        text += (f"In the thesis's Table {TABLE_FOR_DATASET[name].number} read with corrected labels, the lowest ESR "
                 f"is {thesis['esr'].idxmin()}'s {thesis['esr'].min():.3g} (printed under \"DC\"), and "
                 f"{len(above_one)} of {len(thesis)} models have an ESR above 1, worse than silence "
                 f"({', '.join(above_one) or 'none'}). The ratio of its \"ESR\" to its \"DC\" column, which is the "
                 f"mean target power if the columns hold MSE and ESR, varies by only {check['power_cv']:.0%} across "
                 f"models (mean {check['power_mean']:.3g}; our test targets' mean power is {power:.3g}). ")
        if len(common) >= 3:
            rho = pd.Series({m: table.loc[m, "mae"] for m in common}).rank().corr(thesis.loc[common, "mae"].rank())
            text += f"Over the {len(common)} models both tables hold, the MAE rankings correlate with Spearman ρ = {rho:.2f}."
        elif common:
            text += f"Models in both tables: {', '.join(common)} (too few to compare rankings)."
        lines.append(text)
    return "\n\n".join(lines)


__all__ = ["EvaluateStage", "find_stage_runs", "linear_ir_verdicts", "reading", "run", "train_demo_runs"]
