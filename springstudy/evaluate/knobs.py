"""Reading the knob study's numbers (:mod:`springstudy.stages.knobs`): paired differences,
how a model's decay follows the decay knob, and the tables and sentences the notebook and the
report show."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from springstudy.evaluate.stats import paired_difference
from springstudy.tables import fmt_interval, markdown_table

#: The two test sets: unseen settings inside the ranges (the test split), and the corners.
TEST_SETS = ("inside", "edges")
#: Metrics of the study's table.
METRICS = ("esr", "mr_stft")


def pair_differences(items: pd.DataFrame, pairs: Mapping[str, str], n_resamples: int, confidence: float,
                     seed: int) -> pd.DataFrame:
    """Per pair and test set, the paired difference conditioned minus partner of each metric
    (same items), with its bootstrap interval: below zero, the knobs helped beyond resampling noise."""
    rows = []
    for conditioned, partner in pairs.items():
        for set_name in TEST_SETS:
            a = items[(items["model"] == conditioned) & (items["set"] == set_name)].sort_values("item")
            b = items[(items["model"] == partner) & (items["set"] == set_name)].sort_values("item")
            if a.empty or b.empty:
                continue
            row: dict[str, Any] = {"conditioned": conditioned, "partner": partner, "set": set_name, "n_items": len(a)}
            for metric in METRICS:
                ci = paired_difference(a[metric].to_numpy(), b[metric].to_numpy(), n_resamples, confidence, seed)
                row.update({f"{metric}_diff": ci.mean, f"{metric}_diff_lo": ci.lo, f"{metric}_diff_hi": ci.hi})
            rows.append(row)
    return pd.DataFrame(rows)


def results_markdown(results: pd.DataFrame, differences: pd.DataFrame, confidence: float) -> str:
    """The study's table (per model and test set) and the paired differences, as Markdown."""
    table = results.copy()
    level = f"{round(100 * confidence)}%"
    for metric in METRICS:
        table[metric + "_ci"] = [fmt_interval(m, lo, hi) for m, lo, hi in
                                 zip(table[metric], table[metric + "_lo"], table[metric + "_hi"])]
    parts = [markdown_table(table, {"model": "Model", "kind": "Kind", "set": "Test settings", "n_items": "Items",
                                    "esr_ci": f"ESR [{level}]", "mr_stft_ci": f"MR-STFT [{level}]"})]
    if not differences.empty:
        diff = differences.copy()
        for metric in METRICS:
            diff[metric + "_ci"] = [fmt_interval(m, lo, hi, signed=True) for m, lo, hi in
                                    zip(diff[metric + "_diff"], diff[metric + "_diff_lo"], diff[metric + "_diff_hi"])]
        parts.append(markdown_table(diff, {"conditioned": "Conditioned", "partner": "Unconditioned partner",
                                           "set": "Test settings", "esr_ci": f"ESR difference [{level}]",
                                           "mr_stft_ci": f"MR-STFT difference [{level}]"}))
    return "\n\n".join(parts)


def rt60_markdown(rt60: pd.DataFrame) -> str:
    """The decay sweep as a table: per decay setting the tank's true T30 and each model's (error %)."""
    wide = rt60.pivot_table(index=["decay_knob", "true_rt60_s"], columns="model", values="model_rt60_s",
                            sort=False).reset_index()
    models = list(dict.fromkeys(rt60["model"]))

    def cell(value: float, truth: float) -> str:
        return ("not measurable" if not np.isfinite(value) else
                f"{value:.2f} ({100 * (value / truth - 1):+.0f}%)")
    rows = [{"knob": f"{row['decay_knob']:.2f}", "truth": f"{row['true_rt60_s']:.2f}",
             **{m: cell(row.get(m, math.nan), row["true_rt60_s"]) for m in models}} for _, row in wide.iterrows()]
    return markdown_table(pd.DataFrame(rows, columns=["knob", "truth", *models]),
                          {"knob": "Decay knob (s)", "truth": "Tank's true T30 (s)",
                           **{m: f"{m} T30 (s)" for m in models}}, align={"knob": "r", "truth": "r"})


def decay_following(rt60: pd.DataFrame, model: str) -> dict[str, float]:
    """How a model's T30 follows the tank's across the decay sweep: the least-squares slope of
    model T30 on true T30 (1: follows, 0: flat), and the mean absolute error in percent."""
    frame = rt60[(rt60["model"] == model) & np.isfinite(rt60["model_rt60_s"])]
    if len(frame) < 2:
        return {"slope": math.nan, "mean_abs_error_pct": math.nan, "points": len(frame)}
    slope = float(np.polyfit(frame["true_rt60_s"], frame["model_rt60_s"], 1)[0])
    return {"slope": slope, "mean_abs_error_pct": float(np.mean(np.abs(frame["error_pct"]))), "points": len(frame)}


def reading(differences: pd.DataFrame, rt60: pd.DataFrame, confidence: float = 0.95) -> str:
    """What the numbers say, pair by pair and for the decay sweep, in sentences built from them."""
    level = f"{round(100 * confidence)}%"
    lines = []
    for row in differences.itertuples():
        where = "on settings never seen in training" if row.set == "inside" else "at the corners of the ranges"
        if row.esr_diff_hi < 0:
            verdict = f"the knobs lower the ESR beyond resampling noise ({level} interval below zero)"
        elif row.esr_diff_lo > 0:
            verdict = f"the conditioned model is worse than its partner ({level} interval above zero)"
        else:
            verdict = f"no difference beyond resampling noise (the {level} interval holds zero)"
        lines.append(f"* **{row.conditioned}** against **{row.partner}** {where} ({row.n_items} items): ESR "
                     f"difference {row.esr_diff:+.3g} [{row.esr_diff_lo:+.3g}, {row.esr_diff_hi:+.3g}]: {verdict}.")
    for model in dict.fromkeys(rt60.loc[rt60["kind"] == "conditioned", "model"]):
        follow = decay_following(rt60, model)
        if not np.isfinite(follow["slope"]):
            lines.append(f"* **{model}**'s decay could not be measured at two or more settings of the decay knob.")
            continue
        verdict = ("follows the decay knob" if follow["slope"] > 0.5 else
                   "barely follows the decay knob" if follow["slope"] > 0.1 else "does not follow the decay knob")
        lines.append(f"* **{model}**'s RT60 {verdict}: slope {follow['slope']:.2f} against the tank's true RT60 "
                     f"(1 follows it, 0 is flat), mean error {follow['mean_abs_error_pct']:.0f}% over "
                     f"{follow['points']} settings.")
    return "\n".join(lines)
