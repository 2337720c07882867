"""Deterministic plucked-string notes: the dry side of the synthetic dataset.

Extended Karplus-Strong synthesis after Jaffe and Smith, "Extensions of the Karplus-Strong
plucked-string algorithm", Computer Music Journal 7(2), 1983:

* excitation: a seeded white-noise burst one period long, shaped by a one-pole "dynamic level"
  low-pass (softer notes are darker) and a pick-position comb ``1 - z^-round(βP)``;
* string loop: delay line, two-point loss filter ``(1 - S) + S z^-1`` (``S`` sets brightness),
  loss gain ``ρ`` chosen for the note's decay time, and a first-order Thiran allpass that tunes
  the fractional part of the period ``P = fs / f0``;
* output: a pickup-position comb ``1 - z^-round(qP)`` (bridge pickups are thin, neck pickups
  full: the "tone"), a short onset delay, peak level from the velocity, and the dataset's fade.

The string loop is a per-sample recursion, compiled with numba. Guitar notes span E2-E6
(MIDI 40-88); bass notes E1-G3 (MIDI 28-55), about 10% of SpringSet's notes (thesis §3.2.3).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numba
import numpy as np

GUITAR_RANGE = (40, 88)   # MIDI E2 .. E6
BASS_RANGE = (28, 55)     # MIDI E1 .. G3
#: Loss-filter coefficient S of the darkest (brightness 0) and brightest (brightness 1) note.
#: Real DI guitar notes sustain their upper harmonics far longer than classic Karplus-Strong's
#: S = 0.5: with these, the dry notes' mean spectral centroid is ~1 kHz, as the real SpringSet
#: notes' (964 Hz), where S in 0.1-0.5 gave ~620 Hz.
LOSS_DARK, LOSS_BRIGHT = 0.12, 0.006


@dataclass(frozen=True)
class NoteSpec:
    """Everything that determines one note; the same spec always renders the same samples."""

    midi: float                 # pitch as a MIDI note number (69 = A4 = 440 Hz)
    velocity: float = 0.7       # 0..1: peak level and excitation brightness
    pluck_position: float = 0.2  # pick position as a fraction of the string from the bridge
    pickup_position: float = 0.15  # pickup position as a fraction of the string from the bridge
    decay: float = 2.0          # s, T60 of the fundamental
    brightness: float = 0.5     # 0 (dark) .. 1 (bright): loss-filter and excitation tilt
    onset: float = 0.01         # s of silence before the pluck
    is_bass: bool = False
    seed: int = 0               # seeds the excitation noise

    @property
    def frequency(self) -> float:
        """Fundamental frequency in Hz (equal temperament, A4 = 440 Hz)."""
        return 440.0 * 2.0 ** ((self.midi - 69.0) / 12.0)

    def to_dict(self) -> dict:
        """The spec as a plain dict (for the dataset's notes.csv)."""
        return dataclasses.asdict(self)


@numba.njit(cache=True)
def _string_loop(excitation: np.ndarray, n_samples: int, length: int, s: float, rho: float,
                 eta: float) -> np.ndarray:  # pragma: no cover - compiled
    """y[n] = x[n] + T(z) ρ ((1-S) y[n-L] + S y[n-L-1]) with T the Thiran tuning allpass."""
    y = np.zeros(n_samples)
    v_prev = 0.0
    w_prev = 0.0
    n_exc = excitation.shape[0]
    for n in range(n_samples):
        v = 0.0
        if n - length >= 0:
            v = (1.0 - s) * y[n - length]
            if n - length - 1 >= 0:
                v += s * y[n - length - 1]
            v *= rho
        w = eta * v + v_prev - eta * w_prev
        v_prev = v
        w_prev = w
        x = excitation[n] if n < n_exc else 0.0
        y[n] = x + w
    return y


def default_peak(spec: NoteSpec) -> float:
    """The peak level a note is rendered at unless told otherwise: 0.25 + 0.65 · velocity."""
    return 0.25 + 0.65 * spec.velocity


def render_note(spec: NoteSpec, sample_rate: int, n_samples: int, fade_seconds: float = 0.0,
                peak: float | None = None) -> np.ndarray:
    """Render one note as float64 samples of length ``n_samples``.

    ``peak`` defaults to ``0.25 + 0.65 * velocity``; the last ``fade_seconds`` get a
    raised-cosine fade-out (SpringSet: 0.5 s).
    """
    f0 = spec.frequency
    if not 0 < f0 < sample_rate / 4:
        raise ValueError(f"note MIDI {spec.midi} ({f0:.1f} Hz) is out of range at {sample_rate} Hz")
    rng = np.random.default_rng(spec.seed)
    period = sample_rate / f0
    s = LOSS_DARK - (LOSS_DARK - LOSS_BRIGHT) * float(np.clip(spec.brightness, 0.0, 1.0))
    # Tuning: loop delay = L + S + d with the Thiran delay d in [0.5, 1.5) (accurate there).
    length = int(math.floor(period - s - 0.5))
    d = period - s - length
    eta = (1.0 - d) / (1.0 + d)
    # Loss gain for a T60 of `decay` at f0: |H_loss(f0)| ρ per period, 60 dB in decay·f0 periods.
    w0 = 2.0 * math.pi * f0 / sample_rate
    loss_mag = abs((1.0 - s) + s * np.exp(-1j * w0))
    rho = min(10.0 ** (-3.0 / (spec.decay * f0)) / loss_mag, 0.99999)

    n_exc = max(length, 2)
    excitation = rng.uniform(-1.0, 1.0, n_exc)
    # Dynamic-level low-pass: softer, darker plucks (Jaffe and Smith §"dynamics").
    pole = 0.9 - 0.8 * float(np.clip(0.5 * spec.velocity + 0.5 * spec.brightness, 0.0, 1.0))
    for i in range(1, n_exc):
        excitation[i] = (1.0 - pole) * excitation[i] + pole * excitation[i - 1]
    excitation -= excitation.mean()
    pick = int(round(spec.pluck_position * period))
    if 0 < pick < n_exc:
        excitation[pick:] = excitation[pick:] - excitation[:-pick]

    onset = int(round(spec.onset * sample_rate))
    body = _string_loop(excitation, n_samples - onset, length, s, rho, eta)
    pickup = int(round(spec.pickup_position * period))
    if pickup > 0:
        body[pickup:] = body[pickup:] - body[:-pickup].copy()
    y = np.zeros(n_samples)
    y[onset:] = body
    y -= np.mean(y)
    y *= (peak if peak is not None else default_peak(spec)) / max(np.max(np.abs(y)), 1e-12)
    if fade_seconds > 0:
        n_fade = min(int(round(fade_seconds * sample_rate)), n_samples)
        y[n_samples - n_fade:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, n_fade)))
    return y


def random_notes(n: int, seed: int, bass_share: float = 0.1) -> list[NoteSpec]:
    """``n`` note specs: exactly ``round(bass_share * n)`` bass notes (E1-G3), the rest guitar (E2-E6).

    The bass notes' positions in the list are shuffled; every draw comes from ``seed``.
    """
    rng = np.random.default_rng(seed)
    n_bass = int(round(bass_share * n))
    is_bass = np.zeros(n, dtype=bool)
    is_bass[rng.choice(n, size=n_bass, replace=False)] = True
    specs = []
    for i in range(n):
        bass = bool(is_bass[i])
        lo, hi = BASS_RANGE if bass else GUITAR_RANGE
        midi = int(rng.integers(lo, hi + 1))
        specs.append(NoteSpec(
            midi=float(midi),
            velocity=float(rng.uniform(0.3, 1.0)),
            pluck_position=float(rng.uniform(0.08, 0.3)),
            pickup_position=float(rng.uniform(0.05, 0.25)),
            # Higher notes die faster; bass strings ring longer (a rough fit to guitar decay times).
            decay=float(rng.uniform(1.5, 3.5) * (1.5 if bass else 1.0) * 2.0 ** (-(midi - 40) / 24.0)),
            brightness=float(rng.uniform(0.2, 0.9) * (0.6 if bass else 1.0)),
            onset=float(rng.uniform(0.0, 0.03)),
            is_bass=bass,
            seed=int(rng.integers(0, 2**31 - 1)),
        ))
    return specs
