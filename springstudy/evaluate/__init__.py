"""Test-set evaluation (thesis §4.1, Tables 8-10, Fig 15): per-item metrics, bootstrap intervals.

Every predictor (a trained model's best checkpoint, or a baseline from
:mod:`springstudy.baselines`) is scored on the *whole* items of the test split, after the same
``RemoveDC`` + ``NormalisePair`` the trainer applies (:func:`springstudy.train.load_splits`).
Metrics come from :func:`springstudy.metrics.compute_all` (one definition per metric), one
value per item; a table reports the mean over all test items (batches only group the work,
the last partial batch included) with a seeded BCa bootstrap interval (`scipy.stats.bootstrap`)
(Efron and Tibshirani, "An Introduction to the Bootstrap", 1993, §13.3).

The bootstrap draws the same resampled item sets for every model and metric of a split (same
seed, same item count), so the intervals of two models are paired: where one model's values
are below another's on most resamples, the difference is systematic, not luck of the draw.

Outputs (paths chosen by the caller; the study's notebooks use these):

* per-item CSV: one row per (model, test item), every metric of :data:`springstudy.metrics.METRICS`;
* ``reports/tables/table8_baselines.csv|md``, ``table9_16k.csv|md``, ``table10_48k.csv|md``:
  model, kind, params, n_items, and per metric its mean and ``<metric>_lo`` / ``<metric>_hi``;
  the Markdown puts the thesis's published numbers beside ours (printed and relabelled);
* ``reports/metrics/*.json``: the summary means and bounds per model, for ``dvc metrics``.

The command line (``springstudy evaluate``) is declared in :mod:`springstudy.cli.evaluate`.
"""

from __future__ import annotations

from springstudy.evaluate.scoring import (DEFAULT_BATCH_SIZE, DEFAULT_EXAMPLES, DEFAULT_SEED,
                                          EvaluationError, REFERENCE_BASELINES, Scored,
                                          build_baselines, model_predictor,
                                          pick_examples, score_predictor)
from springstudy.evaluate.runs import (check_test_split, common_source, find_runs,
                                       resolve_in_project, run_data_source, score_runs)
from springstudy.evaluate.stats import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Interval,
                                        SUMMARY_METRICS, TABLE_METRICS, bootstrap_ci,
                                        bootstrap_means, mark_best, paired_difference, paired_verdict,
                                        silence_verdict, summarise)
from springstudy.evaluate.tables import (BASELINE_TABLE_STEM, DATASET_TABLES, DatasetTables,
                                         METRIC_HEADINGS, markdown_table, metrics_record,
                                         plot_predictions, results_markdown, thesis_markdown,
                                         write_metrics, write_table)
from springstudy.evaluate.results import (Evaluation, all_items, combined_summary, evaluate,
                                          evaluate_baselines)

__all__ = ["BASELINE_TABLE_STEM", "DATASET_TABLES", "DEFAULT_BATCH_SIZE", "DEFAULT_CONFIDENCE",
    "DEFAULT_EXAMPLES", "DEFAULT_RESAMPLES", "DEFAULT_SEED", "DatasetTables", "Evaluation",
    "EvaluationError", "Interval", "METRIC_HEADINGS", "REFERENCE_BASELINES", "SUMMARY_METRICS",
    "Scored", "TABLE_METRICS", "all_items", "bootstrap_ci", "bootstrap_means", "build_baselines",
    "check_test_split", "combined_summary", "common_source", "evaluate", "evaluate_baselines",
    "find_runs", "mark_best", "markdown_table", "metrics_record",
    "model_predictor", "paired_difference", "paired_verdict", "pick_examples", "plot_predictions",
    "resolve_in_project", "results_markdown", "run_data_source", "score_predictor", "score_runs",
    "silence_verdict", "summarise", "thesis_markdown", "write_metrics", "write_table"]
