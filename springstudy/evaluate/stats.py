"""Bootstrap intervals of the per-item metrics, paired differences, the summary and its best marks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


#: The thesis's four table columns (Tables 8-10), in order.
TABLE_METRICS = ("mae", "esr", "dc", "mr_stft")
#: Metrics summarised in our tables: the thesis's four plus ESR with pre-emphasis.
SUMMARY_METRICS = ("mae", "esr", "dc", "mr_stft", "esr_pre")
#: Bootstrap defaults: resamples and two-sided confidence level.
DEFAULT_RESAMPLES = 10_000
DEFAULT_CONFIDENCE = 0.95


# --- bootstrap and summary ------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap confidence interval."""

    mean: float
    lo: float
    hi: float


def bootstrap_means(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement, same size) of ``values``.

    The resampled index sets depend only on (seed, len(values)), so two metrics or two models
    scored on the same items share them (a paired bootstrap).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"need a non-empty 1-D array of per-item values, got shape {values.shape}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, not {n_resamples}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    rows = max(1, (1 << 22) // values.size)         # bound memory: ~4M indices at a time
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        means[start:stop] = values[rng.integers(0, values.size, size=(stop - start, values.size))].mean(axis=1)
    return means


def bootstrap_ci(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                 seed: int = 0) -> Interval:
    """Mean of ``values`` with a two-sided percentile bootstrap interval at ``confidence``
    (Efron and Tibshirani 1993, §13.3), from ``n_resamples`` seeded resamples."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), not {confidence}")
    values = np.asarray(values, dtype=np.float64)
    means = bootstrap_means(values, n_resamples, seed)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Interval(float(values.mean()), float(lo), float(hi))


def paired_difference(a: np.ndarray, b: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Interval:
    """Mean of the per-item difference a − b (same items, same order) with its bootstrap interval.
    An interval entirely below 0 says ``a`` is lower than ``b`` beyond resampling noise."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} vs {b.shape}")
    return bootstrap_ci(a - b, n_resamples, confidence, seed)


def summarise(items: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS, n_resamples: int = DEFAULT_RESAMPLES,
              confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
              group: Sequence[str] = ("model",)) -> pd.DataFrame:
    """One row per model (per ``group``): kind, params, n_items, and per metric the mean over all
    items with ``<metric>_lo`` / ``<metric>_hi`` bootstrap bounds. Rows keep first-seen order."""
    rows = []
    for key, frame in items.groupby(list(group), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(group, key))
        row.update(kind=frame["kind"].iloc[0], params=frame["params"].iloc[0], n_items=len(frame))
        for metric in metrics:
            ci = bootstrap_ci(frame[metric].to_numpy(), n_resamples, confidence, seed)
            row.update({metric: ci.mean, f"{metric}_lo": ci.lo, f"{metric}_hi": ci.hi})
        rows.append(row)
    out = pd.DataFrame(rows)
    out["params"] = out["params"].astype("Int64")
    return out


def mark_best(summary: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS, among: str | None = "model",
              group: Sequence[str] = ()) -> pd.DataFrame:
    """Add a ``best`` column: the metrics (joined by ``;``) on which the row has the lowest mean.

    The best is taken among rows of kind ``among`` (trained models: a baseline that leaves the
    signal untouched always has a near-zero DC error, which says nothing); if there are no such
    rows, or ``among`` is None, among all rows. ``group`` columns (e.g. dataset) are marked
    separately.
    """
    out = summary.copy()
    best: dict[int, list[str]] = {i: [] for i in out.index}
    groups = out.groupby(list(group), sort=False) if group else [(None, out)]
    for _, frame in groups:
        pool = frame[frame["kind"] == among] if among is not None else frame
        pool = pool if len(pool) else frame
        for metric in metrics:
            values = pool[metric].astype(float)
            if values.notna().any():
                for i in pool.index[values == values.min()]:
                    best[i].append(metric)
    out["best"] = [";".join(best[i]) for i in out.index]
    out.attrs["best_among"] = among if among is not None and (summary["kind"] == among).any() else "all"
    return out


def silence_verdict(lo: float, hi: float) -> str:
    """Where an ESR interval [lo, hi] lies against Silence's ESR of exactly 1: ``worse than``
    (entirely above), ``better than`` (entirely below) or ``indistinguishable from`` it."""
    return "worse than" if lo > 1 else "better than" if hi < 1 else "indistinguishable from"


def paired_verdict(lo: float, hi: float) -> str:
    """Where the interval of a paired difference a − b lies against 0: a is ``better than`` b
    (entirely below), ``worse than`` it (entirely above) or ``not distinguishable from`` it."""
    return "better than" if hi < 0 else "worse than" if lo > 0 else "not distinguishable from"
