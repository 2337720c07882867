"""The synthetic tank's controls (knobs), a seeded space-filling design of settings, and the
``knobs.csv`` file a conditioned dataset carries beside its audio.

A real spring reverb has a few controls; the tank's knobs are the four with a physical meaning
in :class:`springstudy.data.tank.TankParams`:

========  ===================================  ====================================
knob      what it sets                          scale of the design
========  ===================================  ====================================
decay     ``rt60``, the broadband T30 (s)       linear
tone      ``tone_lowpass_hz``, the pickup's     logarithmic (octaves matter)
          band limit (Hz)
dwell     ``drive``, the driver's saturation    linear
mix       wet share of the output:              linear
          ``mix * wet + (1 - mix) * dry``
========  ===================================  ====================================

A conditioned dataset renders each item through the tank at its own setting, drawn by a Latin
hypercube (``scipy.stats.qmc``, seeded): every knob's range is cut into as many equal strata as
there are items and each stratum holds exactly one item, and the design is improved for
centred discrepancy, so the settings fill the space rather than clump. The settings go into a
side file ``knobs.csv`` (item id, the four values, the tank's true RT60 at that setting), not
into the h5 files or the EGFxSet ``notes.csv``: one file and one reader serve both layouts, and
the audio files stay byte-for-byte in the real datasets' formats. The knob ranges are recorded
in ``tank.json`` and the reader checks every value against them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from springstudy.data import DatasetError
from springstudy.data.tank import TankParams

#: The knobs, in the order a model's conditioning vector holds them.
KNOB_NAMES = ("decay", "tone", "dwell", "mix")
#: Knobs designed on a log scale.
LOG_KNOBS = ("tone",)
#: The tank field each knob sets (mix is applied to the output, not inside the tank).
TANK_FIELD = {"decay": "rt60", "tone": "tone_lowpass_hz", "dwell": "drive"}
#: The default ranges (params.yaml's ``knobs`` group overrides them): around the realistic
#: tank's rt60 3.2 s, tone 3 kHz and drive 3.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "decay": (1.5, 4.5), "tone": (1500.0, 6000.0), "dwell": (1.0, 5.0), "mix": (0.25, 1.0)}
#: Added to the seed of the design's generator, so the design and the notes draw different streams.
DESIGN_STREAM = 0x6B6E6F62
#: Name of the side file.
KNOBS_FILE = "knobs.csv"


@dataclass(frozen=True)
class KnobRanges:
    """The range of each knob (low < high); :meth:`normalise` maps a setting into [0, 1]^4."""

    ranges: Mapping[str, tuple[float, float]]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.ranges) - set(KNOB_NAMES))
        missing = [k for k in KNOB_NAMES if k not in self.ranges]
        if unknown or missing:
            raise ValueError(f"knob ranges: {'unknown ' + ', '.join(unknown) if unknown else ''}"
                             f"{'; ' if unknown and missing else ''}{'missing ' + ', '.join(missing) if missing else ''}"
                             f" (the knobs are {', '.join(KNOB_NAMES)})")
        for name, (low, high) in self.ranges.items():
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"knob ranges: {name} needs low < high, got [{low}, {high}]")
            if name in LOG_KNOBS and low <= 0:
                raise ValueError(f"knob ranges: {name} is designed on a log scale and needs low > 0, got {low}")
        if self.ranges["mix"][0] < 0 or self.ranges["mix"][1] > 1:
            raise ValueError(f"knob ranges: mix lies in [0, 1], got {list(self.ranges['mix'])}")
        if self.ranges["dwell"][0] < 0 or self.ranges["decay"][0] <= 0:
            raise ValueError("knob ranges: dwell must be >= 0 and decay > 0")

    @classmethod
    def from_dict(cls, values: Mapping[str, Sequence[float]] | None = None) -> KnobRanges:
        """Ranges from a mapping ``{knob: [low, high]}`` (missing knobs keep :data:`DEFAULT_RANGES`)."""
        merged = {**DEFAULT_RANGES, **{k: tuple(float(x) for x in v) for k, v in (values or {}).items()}}
        return cls(merged)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: [float(v) for v in self.ranges[k]] for k in KNOB_NAMES}

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """Settings (N, 4) from points of the unit cube (N, 4): linear, or logarithmic for :data:`LOG_KNOBS`."""
        unit = np.asarray(unit, dtype=float)
        out = np.empty_like(unit)
        for j, name in enumerate(KNOB_NAMES):
            low, high = self.ranges[name]
            if name in LOG_KNOBS:
                out[:, j] = np.exp(np.log(low) + unit[:, j] * (np.log(high) - np.log(low)))
            else:
                out[:, j] = low + unit[:, j] * (high - low)
        return out

    def normalise(self, settings: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`from_unit`: settings (N, 4) as points of [0, 1]^4 (a model's input)."""
        settings = np.atleast_2d(np.asarray(settings, dtype=float))
        out = np.empty_like(settings)
        for j, name in enumerate(KNOB_NAMES):
            low, high = self.ranges[name]
            if name in LOG_KNOBS:
                out[:, j] = (np.log(settings[:, j]) - np.log(low)) / (np.log(high) - np.log(low))
            else:
                out[:, j] = (settings[:, j] - low) / (high - low)
        return out


def knob_design(n: int, ranges: KnobRanges, seed: int) -> np.ndarray:
    """``n`` settings (n, 4), columns :data:`KNOB_NAMES`: a Latin hypercube (one item per
    stratum of every knob) improved for centred discrepancy, seeded, scaled to ``ranges``."""
    from scipy.stats import qmc

    if n < 1:
        raise ValueError(f"knob design: need at least one setting, got {n}")
    rng = np.random.default_rng([seed, DESIGN_STREAM])     # a stream of its own, not the notes'
    sampler = qmc.LatinHypercube(d=len(KNOB_NAMES), optimization="random-cd", rng=rng)
    return ranges.from_unit(sampler.random(n))


def tank_at(base: TankParams, setting: Sequence[float]) -> TankParams:
    """The tank ``base`` with the knobs of ``setting`` (decay, tone, dwell, mix) turned; mix is
    not a tank parameter (see :func:`mix_output`)."""
    values = dict(zip(KNOB_NAMES, (float(v) for v in setting)))
    return replace(base, **{field: values[knob] for knob, field in TANK_FIELD.items()})


def mix_output(dry: np.ndarray, wet: np.ndarray, mix: float) -> np.ndarray:
    """The device's output at the mix knob: ``mix * wet + (1 - mix) * dry``."""
    return mix * wet + (1.0 - mix) * dry


def write_knobs_csv(path: Path, ids: Sequence[str], settings: np.ndarray, rt60: Sequence[float]) -> None:
    """Write ``knobs.csv``: id, the four knob values, and the tank's true broadband RT60 (T30)."""
    import pandas as pd

    frame = pd.DataFrame(np.asarray(settings, dtype=float), columns=list(KNOB_NAMES))
    frame.insert(0, "id", list(ids))
    frame["true_rt60_s"] = [float(r) for r in rt60]
    frame.to_csv(path, index=False, float_format="%.9g")   # portable across CPUs (see synth.TEXT_DIGITS)


def read_knobs(folder: str | Path, ranges: KnobRanges | None = None):
    """The ``knobs.csv`` of a conditioned dataset as a DataFrame indexed by item id (columns:
    the knobs, then ``true_rt60_s``), checked: the file exists and parses, the columns are
    exactly those, no value is missing or NaN, ids are unique, and every value lies in
    ``ranges`` (default: the ranges in the folder's ``tank.json``). Any problem is a
    :class:`~springstudy.data.DatasetError` naming the file."""
    import json

    import pandas as pd

    folder = Path(folder)
    path = folder / KNOBS_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: not found (the dataset was not rendered with knobs)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: not a readable CSV ({err})") from None
    expected = ["id", *KNOB_NAMES, "true_rt60_s"]
    if list(frame.columns) != expected:
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        raise DatasetError(f"{path}: columns must be {', '.join(expected)}"
                           + (f"; missing {', '.join(missing)}" if missing else "")
                           + (f"; unexpected {', '.join(map(str, extra))}" if extra else ""))
    if frame["id"].duplicated().any():
        raise DatasetError(f"{path}: item id {frame['id'][frame['id'].duplicated()].iloc[0]!r} appears twice")
    values = frame[list(KNOB_NAMES) + ["true_rt60_s"]]
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() | ~np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
    if bad.to_numpy().any():
        row, column = np.argwhere(bad.to_numpy())[0]
        value = values.iloc[row, column]
        shown = repr(value) if isinstance(value, str) else f"{float(value):g}"
        raise DatasetError(f"{path}: row {row + 2} ({frame['id'].iloc[row]}): {values.columns[column]} is "
                           f"{shown}, not a finite number")
    if ranges is None:
        try:
            ranges = KnobRanges.from_dict(json.loads((folder / "tank.json").read_text())["knobs"]["ranges"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DatasetError(f"{folder / 'tank.json'}: no usable knob ranges ({err})") from None
    for name in KNOB_NAMES:
        low, high = ranges.ranges[name]
        column = numeric[name]
        outside = (column < low * (1 - 1e-9)) | (column > high * (1 + 1e-9))
        if outside.any():
            row = int(np.flatnonzero(outside.to_numpy())[0])
            raise DatasetError(f"{path}: row {row + 2} ({frame['id'].iloc[row]}): {name} {column.iloc[row]:g} "
                               f"lies outside its range [{low:g}, {high:g}]")
    return numeric.set_index(frame["id"])


def knob_matrix(folder: str | Path, ids: Sequence[str]) -> tuple[np.ndarray, KnobRanges]:
    """The normalised settings (len(ids), 4) of items ``ids`` (each in [0, 1]) and the ranges;
    an id without a row is a :class:`~springstudy.data.DatasetError` naming the file."""
    import json

    folder = Path(folder)
    ranges = KnobRanges.from_dict(json.loads((folder / "tank.json").read_text())["knobs"]["ranges"]) \
        if (folder / "tank.json").is_file() else None
    frame = read_knobs(folder, ranges)
    missing = [i for i in ids if i not in frame.index]
    if missing:
        raise DatasetError(f"{folder / KNOBS_FILE}: no row for item {missing[0]!r} ({len(missing)} missing)")
    ranges = ranges or KnobRanges.from_dict()
    return ranges.normalise(frame.loc[list(ids), list(KNOB_NAMES)].to_numpy()), ranges
