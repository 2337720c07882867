"""Energy decay relief: how each frequency of an impulse response decays (the "waterfall").

Jot, "An analysis/synthesis approach to real-time artificial reverberation", Proc. IEEE ICASSP
1992, 221-224: EDR(t, f) = Σ_{τ >= t} |H(τ, f)|², the Schroeder backward integral (Schroeder
1965) of the short-time spectrum in each frequency bin. At t = 0 it is the power spectrum; its
slope in each bin is that frequency's decay rate. The thesis's Fig. 17 shows this view in 3D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal


@dataclass(frozen=True)
class DecayRelief:
    """EDR in dB: ``level_db`` (frames, bins), 0 dB = the largest value (at t = 0)."""

    frequencies: np.ndarray   # (F,) Hz
    times: np.ndarray         # (K,) s, frame centres
    level_db: np.ndarray      # (K, F)

    def at(self, frequency: float) -> np.ndarray:
        """The decay (dB over ``times``) of the bin nearest ``frequency``."""
        return self.level_db[:, int(np.argmin(np.abs(self.frequencies - frequency)))]


def energy_decay_relief(h: np.ndarray, sample_rate: float, frame: float = 0.02, hop: float = 0.01,
                        window: str = "hann", stop: int | None = None,
                        floor_db: float = -200.0) -> DecayRelief:
    """Energy decay relief of ``h`` (Jot 1992) from an STFT of ``frame``/``hop`` seconds.

    ``stop`` (samples) ends the integration early, e.g. at the Lundeby crosspoint of a measured
    IR so that its noise floor is not integrated; ``floor_db`` keeps exact zeros finite.
    """
    h = np.asarray(h, dtype=np.float64)
    if stop is not None:
        h = h[:stop]
    n_frame = max(int(round(frame * sample_rate)), 2)
    n_hop = max(int(round(hop * sample_rate)), 1)
    freqs, times, spectrum = signal.stft(h, fs=sample_rate, window=window, nperseg=n_frame,
                                         noverlap=n_frame - n_hop, boundary=None, padded=True)
    power = np.abs(spectrum.T) ** 2                        # (frames, bins)
    relief = np.cumsum(power[::-1], axis=0)[::-1]
    peak = float(relief.max())
    if peak <= 0:
        raise ValueError("impulse response is all zeros")
    with np.errstate(divide="ignore"):
        level = np.maximum(10.0 * np.log10(relief / peak), floor_db)
    return DecayRelief(frequencies=freqs, times=times, level_db=level)
