"""The ``baselines`` stage (thesis §4.1.1, Table 8): what a model has to beat.

:func:`run` scores, per dataset and on every item of its test split, the TCN-baseline (trained
briefly on the concatenated training items), Naive (the dry input), the Noise ceiling, Silence
(ESR exactly 1) and the Linear IR (the least-squares FIR of the item's length); writes Table 8
(CSV, Markdown beside the thesis's numbers, per-item CSV), a DVC metrics file per rate and the
Linear IR figure per rate (against the synthetic tank's true IR where there is one); and returns
it all. :func:`reading` and the verdicts it is made of are what notebook ``04_baselines`` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from springstudy import evaluate as ev
from springstudy.baselines import ir_error_db, plot_linear_ir
from springstudy.evaluate.stats import paired_verdict, silence_verdict
from springstudy.metrics import esr
from springstudy.outputs import write_bytes_atomic
from springstudy.outputs import save_figure
from springstudy.thesis_tables import TABLE8


@dataclass
class BaselinesStage:
    """What :func:`run` scored and wrote."""

    evaluations: dict[str, ev.Evaluation]
    summary: pd.DataFrame
    ir_errors: dict[str, float]
    tcn_steps: int
    n_resamples: int
    confidence: float
    seed: int
    table_markdown: Path
    figures: dict[str, Path] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def noise_ceiling_esr(amplitude: float, target_power: np.ndarray) -> float:
    """The mean ESR that uniform noise on (−a, a) is expected to score against targets of mean
    power ``target_power`` (one per item): E‖y − n‖²/‖y‖² = 1 + (a²/3)/mean(y²)."""
    return float(np.mean(1.0 + amplitude ** 2 / (3.0 * np.asarray(target_power, dtype=np.float64))))


def run(sources: Mapping[str, Path], split_files: Mapping[str, Path | None], runs_root: Path, *, seed: int,
        split_method: str, tcn_steps: int, tcn_crop_seconds: float | None, noise_amplitude: float | None,
        ir_seconds: float | None, ir_regularisation: float, pre_emphasis: float, n_resamples: int,
        confidence: float, batch_size: int, tables_dir: Path, metrics_dir: Path, figures_dir: Path,
        progress: bool = False) -> BaselinesStage:
    """Score the baselines of every dataset in ``sources`` and write Table 8, its metrics files
    and the Linear IR figures (see the module doc). The TCN-baseline is trained into
    ``runs_root/<dataset>/TCN-baseline``."""
    evaluations = {}
    for name, source in sources.items():
        evaluations[name] = ev.evaluate_baselines(
            source, runs_root / name / "TCN-baseline", split_files.get(name), seed, split_method, tcn_steps,
            tcn_crop_seconds, noise_amplitude, ir_seconds, ir_regularisation, pre_emphasis, batch_size,
            progress=progress)
    summary = ev.combined_summary(list(evaluations.values()), n_resamples=n_resamples, confidence=confidence,
                                  seed=seed)
    csv_path, md_path = ev.write_table(summary, tables_dir, ev.BASELINE_TABLE_STEM,
                                       "Table 8 · baselines on the test split", TABLE8, confidence, lead=("dataset",))
    items_path = tables_dir / f"{ev.BASELINE_TABLE_STEM}_items.csv"
    write_bytes_atomic(items_path, ev.all_items(list(evaluations.values())).to_csv(index=False, float_format="%.8g")
                       .encode())
    written = [csv_path, md_path, items_path]
    for name, e in evaluations.items():
        label = ev.DATASET_TABLES[name].rate_label
        written.append(ev.write_metrics(summary[summary["dataset"] == name], metrics_dir / f"baselines_{label}.json",
                                        dataset=name, sample_rate=e.sample_rate, n_resamples=n_resamples,
                                        confidence=confidence))
    result = BaselinesStage(evaluations, summary, {}, tcn_steps, n_resamples, confidence, seed, md_path,
                            written=written)
    from scipy.io import wavfile

    for name, e in evaluations.items():
        fit = e.baselines["Linear IR"]
        true_path = Path(sources[name]) / "tank_ir.wav"
        true_ir = wavfile.read(true_path)[1].astype(np.float64) if true_path.is_file() else None
        if true_ir is not None:
            result.ir_errors[name] = ir_error_db(fit.ir, true_ir[:fit.ir.size])
        label = ev.DATASET_TABLES[name].rate_label
        fig = plot_linear_ir(fit, None if true_ir is None else true_ir[:fit.ir.size],
                             title=f"{name}: Linear IR baseline ({fit.params} taps)")
        result.figures[name] = save_figure(fig, figures_dir / f"baselines_linear_ir_{label}.png", close=True)
        result.written.append(result.figures[name])
    return result


def _interval(row: pd.Series, metric: str) -> str:
    return f"{row[metric]:.3g} [{row[metric + '_lo']:.3g}, {row[metric + '_hi']:.3g}]"


def reading(result: BaselinesStage) -> str:
    """The stage's reading, per dataset (Markdown): Naive against Silence (and scored the thesis's
    way round), the Noise ceiling against its closed form, the Linear IR, and the TCN-baseline
    against the Linear IR by a paired bootstrap."""
    thesis_naive = TABLE8.printed().set_index("model").loc["Naive", "ESR"]
    lines = []
    for name, e in result.evaluations.items():
        table = result.summary[result.summary["dataset"] == name].set_index("model")
        naive, lin = table.loc["Naive"], table.loc["Linear IR"]
        swapped = float(esr(e.test.wet, e.test.dry).mean())          # the thesis's orientation
        text = (f"**{name}.** The Naive prediction scores ESR {_interval(naive, 'esr')}, "
                f"{silence_verdict(naive['esr_lo'], naive['esr_hi'])} Silence (exactly 1); scored the thesis's way "
                f"round (wet against dry) it would read {swapped:.3g}, against the thesis's {thesis_naive}. ")
        power = (e.test.wet.double() ** 2).mean(dim=(-2, -1)).numpy()
        a = e.baselines["Noise ceiling"].amplitude
        text += (f"The Noise ceiling (a = {a:.3g}) scores ESR {_interval(table.loc['Noise ceiling'], 'esr')}, where "
                 f"1 + a²/(3·mean(y²)) predicts {noise_ceiling_esr(a, power):.3g}. ")
        text += (f"The Linear IR ({int(lin['params']):,} taps) reaches ESR {_interval(lin, 'esr')} and MR-STFT "
                 f"{_interval(lin, 'mr_stft')}")
        text += f" ({result.ir_errors[name]:.1f} dB from the true IR). " if name in result.ir_errors else ". "
        if "TCN-baseline" in table.index:
            tcn = table.loc["TCN-baseline"]
            by = e.items.set_index(["model", "index"])["esr"]
            diff = ev.paired_difference(by.loc["TCN-baseline"].to_numpy(), by.loc["Linear IR"].to_numpy(),
                                        result.n_resamples, result.confidence, result.seed)
            text += (f"The TCN-baseline after {result.tcn_steps} steps scores ESR {_interval(tcn, 'esr')}, "
                     f"{paired_verdict(diff.lo, diff.hi)} the Linear IR "
                     f"(paired difference {diff.mean:+.3g} [{diff.lo:+.3g}, {diff.hi:+.3g}]).")
        lines.append(text)
    return "\n\n".join(lines)


__all__ = ["BaselinesStage", "noise_ceiling_esr", "paired_verdict", "reading", "run", "silence_verdict"]
