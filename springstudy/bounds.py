"""What each model could reach: its receptive-field linear bound, and its gap to it.

A causal model whose output at time t depends on the last R input samples (its receptive
field) can be *at least* as good as the best linear filter of R taps: the least-squares FIR of
that length (:func:`springstudy.lstsq_fir.lstsq_fir`), fitted on the training pairs and scored
on the same test items as the model. That filter is the model's **receptive-field bound**; a
recurrent model's memory is unlimited, so its bound is the item-long filter. The **gap** is the
model's test ESR over its bound's: near 1 (or below, where the model has learned the
nonlinearity too) the architecture is the limit; far above 1, the training is.

Both ESRs are means over the test items; their intervals are BCa bootstrap intervals
(``scipy.stats.bootstrap``) over the same resampled item sets as every other column of the tables
(paired), and the gap's interval is the paired BCa interval of the ratio of the two means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from springstudy.baselines import LINEAR_IR_REGULARISATION, LinearIR
from springstudy.evaluate import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, EvaluationError, Evaluation,
                                  bootstrap_ci, score_predictor)
from springstudy.evaluate.stats import paired_bootstrap

#: Columns the bound adds to a results summary.
BOUND_COLUMNS = ("receptive_field_s", "bound_esr", "bound_esr_lo", "bound_esr_hi", "gap", "gap_lo", "gap_hi", "recipe")
#: Filter lengths (samples) of the bound curve drawn beside the models, besides their own.
CURVE_POINTS = 6


def _mean_ratio(model: np.ndarray, bound: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(model, axis=axis) / np.mean(bound, axis=axis)


def run_info(run: str | Path) -> tuple[float, str]:
    """A run's receptive field (samples; ``math.inf`` if recurrent) and training recipe
    (:func:`springstudy.train.recipe_label`), from one read of its ``best.pt``."""
    import torch

    from springstudy.models import build
    from springstudy.train import recipe_label

    ckpt = torch.load(Path(run) / "best.pt", map_location="cpu", weights_only=True)
    model = build(ckpt["model_name"], **(ckpt.get("model_overrides") or {}))
    config = ckpt.get("config") or {}
    return float(model.receptive_field), recipe_label(config) if config else "unknown"


def bound_length(receptive_field: float, item_length: int) -> int:
    """Taps of the bound: the receptive field, at most the item length (the test items are no longer)."""
    if not receptive_field > 0:
        raise ValueError(f"a receptive field must be positive, not {receptive_field}")
    return item_length if math.isinf(receptive_field) else int(min(receptive_field, item_length))


class BoundCache:
    """Least-squares FIRs fitted on one training split, by length, each fitted once."""

    def __init__(self, train: Any, sample_rate: int, regularisation: float = LINEAR_IR_REGULARISATION,
                 fitted: Iterable[LinearIR] = (), tol: float | None = None) -> None:
        if train is None:
            raise EvaluationError("the receptive-field bound needs the training split")
        self.train, self.sample_rate, self.regularisation = train, int(sample_rate), float(regularisation)
        self.fits: dict[int, LinearIR] = {}
        self.tol = tol                  # the solver's tolerance (None: its default)
        for fit in fitted:          # e.g. the Linear IR baseline, fitted on the same split already
            info = fit.fit_info
            if info.get("method") == "lstsq" and info.get("regularisation") == self.regularisation \
                    and info.get("items") == train.dry.shape[0] and info.get("item_length") == self.item_length:
                self.fits[int(fit.ir.size)] = fit

    @property
    def item_length(self) -> int:
        return int(self.train.dry.shape[-1])

    def fit(self, length: int) -> LinearIR:
        """The least-squares FIR of ``length`` taps (cached)."""
        if length not in self.fits:
            self.fits[length] = LinearIR.fit(self.train.dry, self.train.wet, length, self.regularisation,
                                             self.sample_rate, method="lstsq", tol=self.tol)
        return self.fits[length]

    def per_item_esr(self, length: int, test: Any, batch_size: int = 8) -> np.ndarray:
        """Per-item test ESR of the bound of ``length`` taps, in the test split's item order."""
        fit = self.fit(length)
        scored = score_predictor(fit, test, f"bound {length}", fit.params, "bound", batch_size=batch_size)
        return scored.items["esr"].to_numpy()


def add_bounds(summary: pd.DataFrame, evaluation: Evaluation, runs: Mapping[str, str | Path], cache: BoundCache,
               n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
               seed: int = 0) -> pd.DataFrame:
    """``summary`` (one row per model) with :data:`BOUND_COLUMNS` filled for the trained ``runs``.

    Rows that are not runs (baselines) keep NaN (and an empty ``recipe``: the run's training
    recipe, :func:`run_info`). The ESR values are per item, in test order,
    from ``evaluation.items``; bootstrap resamples are drawn exactly as in
    :func:`springstudy.evaluate.summarise` (same seed, same item count), so intervals pair.
    """
    out = summary.copy()
    for column in BOUND_COLUMNS:
        out[column] = "" if column == "recipe" else np.nan
    items = evaluation.items
    for label, run in runs.items():
        rows = out.index[out["model"] == label]
        if not len(rows):
            continue
        field, recipe = run_info(run)
        length = bound_length(field, cache.item_length)
        bound = cache.per_item_esr(length, evaluation.test)
        model = items.loc[items["model"] == label].sort_values("index")["esr"].to_numpy()
        if model.shape != bound.shape:
            raise EvaluationError(f"{label}: {model.size} scored items, but the bound has {bound.size}")
        bound_ci = bootstrap_ci(bound, n_resamples, confidence, seed)
        gap_ci, _ = paired_bootstrap((model, bound), _mean_ratio, n_resamples, confidence, seed)
        out.loc[rows, "receptive_field_s"] = math.inf if math.isinf(field) else field / cache.sample_rate
        out.loc[rows, ["bound_esr", "bound_esr_lo", "bound_esr_hi"]] = [bound_ci.mean, bound_ci.lo, bound_ci.hi]
        out.loc[rows, ["gap", "gap_lo", "gap_hi"]] = [gap_ci.mean, gap_ci.lo, gap_ci.hi]
        out.loc[rows, "recipe"] = recipe
    return out


def bound_curve(cache: BoundCache, test: Any, lengths: Iterable[int] | None = None,
                points: int = CURVE_POINTS) -> pd.DataFrame:
    """Test ESR (mean over items) of the bound against filter length: ``lengths`` or, by
    default, ``points`` lengths spaced logarithmically from 5 ms to the item length and every
    length the cache has fitted already (the models' bounds: no fit is done twice)."""
    n = cache.item_length
    if lengths is None:
        shortest = max(8, int(0.005 * cache.sample_rate))
        lengths = {*np.geomspace(shortest, n, points).astype(int).tolist(), *cache.fits}
    rows = []
    for length in sorted({int(min(max(1, length), n)) for length in lengths}):
        rows.append({"length": length, "seconds": length / cache.sample_rate,
                     "esr": float(cache.per_item_esr(length, test).mean()),
                     "iterations": cache.fit(length).fit_info.get("iterations")})
    return pd.DataFrame(rows)


def gap_reading(summary: pd.DataFrame, within: float = 2.0) -> dict[str, str]:
    """Per model with a bound: whether its limit is the architecture or the training.

    "architecture" where the gap's interval reaches below ``within`` (the model is within that
    factor of the best filter its receptive field allows), "training" otherwise.
    """
    out = {}
    for _, row in summary.dropna(subset=["gap"]).iterrows():
        out[str(row["model"])] = "architecture" if row["gap_lo"] <= within else "training"
    return out


def plot_esr_vs_receptive_field(summary: pd.DataFrame, curve: pd.DataFrame, title: str | None = None,
                                item_seconds: float | None = None) -> Any:
    """Test ESR of every model (with its interval) at its receptive field, over the bound curve:
    the least-squares FIR's test ESR against its length. Recurrent models sit at the item length."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.plot(curve["seconds"], curve["esr"], color="0.3", lw=1.5, marker=".", label="linear bound (least-squares FIR)")
    models = summary.dropna(subset=["gap"])
    longest = float(curve["seconds"].max()) if item_seconds is None else item_seconds
    for k, (_, row) in enumerate(models.iterrows()):
        x = longest if math.isinf(row["receptive_field_s"]) else row["receptive_field_s"]
        err = [[row["esr"] - row["esr_lo"]], [row["esr_hi"] - row["esr"]]]
        ax.errorbar([x], [row["esr"]], yerr=err, fmt="o", ms=5, capsize=3, color=f"C{k % 10}",
                    label=f"{row['model']} (gap {row['gap']:.3g})")
        ax.plot([x], [row["bound_esr"]], marker="_", ms=12, color=f"C{k % 10}")
    ax.axhline(1.0, color="0.5", ls=":", lw=1.0, label="Silence (ESR 1)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("receptive field / filter length (s; recurrent models at the item length)")
    ax.set_ylabel("test ESR (mean over items)")
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def bound_markdown(summary: pd.DataFrame, sample_rate: int, reading: Mapping[str, str] | None = None,
                   models: Sequence[str] | None = None) -> str:
    """A Markdown table: model, receptive field, ESR, bound ESR and gap with intervals, and the reading."""
    from springstudy.tables import MISSING, fmt_interval, markdown_table

    frame = summary.dropna(subset=["gap"]).copy()
    if models is not None:
        frame = frame[frame["model"].isin(models)]
    reading = reading or gap_reading(frame)
    frame["_rf"] = ["whole item" if math.isinf(v) else f"{v:.3g} s" for v in frame["receptive_field_s"]]
    for metric in ("esr", "bound_esr", "gap"):
        frame[f"_{metric}"] = [fmt_interval(r[metric], r[f'{metric}_lo'], r[f'{metric}_hi'])
                               for _, r in frame.iterrows()]
    frame["_limit"] = [reading.get(str(m), MISSING) for m in frame["model"]]
    return markdown_table(frame, {"model": "Model", "_rf": f"Receptive field ({sample_rate // 1000} kHz)",
                                  "_esr": "ESR", "_bound_esr": "Bound ESR", "_gap": "Gap (ESR / bound)",
                                  "_limit": "Limit"})
