"""One call per dataset: runs and baselines scored on its test split (``evaluate``), and their union."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from springstudy.baselines import CLOSED_FORM_BASELINES, LINEAR_IR_REGULARISATION, TCN_BASELINE_STEPS
from springstudy.data.tensors import load_split_tensors
from springstudy.evaluate.runs import check_test_split, score_runs
from springstudy.evaluate.scoring import (DEFAULT_BATCH_SIZE, DEFAULT_EXAMPLES, DEFAULT_SEED, EvaluationError,
                                          REFERENCE_BASELINES, Scored, build_baselines,
                                          pick_examples, score_predictor)
from springstudy.evaluate.stats import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, SUMMARY_METRICS, mark_best,
                                        summarise)
from springstudy.metrics import DEFAULT_PRE_EMPHASIS


# --- one call: a dataset's test results -----------------------------------------------------

@dataclass
class Evaluation:
    """A dataset's test results: per-item metrics of every model and baseline, chosen predictions."""

    dataset: str
    sample_rate: int
    items: pd.DataFrame
    examples: dict[str, dict[int, np.ndarray]]
    example_indices: list[int]
    test: Any
    split: dict[str, Any]
    baselines: dict[str, Any] = field(default_factory=dict)
    train: Any = None                  # the training split, where it was loaded (fitted baselines, bounds)

    def summary(self, metrics: Sequence[str] = SUMMARY_METRICS, n_resamples: int = DEFAULT_RESAMPLES,
                confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> pd.DataFrame:
        """:func:`summarise` then :func:`mark_best` (among the trained models)."""
        return mark_best(summarise(self.items, metrics, n_resamples, confidence, seed))


def evaluate(data: str | Path, runs: Mapping[str, Path] | None = None, split_file: str | Path | None = None,
             seed: int = DEFAULT_SEED, split_method: str = "random", baselines: Sequence[str] = REFERENCE_BASELINES,
             noise_amplitude: float | None = None, ir_seconds: float | None = None,
             ir_regularisation: float = LINEAR_IR_REGULARISATION, pre_emphasis: float = DEFAULT_PRE_EMPHASIS,
             batch_size: int = DEFAULT_BATCH_SIZE, n_examples: int = DEFAULT_EXAMPLES, device: str = "cpu",
             progress: bool = False,
             preloaded: tuple[dict[str, Any], int, dict[str, Any]] | None = None) -> Evaluation:
    """Score every run's best checkpoint and the closed-form ``baselines`` on the test split of ``data``.

    ``runs`` maps labels to run folders (see :func:`find_runs`). The split is ``split_file`` or
    the seeded ``make_splits(seed, split_method)``; the training split is loaded only when a
    baseline needs fitting (Linear IR, level-matched Noise ceiling) and for the bounds
    (:mod:`springstudy.bounds`), and kept as ``Evaluation.train``. ``preloaded`` (the return
    value of :func:`springstudy.data.tensors.load_split_tensors`) skips loading. Example items for Fig 15 are drawn from
    ``seed``.
    """
    splits, rate, record = preloaded or load_split_tensors(data, split_file, seed, split_method, ("train", "test"))
    test = splits["test"]
    keep = pick_examples(test.dry.shape[0], n_examples, seed)
    scored: dict[str, Scored] = {}
    if runs:
        check_test_split(runs, record)
        scored.update(score_runs(runs, test, rate, pre_emphasis, batch_size, keep, device, progress))
    fitted = build_baselines(baselines, splits.get("train"), rate, seed, noise_amplitude, ir_seconds, ir_regularisation)
    for name, predictor in fitted.items():
        scored[name] = score_predictor(predictor, test, name, predictor.params, "baseline", pre_emphasis,
                                       batch_size, keep, progress)
    if not scored:
        raise EvaluationError("nothing to evaluate: give runs or baselines")
    items = pd.concat([s.items for s in scored.values()], ignore_index=True)
    return Evaluation(dataset=record["layout"], sample_rate=rate, items=items,
                      examples={name: s.examples for name, s in scored.items()}, example_indices=keep,
                      test=test, split=record, baselines=fitted, train=splits.get("train"))


def evaluate_baselines(data: str | Path, tcn_dir: str | Path | None, split_file: str | Path | None = None,
                       seed: int = DEFAULT_SEED, split_method: str = "random", tcn_steps: int = TCN_BASELINE_STEPS,
                       tcn_crop_seconds: float | None = 1.0, noise_amplitude: float | None = None,
                       ir_seconds: float | None = None, ir_regularisation: float = LINEAR_IR_REGULARISATION,
                       pre_emphasis: float = DEFAULT_PRE_EMPHASIS, batch_size: int = DEFAULT_BATCH_SIZE,
                       n_examples: int = DEFAULT_EXAMPLES, progress: bool = False,
                       **tcn_config: Any) -> Evaluation:
    """Thesis Table 8 for one dataset: every baseline of :data:`~springstudy.baselines.BASELINES`
    scored on the test split.

    The TCN-baseline is trained first (``tcn_steps`` steps on the concatenated training items,
    no validation) into ``tcn_dir``, with the split written beside it as ``split.json``, so
    later evaluations can check they score it on the same test items; ``tcn_dir=None`` or
    ``tcn_steps=0`` leaves it out. Further ``TrainConfig`` fields go in ``tcn_config``.
    """
    from springstudy.baselines import train_tcn_baseline
    from springstudy.data.splits import write_split_file

    preloaded = load_split_tensors(data, split_file, seed, split_method, ("train", "validation", "test"))
    splits, rate, record = preloaded
    runs = {}
    if tcn_dir is not None and tcn_steps > 0:
        train_tcn_baseline(splits["train"], splits["validation"], rate, tcn_dir, tcn_steps, seed, tcn_crop_seconds,
                           progress=progress, **tcn_config)
        write_split_file(Path(tcn_dir) / "split.json", record)
        runs["TCN-baseline"] = Path(tcn_dir)
    return evaluate(data, runs, split_file, seed, split_method, CLOSED_FORM_BASELINES, noise_amplitude, ir_seconds,
                    ir_regularisation, pre_emphasis, batch_size, n_examples, progress=progress, preloaded=preloaded)


def combined_summary(evaluations: Sequence[Evaluation], metrics: Sequence[str] = SUMMARY_METRICS,
                     n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                     seed: int = 0, among: str | None = None) -> pd.DataFrame:
    """One table over several datasets (Table 8): ``dataset`` and ``sample_rate`` lead, then
    :func:`summarise` per (dataset, model); the best is marked per dataset, among ``among``
    rows (None: all rows)."""
    frames = []
    for evaluation in evaluations:
        summary = summarise(evaluation.items, metrics, n_resamples, confidence, seed)
        summary.insert(0, "sample_rate", evaluation.sample_rate)
        summary.insert(0, "dataset", evaluation.dataset)
        frames.append(summary)
    if not frames:
        raise EvaluationError("no evaluations to combine")
    return mark_best(pd.concat(frames, ignore_index=True), metrics, among, group=("dataset",))


def all_items(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """Per-item metrics of several evaluations in one frame, ``dataset`` first."""
    return pd.concat([e.items.assign(dataset=e.dataset)[["dataset", *e.items.columns]] for e in evaluations],
                     ignore_index=True)
