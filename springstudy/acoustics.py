"""Room-acoustics measures of an impulse response: Schroeder decay curves and RT60.

Definitions follow ISO 3382-1:2009 and Schroeder, "New method of measuring reverberation
time", J. Acoust. Soc. Am. 37 (1965): the energy decay curve (EDC) is the backward integral of
the squared impulse response; T20 and T30 are least-squares line fits of the EDC (in dB) between
-5 and -25 dB and -5 and -35 dB, extrapolated to 60 dB of decay. The thesis measured from -5 to
-60 dB and called it RT60 (STUDY.md, known errors); here every number says which estimate it is.
Octave bands are the ISO 266 centres 125 Hz ... 4 kHz.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

#: Octave-band centre frequencies (Hz) the study reports, after ISO 3382-1.
OCTAVE_BANDS = (125, 250, 500, 1000, 2000, 4000)

#: Fit ranges (dB below the EDC's start) of the named decay-time estimates.
DECAY_RANGES = {"t20": (-5.0, -25.0), "t30": (-5.0, -35.0), "t60": (-5.0, -65.0)}


class DecayRangeError(ValueError):
    """The decay curve does not reach the fit range's lower end (too little dynamic range)."""


def schroeder_edc(h: np.ndarray) -> np.ndarray:
    """Energy decay curve in dB (0 dB at t = 0) by Schroeder backward integration.

    ``h``: impulse response, shape (T,). Trailing exact zeros give -inf dB.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 1 or h.size == 0:
        raise ValueError(f"expected a non-empty 1-D impulse response, got shape {h.shape}")
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    if energy[0] <= 0:
        raise ValueError("impulse response is all zeros")
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(energy / energy[0])


def decay_time(h: np.ndarray, sample_rate: float, method: str = "t30") -> float:
    """Reverberation time (s) from a line fit of the Schroeder EDC over ``method``'s range.

    ``method`` is ``t20`` (-5 to -25 dB), ``t30`` (-5 to -35 dB) or ``t60`` (-5 to -65 dB);
    the fitted slope (dB/s) is extrapolated to 60 dB: RT = -60 / slope (ISO 3382-1, §A.2).
    Raises :class:`DecayRangeError` if the EDC does not fall far enough.
    """
    if method not in DECAY_RANGES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(DECAY_RANGES)}")
    hi, lo = DECAY_RANGES[method]
    edc = schroeder_edc(h)
    inside = np.flatnonzero((edc <= hi) & (edc >= lo))
    if edc.min() > lo or inside.size < 2:
        raise DecayRangeError(f"{method}: the decay curve only reaches {edc[np.isfinite(edc)].min():.1f} dB, "
                              f"the fit needs {lo:.0f} dB")
    t = inside / float(sample_rate)
    slope, _ = np.polyfit(t, edc[inside], 1)
    return float(-60.0 / slope)


def octave_band(h: np.ndarray, sample_rate: float, centre: float, order: int = 4) -> np.ndarray:
    """``h`` filtered by a Butterworth octave band-pass around ``centre`` (edges centre/√2, centre·√2)."""
    low, high = centre / np.sqrt(2.0), centre * np.sqrt(2.0)
    if high >= sample_rate / 2:
        raise ValueError(f"octave band {centre} Hz reaches {high:.0f} Hz, above Nyquist ({sample_rate / 2:.0f} Hz)")
    sos = signal.butter(order, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, np.asarray(h, dtype=np.float64))


def band_decay_times(h: np.ndarray, sample_rate: float, method: str = "t30",
                     bands: tuple[float, ...] = OCTAVE_BANDS) -> dict[str, float]:
    """Broadband and per-octave-band decay times, keyed ``"broadband"`` and ``"<centre>"`` (Hz).

    A band that lies above Nyquist or lacks the dynamic range for ``method`` is NaN.
    """
    out = {"broadband": decay_time(h, sample_rate, method)}
    for centre in bands:
        try:
            out[str(int(centre))] = decay_time(octave_band(h, sample_rate, centre), sample_rate, method)
        except (ValueError, DecayRangeError):
            out[str(int(centre))] = float("nan")
    return out
