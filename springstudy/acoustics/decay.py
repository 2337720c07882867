"""Energy decay curves and reverberation times, with the noise floor handled.

* Energy decay curve (EDC): Schroeder, "New method of measuring reverberation time", J. Acoust.
  Soc. Am. 37 (1965): the backward integral of the squared impulse response, in dB re its start.
* Noise floor: Lundeby, Vigran, Bietz and Vorländer, "Uncertainties of measurements in room
  acoustics", Acustica 81 (1995) 344-355: an iterative estimate of the point where the decay
  meets the background noise (the "crosspoint"); the integration starts there and is corrected
  by the energy of the fitted decay beyond it (ISO 3382-1:2009, §5.3.3).
* Decay times: least-squares line fits of the EDC over fixed ranges below its start, extrapolated
  to 60 dB of decay (ISO 3382-1:2009, §3.5 and Annex A): T20 over -5..-25 dB, T30 over -5..-35 dB,
  and, when the dynamic range allows, the direct T60 over -5..-65 dB. The thesis fitted -5..-60 dB
  and called it RT60 (one of the thesis's known errors); here every number carries the name of its range.
* Octave bands: the ISO 266 centres 125 Hz ... 4 kHz, Butterworth band-passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from springstudy.errors import SpringStudyError

#: Octave-band centre frequencies (Hz) the study reports, after ISO 3382-1.
OCTAVE_BANDS = (125, 250, 500, 1000, 2000, 4000)

#: Fit ranges (dB below the EDC's start) of the named decay-time estimates (ISO 3382-1 §3.5).
DECAY_RANGES = {"t20": (-5.0, -25.0), "t30": (-5.0, -35.0), "t60": (-5.0, -65.0)}

#: The names of the estimates, in the order tables list them.
METHODS = tuple(DECAY_RANGES)

#: How each estimate is printed beside a number.
METHOD_LABELS = {"t20": "T20 (-5..-25 dB, x3)", "t30": "T30 (-5..-35 dB, x2)", "t60": "T60 (-5..-65 dB)"}

#: Decay the fit is extrapolated to (dB): the "60" of RT60.
RT_DECAY_DB = 60.0

#: Noise margin a fit needs below its lower end (ISO 3382-1 §5.3.3: a peak-to-noise range of at
#: least 35 dB for T20 and 45 dB for T30, i.e. 10 dB below the bottom of the range).
NOISE_MARGIN_DB = 10.0

#: Noise handling of :func:`energy_decay_curve`: Lundeby truncation + correction, or none.
NOISE_HANDLING = ("lundeby", "none")


class DecayRangeError(SpringStudyError, ValueError):
    """The decay curve does not reach the fit range's lower end (too little dynamic range)."""


def schroeder_edc(h: np.ndarray) -> np.ndarray:
    """Energy decay curve in dB (0 dB at t = 0) by Schroeder backward integration (no noise handling).

    ``h``: impulse response, shape (T,). Trailing exact zeros give -inf dB.
    """
    h = _as_ir(h)
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    if energy[0] <= 0:
        raise ValueError("impulse response is all zeros")
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(energy / energy[0])


# --- Lundeby et al. (1995): where the decay meets the noise --------------------------------------

@dataclass(frozen=True)
class NoiseFloor:
    """Lundeby's estimate of the background noise of an impulse response.

    ``crosspoint``: sample where the late decay line meets the noise level (integration stops
    there); ``noise_db``: mean-square noise per sample, dB re the IR's peak smoothed level
    (``-inf`` when the tail is exactly zero); ``dynamic_range_db``: peak smoothed level above the
    noise; ``decay_rate_db_per_s``: slope of the late decay line; ``correction``: energy of that
    line beyond the crosspoint (units of h²), added to the truncated Schroeder integral.
    """

    crosspoint: int
    noise_db: float
    dynamic_range_db: float
    decay_rate_db_per_s: float
    correction: float
    iterations: int
    converged: bool
    note: str = ""


def _smoothed_level_db(energy: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``energy`` over non-overlapping blocks of ``block`` samples: (centres in samples, dB)."""
    n_blocks = energy.size // block
    means = energy[: n_blocks * block].reshape(n_blocks, block).mean(axis=1)
    centres = (np.arange(n_blocks) + 0.5) * block
    with np.errstate(divide="ignore"):
        return centres, 10.0 * np.log10(means)


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line y = a x + b over the finite points; (nan, nan) with fewer than two."""
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return math.nan, math.nan
    a, b = np.polyfit(x[ok], y[ok], 1)
    return float(a), float(b)


def lundeby(h: np.ndarray, sample_rate: float, interval_s: float = 0.03, noise_fraction: float = 0.1,
            first_fit_above_noise_db: float = 10.0, intervals_per_10db: int = 5,
            noise_after_crosspoint_db: float = 5.0, late_fit_above_noise_db: float = 10.0,
            late_fit_range_db: float = 20.0, start_margin_db: float = 5.0,
            max_iterations: int = 5) -> NoiseFloor:
    """Crosspoint, noise level and late decay of ``h`` by Lundeby et al. (1995), §4 steps 1-10.

    1. Average h² over local intervals (``interval_s``, 10-50 ms in the paper). 2. Noise from the
    last ``noise_fraction`` of the IR. 3. Regression from the peak down to
    ``first_fit_above_noise_db`` above the noise. 4. Preliminary crosspoint. 5-6. New intervals,
    ``intervals_per_10db`` per 10 dB of decay. 7. Noise from ``noise_after_crosspoint_db`` of decay
    past the crosspoint (at least ``noise_fraction`` of the IR). 8. Late decay fitted over
    ``late_fit_range_db`` starting ``late_fit_above_noise_db`` above the noise. 9. New crosspoint;
    7-9 repeat until it moves less than one interval (at most ``max_iterations`` times).
    Never raises on a hard case: returns the whole IR (crosspoint = T, no correction) with a note.
    """
    h = _as_ir(h)
    fs = float(sample_rate)
    n = h.size
    energy = h**2
    block = max(int(round(interval_s * fs)), 1)
    if n < 4 * block:
        return _no_crosspoint(n, math.nan, math.nan, "IR shorter than four averaging intervals")
    centres, level = _smoothed_level_db(energy, block)
    peak_db = float(np.max(level))
    level = level - peak_db                                  # 0 dB at the peak of the envelope
    scale = 10.0 ** (peak_db / 10.0)                         # energy per sample at 0 dB

    tail = energy[int(n * (1.0 - noise_fraction)):]
    noise_ms = float(np.mean(tail)) / scale
    if noise_ms <= 0.0:                                      # exactly silent tail: nothing to cut
        return _no_crosspoint(n, -math.inf, math.inf, "exactly silent tail: no noise floor")
    noise_db = 10.0 * math.log10(noise_ms)
    if noise_db > -first_fit_above_noise_db:
        return _no_crosspoint(n, noise_db, -noise_db, "no decay above the noise floor")

    # Step 3: regression from the peak to first_fit_above_noise_db above the noise.
    i_peak = int(np.argmax(level))
    below = np.flatnonzero(level[i_peak:] < noise_db + first_fit_above_noise_db)
    i_end = i_peak + (int(below[0]) if below.size else level.size - i_peak)
    slope, intercept = _line_fit(centres[i_peak:i_end] / fs, level[i_peak:i_end])
    if not slope < 0:
        return _no_crosspoint(n, noise_db, -noise_db, "the envelope does not decay")
    crosspoint = (noise_db - intercept) / slope              # seconds

    converged, iterations = False, 0
    for iterations in range(1, max_iterations + 1):
        # Steps 5-6: intervals_per_10db intervals per 10 dB of decay.
        block = max(int(round(10.0 / (-slope * intervals_per_10db) * fs)), 1)
        if n < 4 * block:
            break
        centres, level = _smoothed_level_db(energy, block)
        level = level - peak_db
        # Step 7: noise from noise_after_crosspoint_db of decay past the crosspoint to the end.
        start = int(round((crosspoint + noise_after_crosspoint_db / -slope) * fs))
        start = min(max(start, 0), int(n * (1.0 - noise_fraction)))
        noise_ms = float(np.mean(energy[start:])) / scale
        if noise_ms <= 0.0:
            return _no_crosspoint(n, -math.inf, math.inf, "exactly silent tail: no noise floor")
        noise_db = 10.0 * math.log10(noise_ms)
        # Step 8: late decay over late_fit_range_db, late_fit_above_noise_db above the noise.
        bottom = noise_db + late_fit_above_noise_db
        top = min(bottom + late_fit_range_db, -start_margin_db)
        i_peak = int(np.argmax(level))
        after = level[i_peak:]
        i_top = i_peak + _first(after < top, after.size)
        i_bottom = i_peak + _first(after < bottom, after.size)
        if i_bottom - i_top < 2:
            break
        new_slope, new_intercept = _line_fit(centres[i_top:i_bottom] / fs, level[i_top:i_bottom])
        if not new_slope < 0:
            break
        slope, intercept = new_slope, new_intercept
        new_crosspoint = (noise_db - intercept) / slope      # step 9
        moved = abs(new_crosspoint - crosspoint)
        crosspoint = new_crosspoint
        if moved < block / fs:
            converged = True
            break

    i_cross = int(min(max(round(crosspoint * fs), 1), n))
    # Energy of the fitted decay beyond the crosspoint: a geometric series of per-sample energy.
    per_sample = 10.0 ** (slope / (10.0 * fs))
    level_at_cross = 10.0 ** ((slope * i_cross / fs + intercept) / 10.0) * scale
    correction = level_at_cross / (1.0 - per_sample) if i_cross < n else 0.0
    return NoiseFloor(crosspoint=i_cross, noise_db=noise_db, dynamic_range_db=-noise_db,
                      decay_rate_db_per_s=slope, correction=float(correction),
                      iterations=iterations, converged=converged,
                      note="" if converged else f"crosspoint not converged after {iterations} iterations")


def _first(mask: np.ndarray, default: int) -> int:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else default


def _no_crosspoint(n: int, noise_db: float, dynamic_range_db: float, note: str) -> NoiseFloor:
    return NoiseFloor(crosspoint=n, noise_db=noise_db, dynamic_range_db=dynamic_range_db,
                      decay_rate_db_per_s=math.nan, correction=0.0, iterations=0,
                      converged=False, note=note)


# --- the energy decay curve and the line fits --------------------------------------------------

@dataclass(frozen=True)
class EnergyDecay:
    """An energy decay curve: ``edc_db`` (T,), 0 dB at t = 0, NaN past the noise crosspoint.

    ``noise`` is the Lundeby estimate used (``None`` for ``noise="none"``).
    """

    edc_db: np.ndarray
    sample_rate: float
    noise: NoiseFloor | None

    @property
    def times(self) -> np.ndarray:
        """Time of each EDC sample in seconds."""
        return np.arange(self.edc_db.size) / self.sample_rate


def energy_decay_curve(h: np.ndarray, sample_rate: float, noise: str = "lundeby") -> EnergyDecay:
    """Schroeder EDC of ``h`` with the noise floor handled (``noise="lundeby"``) or not (``"none"``).

    With ``"lundeby"`` the backward integral starts at the crosspoint and adds the energy of
    the fitted decay beyond it (Lundeby et al. 1995; ISO 3382-1 §5.3.3); samples after the
    crosspoint are NaN, since they hold noise, not decay.
    """
    if noise not in NOISE_HANDLING:
        raise ValueError(f"unknown noise handling {noise!r}; choose one of {', '.join(NOISE_HANDLING)}")
    h = _as_ir(h)
    if noise == "none":
        return EnergyDecay(schroeder_edc(h), float(sample_rate), None)
    floor = lundeby(h, sample_rate)
    energy = np.cumsum(h[: floor.crosspoint][::-1] ** 2)[::-1] + floor.correction
    if energy[0] <= 0:
        raise ValueError("impulse response is all zeros")
    edc = np.full(h.size, np.nan)
    with np.errstate(divide="ignore"):
        edc[: floor.crosspoint] = 10.0 * np.log10(energy / energy[0])
    return EnergyDecay(edc, float(sample_rate), floor)


@dataclass(frozen=True)
class DecayEstimate:
    """One named reverberation-time estimate and how it was obtained.

    ``rt60_s`` is -60 dB / slope of the line fitted over ``fit_range_db`` (NaN, with ``reason``,
    when the curve or the dynamic range does not allow it); ``correlation`` is the fit's r
    (ISO 3382-1 Annex B reports the non-linearity 1000·(1 - r²) per mille).
    """

    method: str
    fit_range_db: tuple[float, float]
    rt60_s: float
    slope_db_per_s: float
    intercept_db: float
    fit_start_s: float
    fit_end_s: float
    correlation: float
    noise: str
    dynamic_range_db: float
    reason: str = ""

    @property
    def label(self) -> str:
        """The estimate's name with its fit range, e.g. ``T30 (-5..-35 dB, x2)``."""
        return METHOD_LABELS[self.method]

    @property
    def ok(self) -> bool:
        return math.isfinite(self.rt60_s)


def fit_decay(decay: EnergyDecay, method: str = "t30", noise_margin_db: float = NOISE_MARGIN_DB) -> DecayEstimate:
    """Fit ``method``'s range of an :class:`EnergyDecay` (ISO 3382-1 Annex A, least squares).

    The fit runs from the first EDC sample at or below the range's upper end to the first at or
    below its lower end. With Lundeby noise handling the noise must also lie ``noise_margin_db``
    below the lower end (ISO 3382-1 §5.3.3); otherwise the estimate is NaN with a reason.
    """
    if method not in DECAY_RANGES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(DECAY_RANGES)}")
    hi, lo = DECAY_RANGES[method]
    fs = decay.sample_rate
    edc = decay.edc_db
    dyn = decay.noise.dynamic_range_db if decay.noise is not None else math.nan
    noise = "none" if decay.noise is None else "lundeby"

    def refused(reason: str) -> DecayEstimate:
        return DecayEstimate(method, (hi, lo), math.nan, math.nan, math.nan, math.nan, math.nan,
                             math.nan, noise, dyn, reason)

    finite = edc[np.isfinite(edc)]
    reached = float(finite.min()) if finite.size else 0.0
    i_hi = _first(edc <= hi, -1)
    i_lo = _first(edc <= lo, -1)
    if decay.noise is not None and dyn < -lo + noise_margin_db:
        return refused(f"{method}: dynamic range {dyn:.1f} dB, the fit needs {-lo + noise_margin_db:.0f} dB "
                       f"({noise_margin_db:.0f} dB below {lo:.0f} dB, ISO 3382-1 §5.3.3)")
    if i_lo < 0:
        return refused(f"{method}: the decay curve only reaches {reached:.1f} dB, the fit needs {lo:.0f} dB")
    if i_lo - i_hi < 2:
        return refused(f"{method}: fewer than two samples between {hi:.0f} and {lo:.0f} dB")
    t = np.arange(i_hi, i_lo + 1) / fs
    y = edc[i_hi:i_lo + 1]
    slope, intercept = np.polyfit(t, y, 1)
    r = float(np.corrcoef(t, y)[0, 1])
    if not slope < 0:
        return refused(f"{method}: the fitted decay does not fall")
    return DecayEstimate(method, (hi, lo), float(-RT_DECAY_DB / slope), float(slope), float(intercept),
                         float(t[0]), float(t[-1]), r, noise, dyn)


def decay_estimate(h: np.ndarray, sample_rate: float, method: str = "t30", noise: str = "lundeby") -> DecayEstimate:
    """The ``method`` estimate (``t20``, ``t30``, ``t60``) of ``h``, with its fit and noise handling."""
    return fit_decay(energy_decay_curve(h, sample_rate, noise), method)


def decay_time(h: np.ndarray, sample_rate: float, method: str = "t30", noise: str = "none") -> float:
    """Reverberation time (s) from a line fit of the EDC over ``method``'s range.

    ``method`` is ``t20`` (-5 to -25 dB), ``t30`` (-5 to -35 dB) or ``t60`` (-5 to -65 dB); the
    fitted slope (dB/s) is extrapolated to 60 dB: RT = -60 / slope (ISO 3382-1, Annex A).
    ``noise="none"`` (default) is for exact impulse responses such as the synthetic tank's;
    use ``"lundeby"`` for measured ones. Raises :class:`DecayRangeError` if the fit is refused.
    """
    estimate = decay_estimate(h, sample_rate, method, noise)
    if not estimate.ok:
        raise DecayRangeError(estimate.reason)
    return estimate.rt60_s


def rt60_t20(h: np.ndarray, sample_rate: float, noise: str = "lundeby") -> float:
    """RT60 extrapolated from T20 (fit -5..-25 dB, ISO 3382-1). Raises :class:`DecayRangeError`."""
    return decay_time(h, sample_rate, "t20", noise)


def rt60_t30(h: np.ndarray, sample_rate: float, noise: str = "lundeby") -> float:
    """RT60 extrapolated from T30 (fit -5..-35 dB, ISO 3382-1). Raises :class:`DecayRangeError`."""
    return decay_time(h, sample_rate, "t30", noise)


def rt60_t60(h: np.ndarray, sample_rate: float, noise: str = "lundeby") -> float:
    """RT60 fitted directly over -5..-65 dB (needs 75 dB of dynamic range). Raises :class:`DecayRangeError`."""
    return decay_time(h, sample_rate, "t60", noise)


# --- octave bands ----------------------------------------------------------------------------

def octave_band(h: np.ndarray, sample_rate: float, centre: float, order: int = 4) -> np.ndarray:
    """``h`` filtered by a Butterworth octave band-pass around ``centre`` (edges centre/√2, centre·√2)."""
    low, high = centre / np.sqrt(2.0), centre * np.sqrt(2.0)
    if high >= sample_rate / 2:
        raise ValueError(f"octave band {centre} Hz reaches {high:.0f} Hz, above Nyquist ({sample_rate / 2:.0f} Hz)")
    sos = signal.butter(order, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, np.asarray(h, dtype=np.float64))


def band_decay_times(h: np.ndarray, sample_rate: float, method: str = "t30",
                     bands: tuple[float, ...] = OCTAVE_BANDS, noise: str = "none") -> dict[str, float]:
    """Broadband and per-octave-band decay times, keyed ``"broadband"`` and ``"<centre>"`` (Hz).

    A band that lies above Nyquist or lacks the dynamic range for ``method`` is NaN.
    """
    out = {"broadband": decay_time(h, sample_rate, method, noise)}
    for centre in bands:
        try:
            out[str(int(centre))] = decay_time(octave_band(h, sample_rate, centre), sample_rate, method, noise)
        except (ValueError, DecayRangeError):
            out[str(int(centre))] = float("nan")
    return out


def _as_ir(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 1 or h.size == 0:
        raise ValueError(f"expected a non-empty 1-D impulse response, got shape {h.shape}")
    return h
