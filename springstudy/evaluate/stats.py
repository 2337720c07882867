"""Bootstrap intervals of the per-item metrics, paired differences, the summary and its best marks."""

from __future__ import annotations

import warnings
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


#: The interval method: bias-corrected and accelerated (Efron 1987), which suits skewed per-item
#: ESRs better than the percentile method; ``scipy.stats.bootstrap`` computes it.
DEFAULT_METHOD = "BCa"


def _check_values(*samples: np.ndarray) -> list[np.ndarray]:
    out = [np.asarray(v, dtype=np.float64) for v in samples]
    for v in out:
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"need a non-empty 1-D array of per-item values, got shape {v.shape}")
    if len({v.shape for v in out}) > 1:
        raise ValueError(f"paired values differ in shape: {' vs '.join(str(v.shape) for v in out)}")
    return out


def _check_settings(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, not {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), not {confidence}")


def paired_bootstrap(samples: Sequence[np.ndarray], statistic: Any, n_resamples: int = DEFAULT_RESAMPLES,
                     confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
                     method: str = DEFAULT_METHOD) -> tuple[Interval, np.ndarray]:
    """``statistic(*samples)`` with its two-sided bootstrap interval from ``scipy.stats.bootstrap``
    (``paired=True``: the samples are per-item values of the same items, resampled together),
    and the bootstrap distribution.

    The resampled item sets depend only on (seed, item count), so two models, or a model and its
    bound, scored on the same items share them. ``statistic`` takes the samples and an ``axis``
    keyword (it is called vectorised). Where every sample is constant the interval is the point.
    """
    from scipy.stats import DegenerateDataWarning, bootstrap

    samples = _check_values(*samples)
    _check_settings(n_resamples, confidence)
    value = float(statistic(*samples, axis=-1))
    if all(np.ptp(v) == 0 for v in samples) or samples[0].size < 2:
        return Interval(value, value, value), np.full(n_resamples, value)
    with warnings.catch_warnings():
        # a statistic that every resample leaves unchanged (a constant paired difference) is
        # "degenerate" to scipy: its interval is the point, returned below
        warnings.simplefilter("ignore", category=DegenerateDataWarning)
        result = bootstrap(tuple(samples), statistic, n_resamples=n_resamples, confidence_level=confidence,
                           method=method, paired=True, vectorized=True, rng=np.random.default_rng(seed))
    if np.ptp(result.bootstrap_distribution) <= 1e-12 * max(1.0, abs(value)):     # rounding noise only
        return Interval(value, value, value), result.bootstrap_distribution
    ci = result.confidence_interval
    return Interval(value, float(ci.low), float(ci.high)), result.bootstrap_distribution


def _mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(values, axis=axis)


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def bootstrap_means(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """The bootstrap distribution of the mean of ``values`` (``n_resamples`` seeded resamples
    of the items, as :func:`bootstrap_ci` draws them)."""
    return paired_bootstrap((values,), _mean, n_resamples, DEFAULT_CONFIDENCE, seed)[1]


def bootstrap_ci(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                 seed: int = 0, method: str = DEFAULT_METHOD) -> Interval:
    """Mean of ``values`` with a two-sided bootstrap interval at ``confidence`` (BCa by default;
    ``method="percentile"`` for the percentile interval), from ``n_resamples`` seeded resamples."""
    return paired_bootstrap((values,), _mean, n_resamples, confidence, seed, method)[0]


def paired_difference(a: np.ndarray, b: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
                      method: str = DEFAULT_METHOD) -> Interval:
    """Mean of the per-item difference a − b (same items, same order) with its paired bootstrap
    interval. An interval entirely below 0 says ``a`` is lower than ``b`` beyond resampling noise."""
    return paired_bootstrap((a, b), _mean_difference, n_resamples, confidence, seed, method)[0]


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


#: Below these means a metric is rounding noise (DC of a prediction equal in mean to the target:
#: about 1e-17 in float64), so no row is marked best on it when the lowest mean lies below.
NOISE_FLOORS = {"dc": 1e-12}


def mark_best(summary: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS, among: str | None = "model",
              group: Sequence[str] = ()) -> pd.DataFrame:
    """Add a ``best`` column: the metrics (joined by ``;``) on which the row has the lowest mean.

    The best is taken among rows of kind ``among`` (trained models: a baseline that leaves the
    signal untouched always has a near-zero DC error, which says nothing); if there are no such
    rows, or ``among`` is None, among all rows. ``group`` columns (e.g. dataset) are marked
    separately. A metric whose lowest mean is below its :data:`NOISE_FLOORS` entry (rounding
    noise) marks no row.
    """
    out = summary.copy()
    best: dict[int, list[str]] = {i: [] for i in out.index}
    groups = out.groupby(list(group), sort=False) if group else [(None, out)]
    for _, frame in groups:
        pool = frame[frame["kind"] == among] if among is not None else frame
        pool = pool if len(pool) else frame
        for metric in metrics:
            values = pool[metric].astype(float)
            if values.notna().any() and values.min() >= NOISE_FLOORS.get(metric, -np.inf):
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
