"""The bass share of thesis §3.2.3 ("approximately 10% of bass notes"), estimated from the dry f0."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


# ---------------------------------------------------------------------------------------------
# Bass share (thesis §3.2.3: "approximately 10% of bass notes")
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BassShare:
    """Share of bass notes estimated from f0, with a bootstrap interval."""

    share: float               #: maximum-likelihood bass share
    low: float                 #: bootstrap percentile interval
    high: float
    below_guitar_share: float  #: share of items below the guitar's lowest note (a lower bound)
    items: int                 #: items whose f0 lies in the guitar or bass range
    unassigned: int            #: items without a voiced f0 or outside both ranges


def _midi(f0_hz: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 69.0 + 12.0 * np.log2(np.asarray(f0_hz, dtype=float) / 440.0)


def _range_density(midi: np.ndarray, note_range: tuple[int, int], tolerance: float) -> np.ndarray:
    lo, hi = note_range
    inside = (midi >= lo - tolerance) & (midi < hi + tolerance)
    return np.where(inside, 1.0 / (hi - lo + 2.0 * tolerance), 0.0)


def _mixture_share(p_bass: np.ndarray, p_guitar: np.ndarray, tol: float = 1e-10, max_iter: int = 10_000) -> float:
    """Maximum-likelihood weight of the bass component (EM; the log-likelihood is concave)."""
    if p_bass.size == 0:
        return float("nan")
    share = 0.5
    for _ in range(max_iter):
        posterior = share * p_bass / (share * p_bass + (1.0 - share) * p_guitar)
        new = float(posterior.mean())
        if abs(new - share) < tol:
            return new
        share = new
    return share


def estimate_bass_share(f0_hz: Sequence[float] | np.ndarray, guitar_range: tuple[int, int] | None = None,
                        bass_range: tuple[int, int] | None = None, tolerance_semitones: float = 0.5,
                        n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> BassShare:
    """Share of bass notes among items with dry pitch ``f0_hz`` (thesis §3.2.3).

    Guitar and bass ranges overlap (E2-G3), so no f0 threshold separates them. Each instrument's
    notes are taken as spread evenly (in semitones) over its range, MIDI ``guitar_range`` and
    ``bass_range`` (defaults: :data:`springstudy.data.notes.GUITAR_RANGE` E2-E6 and
    ``BASS_RANGE`` E1-G3, widened by ``tolerance_semitones``), and the bass weight of that
    two-component mixture is fitted by maximum likelihood: items below E2 must be bass, items
    above G3 guitar, and the overlap is shared in proportion. ``below_guitar_share`` (items below
    the guitar's lowest note) is the assumption-free lower bound. The interval is a bootstrap
    percentile interval over items (``n_boot`` resamples from ``seed``).
    """
    if guitar_range is None or bass_range is None:
        from springstudy.data.notes import BASS_RANGE, GUITAR_RANGE

        guitar_range = guitar_range or GUITAR_RANGE
        bass_range = bass_range or BASS_RANGE
    midi = _midi(np.asarray(f0_hz, dtype=float))
    p_bass = _range_density(midi, bass_range, tolerance_semitones)
    p_guitar = _range_density(midi, guitar_range, tolerance_semitones)
    assigned = (p_bass + p_guitar) > 0
    p_bass, p_guitar = p_bass[assigned], p_guitar[assigned]
    share = _mixture_share(p_bass, p_guitar)
    low = high = float("nan")
    if n_boot > 0 and p_bass.size > 1:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, p_bass.size, size=(n_boot, p_bass.size))
        boot = np.array([_mixture_share(p_bass[d], p_guitar[d], tol=1e-7) for d in draws])
        alpha = (1.0 - confidence) / 2.0
        low, high = (float(v) for v in np.quantile(boot, [alpha, 1.0 - alpha]))
    below = midi[assigned] < guitar_range[0] - tolerance_semitones
    return BassShare(share=share, low=low, high=high,
                     below_guitar_share=float(below.mean()) if below.size else float("nan"),
                     items=int(assigned.sum()), unassigned=int((~assigned).sum()))


def bass_share_from_table(table: pd.DataFrame, **kwargs: Any) -> BassShare:
    """:func:`estimate_bass_share` on the dry (x) PitchYin median f0 of an Essentia table."""
    dry = table[table["side"] == "x"]
    return estimate_bass_share(dry["pitch_yin_f0_median"].to_numpy(dtype=float), **kwargs)


def true_bass_share(data: str | Path) -> float | None:
    """The generator's own bass share from ``notes.csv`` beside a synthetic dataset, else None."""
    import pandas as pd

    path = Path(data) / "notes.csv"
    if not path.is_file():
        return None
    notes = pd.read_csv(path)
    if "is_bass" not in notes:
        return None
    return float(notes["is_bass"].astype(str).str.lower().eq("true").mean())
