"""The one Markdown table writer of the package, and the number formats its tables share.

Every table the study writes (the dataset overviews, descriptors, calibration, Tables 8-11, the
search ranking, the knob study, the report's own tables) goes through :func:`markdown_table`:
a GitHub-flavoured pipe table whose missing values read :data:`MISSING` (never a raw ``nan``,
``<NA>`` or ``inf``), whose numbers have a fixed number of significant figures, and whose cells
cannot break the table (a ``|`` or a newline inside a cell is escaped). Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: What a table prints where a value is missing (NaN, None, pandas.NA).
MISSING = "–"


def is_missing(value: Any) -> bool:
    """True for None, NaN, pandas.NA and NaT (what a table shows as :data:`MISSING`)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, (float, np.floating)) and math.isnan(value))
    except TypeError:
        return False


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number as a table prints it: integers with thousands separators, floats to ``digits``
    significant figures (scientific notation outside 1e-3..1e4), ±∞ as ``∞``, missing as :data:`MISSING`.

    >>> fmt_number(88889.5), fmt_number(88889.0), fmt_number(0.0123456), fmt_number(float("inf"))
    ('8.89e+04', '88,889', '0.0123', '∞')
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, str):
        return value
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e6:
        return f"{int(value):,}"
    return f"{value:.{digits}g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.{max(digits - 1, 0)}e}"


def fmt_interval(mean: Any, lo: Any, hi: Any, digits: int = 3, signed: bool = False) -> str:
    """``mean [lo, hi]`` (each :func:`fmt_number`; ``signed`` puts a + before positive values),
    or :data:`MISSING` when the mean is missing."""
    if is_missing(mean):
        return MISSING

    def one(v: Any) -> str:
        text = fmt_number(v, digits)
        return "+" + text if signed and not is_missing(v) and float(v) > 0 else text
    return f"{one(mean)} [{one(lo)}, {one(hi)}]"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame | Sequence[Mapping[str, Any]],
                   columns: Mapping[str, str] | Sequence[str] | None = None,
                   formats: Mapping[str, Callable[[Any], str]] | None = None,
                   default: Callable[[Any], str] = fmt_number, caption: str | None = None,
                   align: Mapping[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``frame``.

    ``columns`` maps each column shown to its heading (a sequence shows the columns under their
    own names; None shows them all). ``formats`` gives a column its own cell formatter; every
    other cell goes through ``default`` (strings pass through as they are). ``caption`` is
    printed in italics above the table. ``align`` maps a column to ``"l"`` or ``"r"`` (text
    columns left, numbers right by default).
    """
    frame = pd.DataFrame(list(frame)) if not isinstance(frame, pd.DataFrame) else frame
    if columns is None:
        columns = {c: str(c) for c in frame.columns}
    elif not isinstance(columns, Mapping):
        columns = {c: str(c) for c in columns}
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise KeyError(f"markdown_table: no column {unknown} in {list(frame.columns)}")
    formats = dict(formats or {})
    align = dict(align or {})
    rules = []
    for c in columns:
        side = align.get(c) or ("l" if frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype)
                                else "r")
        rules.append(":---" if side == "l" else "---:")
    lines = ["| " + " | ".join(_cell(h) for h in columns.values()) + " |", "| " + " | ".join(rules) + " |"]
    for row in frame.to_dict("records"):
        cells = []
        for c in columns:
            value = row[c]
            fmt = formats.get(c)
            text = fmt(value) if fmt is not None else value if isinstance(value, str) else default(value)
            cells.append(_cell(str(text)))
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    return f"_{caption}_\n\n{table}" if caption else table


__all__ = ["MISSING", "fmt_interval", "fmt_number", "is_missing", "markdown_table"]
