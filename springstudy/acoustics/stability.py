"""Stability of a system: does its response to an impulse die away?

A reverb (or a recurrent model of one) can ring forever or drift: an IIR loop with a pole on
or outside the unit circle, or a model whose state settles away from its idle state (cf. the
stability discussion in the conditioning seed, 003). The test: an impulse followed by
``silence`` seconds (10 s) of silence; after its idle output is subtracted, the response must end
``threshold_db`` (-60 dB) below its peak, without a DC offset and without a sustained or growing
oscillation. Each failure says which.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from springstudy.acoustics.sweep import Processor


@dataclass(frozen=True)
class StabilityResult:
    """Outcome of :func:`check_stability`; ``reason`` says why it failed (or notes a pass).

    Levels are dB re the response's peak: ``final_level_db`` of the last window without its mean,
    ``dc_level_db`` of that window's mean; ``growth_db_per_s`` compares the last window with
    one ``gap`` seconds earlier (>= 0: not decaying).
    """

    stable: bool
    reason: str
    final_level_db: float
    dc_level_db: float
    growth_db_per_s: float
    peak: float
    idle_level_db: float

    def to_dict(self) -> dict:
        return asdict(self)


def check_stability(process: Processor, sample_rate: float, silence: float = 10.0,
                    impulse_amplitude: float = 1.0, threshold_db: float = -60.0, window: float = 0.5,
                    gap: float = 1.0, steady_db_per_s: float = 1.0,
                    subtract_idle: bool = True) -> StabilityResult:
    """Feed an impulse and ``silence`` seconds of silence to ``process``; check that it decays.

    Fails (with the reason) on: non-finite output; a final level above ``threshold_db`` that
    grows; a DC offset in the last ``window`` seconds above ``threshold_db``; a final level above
    it that neither grows nor decays by more than ``steady_db_per_s`` (self-oscillation); or one
    that decays, but too slowly.
    With ``subtract_idle`` the system's output for pure silence is subtracted first (its
    ``idle_level_db``, re full scale, is reported: a constant bias is no instability).
    """
    n = 1 + int(round(silence * sample_rate))
    x = np.zeros(n)
    x[0] = impulse_amplitude
    y = np.asarray(process(x), dtype=np.float64)
    idle_db = -math.inf
    if subtract_idle:
        idle = np.asarray(process(np.zeros(n)), dtype=np.float64)
        if np.all(np.isfinite(idle)):
            idle_db = amplitude_db(float(np.max(np.abs(idle))))
        y = y - idle
    n_win = max(int(round(window * sample_rate)), 1)
    n_gap = int(round(gap * sample_rate))
    if y.shape != x.shape:
        raise ValueError(f"the system returned shape {y.shape} for an input of shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        return StabilityResult(False, f"output is not finite (NaN/inf from t = {bad[0] / sample_rate:.3f} s)",
                               math.nan, math.nan, math.nan, math.nan, idle_db)
    peak = float(np.max(np.abs(y)))
    if peak == 0.0:
        return StabilityResult(True, "no response to the impulse (silent output)", -math.inf, -math.inf,
                               math.nan, 0.0, idle_db)

    def level_db(values: np.ndarray) -> float:
        return amplitude_db(float(np.sqrt(np.mean(values**2))) / peak)

    last = y[-n_win:]
    mean = float(np.mean(last))
    final_db = level_db(last - mean)
    dc_db = amplitude_db(abs(mean) / peak)
    earlier = y[-n_win - n_gap:-n_gap] if n_gap and n > n_win + n_gap else y[:n_win]
    earlier_db = level_db(earlier - np.mean(earlier))
    growth = (final_db - earlier_db) / gap if math.isfinite(earlier_db) and math.isfinite(final_db) else math.nan

    def result(stable: bool, reason: str) -> StabilityResult:
        return StabilityResult(stable, reason, final_db, dc_db, growth, peak, idle_db)

    if final_db > threshold_db and growth > steady_db_per_s:
        return result(False, f"growing output: {final_db:.1f} dB re peak after {silence:g} s, "
                             f"rising {growth:+.1f} dB/s (a pole outside the unit circle?)")
    if dc_db > threshold_db:
        return result(False, f"DC drift: the last {window:g} s average {dc_db:.1f} dB re peak "
                             f"(limit {threshold_db:g} dB)")
    if final_db > threshold_db:
        if not growth < -steady_db_per_s:
            return result(False, f"self-oscillation: {final_db:.1f} dB re peak after {silence:g} s and "
                                 f"not decaying ({growth:+.1f} dB/s)")
        return result(False, f"decays too slowly: {final_db:.1f} dB re peak after {silence:g} s "
                              f"(limit {threshold_db:g} dB)")
    return result(True, "")


def amplitude_db(ratio: float) -> float:
    """20·log10(ratio), -inf for 0."""
    return 20.0 * math.log10(ratio) if ratio > 0 else -math.inf
