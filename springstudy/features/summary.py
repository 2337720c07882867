"""Figures 12-13: per-descriptor summaries, the dry/wet comparison, the thesis's claims checked, the reading."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from springstudy.features.params import DESCRIPTORS, SIDES, SIDE_SIGNAL, FeatureError
from springstudy.features.table import value_columns
from springstudy.tables import MISSING, markdown_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    import pandas as pd


# ---------------------------------------------------------------------------------------------
# Figures 12-13: summaries, dry/wet comparison and its reading
# ---------------------------------------------------------------------------------------------
def group_column(table: pd.DataFrame) -> str:
    """``split`` when the table has splits, else ``subset`` (the thesis grouped by split)."""
    return "split" if "split" in table and table["split"].notna().any() else "subset"


def descriptor_summary(table: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Mean and standard deviation over items of every descriptor column, per group and side.

    ``by`` defaults to :func:`group_column`. Long format: group, side, column, items, mean, std
    (the thesis's Figures 12-13 show these numbers per split for x and y).
    """
    import pandas as pd

    by = by or group_column(table)
    columns = value_columns(table)
    rows = []
    for (group, side), part in table.groupby([by, "side"], sort=False):
        for column in columns:
            values = pd.to_numeric(part[column], errors="coerce").dropna()
            rows.append({"group": group, "side": side, "column": column, "items": int(values.size),
                         "mean": float(values.mean()) if values.size else float("nan"),
                         "std": float(values.std(ddof=1)) if values.size > 1 else float("nan")})
    return pd.DataFrame(rows)


def summary_pivot(summary: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``"mean ± std"`` strings, one row per descriptor column, one column per (group, side)."""
    columns = list(columns) if columns is not None else list(dict.fromkeys(summary["column"]))
    shown = summary[summary["column"].isin(columns)].copy()
    shown["cell"] = [f"{m:.4g} ± {s:.3g}" for m, s in zip(shown["mean"], shown["std"])]
    pivot = shown.pivot_table(index="column", columns=["group", "side"], values="cell", aggfunc="first", sort=False)
    return pivot.reindex([c for c in columns if c in pivot.index])


def summary_markdown(pivot: pd.DataFrame) -> str:
    """A :func:`summary_pivot` as a Markdown table (header ``group side``)."""
    import pandas as pd

    head = ["Descriptor", *(f"{g} {s}" for g, s in pivot.columns)]
    rows = [[str(column), *(v if isinstance(v, str) else MISSING for v in row)] for column, row in pivot.iterrows()]
    frame = pd.DataFrame(rows, columns=range(len(head)))
    return markdown_table(frame, dict(zip(range(len(head)), head)),
                          align={0: "l"} | {i: "r" for i in range(1, len(head))}) + "\n"


def write_summary(summary: pd.DataFrame, folder: str | Path, stem: str,
                  columns: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Write a :func:`descriptor_summary` as ``<stem>.csv`` (long) and ``<stem>.md`` (pivot), atomically."""
    from springstudy.outputs import write_bytes_atomic, write_csv_atomic

    folder = Path(folder)
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    write_csv_atomic(csv_path, summary, float_format=None)
    write_bytes_atomic(md_path, summary_markdown(summary_pivot(summary, columns)).encode())
    return csv_path, md_path


def dry_wet_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Per descriptor value column: dry mean, wet mean, wet - dry, and the share of items whose
    wet value exceeds their own dry value (a paired comparison, item by item)."""
    import pandas as pd

    dry = table[table["side"] == "x"].set_index("item_id")
    wet = table[table["side"] == "y"].set_index("item_id")
    common = dry.index.intersection(wet.index)
    rows = []
    for column in value_columns(table):
        d = pd.to_numeric(dry.loc[common, column], errors="coerce")
        w = pd.to_numeric(wet.loc[common, column], errors="coerce")
        both = d.notna() & w.notna()
        rows.append({"column": column, "items": int(both.sum()), "dry_mean": float(d[both].mean()),
                     "wet_mean": float(w[both].mean()), "wet_minus_dry": float((w[both] - d[both]).mean()),
                     "wet_above_dry_share": float((w[both] > d[both]).mean()) if both.any() else float("nan")})
    return pd.DataFrame(rows).set_index("column")


@dataclass(frozen=True)
class ThesisClaim:
    """One observation of thesis §3.2.3 about dry (x) vs wet (y), as a testable comparison."""

    text: str          #: the thesis's words
    column: str        #: value column compared
    statistic: str     #: "mean" (over items of the per-file value) or "spread" (std over items)
    expect: str        #: "wet<dry" or "wet>dry"


#: The thesis's dry/wet observations on SpringSet (Figure 12) and EGFxSet (Figure 13).
THESIS_CLAIMS: tuple[ThesisClaim, ...] = (
    ThesisClaim("wet samples are generally lower in Leq level than dry samples", "leq", "mean", "wet<dry"),
    ThesisClaim("Loudness standard deviation shows higher values for y samples", "loudness_std", "mean", "wet>dry"),
    ThesisClaim("processed sounds have lower pitches", "pitch_yin_f0_mean", "mean", "wet<dry"),
    ThesisClaim("processed sounds tend to be more clustered (pitch)", "pitch_yin_f0_mean", "spread", "wet<dry"),
    ThesisClaim("the spring acts as a low-pass filter: y samples are darker", "spectral_centroid_time_mean",
                "mean", "wet<dry"),
    ThesisClaim("wet samples have a higher HFC", "hfc_mean", "mean", "wet>dry"),
)


def check_thesis_claims(table: pd.DataFrame, claims: Sequence[ThesisClaim] = THESIS_CLAIMS) -> pd.DataFrame:
    """Does each thesis observation hold on ``table``? One row per claim with the dry and wet
    statistic (over all items), the paired share of items in the claimed direction and ``holds``."""
    import pandas as pd

    paired = dry_wet_comparison(table)
    rows = []
    for claim in claims:
        if claim.expect not in ("wet<dry", "wet>dry"):
            raise FeatureError(f"claim {claim.text!r}: expect must be 'wet<dry' or 'wet>dry'")
        values = {side: pd.to_numeric(table.loc[table["side"] == side, claim.column], errors="coerce").dropna()
                  for side in SIDES}
        stat = (lambda v: float(v.mean())) if claim.statistic == "mean" else (lambda v: float(v.std(ddof=1)))
        dry, wet = stat(values["x"]), stat(values["y"])
        holds = wet < dry if claim.expect == "wet<dry" else wet > dry
        above = paired.loc[claim.column, "wet_above_dry_share"]
        rows.append({"claim": claim.text, "column": claim.column, "statistic": claim.statistic,
                     "expect": claim.expect, "dry": dry, "wet": wet, "holds": bool(holds),
                     "items_in_direction": (1.0 - above if claim.expect == "wet<dry" else above)
                     if claim.statistic == "mean" else float("nan")})
    return pd.DataFrame(rows)


def dry_wet_reading(table: pd.DataFrame) -> list[str]:
    """Sentences on what the spring does to each descriptor, stated from the computed values.

    Each sentence is built from :func:`dry_wet_comparison`; the direction words come from the
    sign of the difference, never from expectation.
    """
    comparison = dry_wet_comparison(table)
    sentences = []
    for d in DESCRIPTORS:
        column = d.value_column
        if column not in comparison.index:
            continue
        row = comparison.loc[column]
        if not math.isfinite(row["wet_minus_dry"]):
            continue
        direction = "higher" if row["wet_minus_dry"] > 0 else "lower" if row["wet_minus_dry"] < 0 else "equal"
        share = row["wet_above_dry_share"] if direction == "higher" else 1.0 - row["wet_above_dry_share"]
        sentences.append(f"{d.label} ({column}): wet {direction} than dry on average "
                         f"({row['dry_mean']:.4g} -> {row['wet_mean']:.4g} {d.unit}), "
                         f"in {share:.0%} of {int(row['items'])} items.")
    return sentences


def plot_descriptors(table: pd.DataFrame, by: str | None = None, title: str | None = None,
                     statistic: str = "value") -> Figure:
    """Figure 12/13 analogue: one panel per descriptor, bars per group, dry (x) beside wet (y).

    ``statistic="value"`` plots each file's value (file descriptors) or frame mean; ``"std"``
    plots the within-file standard deviation of the frame descriptors. Bar = mean over items,
    whisker = standard deviation over items.
    """
    import matplotlib.pyplot as plt

    by = by or group_column(table)
    summary = descriptor_summary(table, by)
    if statistic == "value":
        panels = [(d, d.value_column) for d in DESCRIPTORS]
    elif statistic == "std":
        panels = [(d, f"{d.name}_std") for d in DESCRIPTORS if d.scope == "frame"]
    else:
        raise FeatureError(f"statistic must be 'value' or 'std', not {statistic!r}")
    groups = list(dict.fromkeys(summary["group"]))
    n_cols = 3
    n_rows = math.ceil(len(panels) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 2.8 * n_rows), squeeze=False)
    width = 0.38
    colors = {"x": "tab:blue", "y": "tab:orange"}
    for ax, (d, column) in zip(axes.flat, panels):
        for k, side in enumerate(SIDES):
            part = summary[(summary["column"] == column) & (summary["side"] == side)].set_index("group")
            part = part.reindex(groups)
            positions = np.arange(len(groups)) + (k - 0.5) * width
            ax.bar(positions, part["mean"], width, yerr=part["std"].fillna(0.0), capsize=2,
                   color=colors[side], label=f"{side} ({SIDE_SIGNAL[side]})")
        ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups], rotation=30, ha="right", fontsize=8)
        ax.set_title(d.label + (" (std in file)" if statistic == "std" else ""), fontsize=9)
        ax.set_ylabel(d.unit, fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
