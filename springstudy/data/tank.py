"""A synthetic spring reverb tank with a known impulse response: the study's embedded default.

The linear part follows the parametric spring reverberation model of Välimäki, Parker and Abel,
"Parametric spring reverberation effect", J. Audio Eng. Soc. 58(7/8), 2010 (efficient variants:
Parker, EURASIP J. Adv. Signal Process. 2011, 646134):

* Low-chirp path (§3 of Välimäki et al.): a cascade of ``stages`` stretched first-order
  allpass filters ``A(z) = (a1 + z^-K) / (1 + a1 z^-K)`` with stretch ``K = fs / (2 fc)``; the
  non-integer part of K is a first-order Thiran fractional-delay allpass inside each stage. The
  cascade sits in a feedback loop with a delay line (``loop_delay``) and a loop gain; its
  output is low-passed at ``fc`` (above fc the stretched allpass repeats its response, and a
  real tank's low chirps stop there).
* High-chirp path (§4): a cascade of ``high_chirp_stages`` plain first-order allpasses
  (coefficient ``high_chirp_a``) in a shorter feedback loop, high-passed at ``fc`` and mixed in
  ``high_chirp_level_db`` below the low-chirp path.
* A DC-blocking high-pass (a tank's magnetic transducers pass no DC).

Each loop's gain is set per frequency from the loop's group delay, so that decay
per second, not decay per round trip, is what the parameters fix (the dispersive cascade's
group delay varies about 50-fold with frequency, and a constant loop gain would make RT60 vary
with it and with the sample rate); ``hf_damping`` then shortens the decay towards fc as in a
real tank, with RT60(fc) = hf_damping · RT60(0). A broadband decay parameter is calibrated so
that the T30 of the true impulse response equals ``rt60``. The loop gain is a smooth real
function of frequency, i.e. a kernel a few dozen samples wide, far shorter than the loop
delay, so the loops stay causal.

Because every part is linear and time invariant, the whole transfer function is evaluated on a
dense FFT grid and its inverse FFT is the impulse response, long enough that time aliasing is
below -120 dB. The transducers' tone (``tone_highpass_hz``, ``tone_lowpass_hz``, a high shelf)
is part of that linear response. Before the tank, a driver nonlinearity (:meth:`SpringTank.drive`:
a tanh saturation with optional asymmetry, and with memory through a low shelf before it and
its inverse after it) makes the system nonlinear and time invariant, as a real tank with its
driver is; it has unit small-signal gain, so the true IR is the whole device's small-signal IR.
After the tank, an optional noise floor (pink hiss shaped by the tone, and mains hum). The
impulse response is scaled to unit energy times ``output_gain_db`` (default -6 dB, so that loud
sustained notes do not clip 24-bit PCM). :data:`TANK_PRESETS` names two tanks: ``clean`` (the
defaults) and ``realistic`` (calibrated against the real Accutronics 4EB2C1B).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import fft as sfft
from scipy import signal

from springstudy.acoustics import band_decay_times, decay_time


#: The largest |log(T30 / rt60)| the decay calibration accepts when the secant cannot reach
#: 0.1% (a target inside one of the steps of T30; see SpringTank._calibrated).
CALIBRATION_TOLERANCE = 0.05


@dataclass(frozen=True)
class TankParams:
    """Parameters of the synthetic tank (defaults after Välimäki et al. 2010, Table 1 ranges)."""

    sample_rate: int = 16_000
    rt60: float = 2.5                  # s, broadband T30 of the true impulse response
    fc: float = 4300.0                 # Hz, transition frequency of the stretched allpasses
    a1: float = 0.75                   # stretched allpass coefficient
    stages: int = 100                  # stretched allpasses in the low-chirp cascade
    loop_delay: float = 0.045          # s, delay line in the low-chirp loop
    hf_damping: float = 0.5            # RT60 at fc relative to RT60 at low frequencies (1 = none)
    high_chirp_level_db: float = -12.0
    high_chirp_stages: int = 200
    high_chirp_a: float = -0.6
    high_chirp_delay: float = 0.019    # s, delay line in the high-chirp loop
    drive: float = 1.0                 # driver nonlinearity tanh(drive x)/drive; 0 = linear
    drive_bias: float = 0.0            # asymmetry of the saturation (even harmonics); 0 = odd only
    drive_shelf_db: float = 0.0        # low-frequency emphasis before the saturation, undone after
    drive_shelf_hz: float = 200.0      # corner of that shelf (Hz)
    tone_highpass_hz: float | None = None  # input transducer's low cut (2nd order); None = off
    tone_lowpass_hz: float | None = None   # output transducer/pickup band limit (2nd order); None = off
    tone_shelf_db: float = 0.0         # high shelf of the transducers' response (dB above tone_shelf_hz)
    tone_shelf_hz: float = 800.0       # corner of that shelf (Hz)
    noise_floor_db: float | None = None  # RMS of white noise (hiss) added to the output, dBFS; None = off
    hum_db: float | None = None        # RMS of mains hum added to the output, dBFS; None = off
    hum_hz: float = 50.0               # mains frequency
    hum_harmonics: int = 4             # hum partials at k·hum_hz, k = 1..hum_harmonics, amplitude 1/k
    ir_seconds: float | None = None    # length of the stored true IR; None = 100 dB of decay
    dc_block_hz: float = 30.0          # DC-blocking high-pass corner
    output_gain_db: float = -6.0       # gain of the true IR over unit energy (headroom for PCM)
    seed: int = 20231                  # seeds the noise floor (notes have their own seeds)

    def __post_init__(self) -> None:
        nyquist = self.sample_rate / 2
        checks = [
            (self.sample_rate > 0, "sample_rate must be positive"),
            (self.rt60 > 0, "rt60 must be positive"),
            (0 < self.fc < nyquist, f"fc must lie in (0, {nyquist:g}) Hz at {self.sample_rate} Hz"),
            (-1 < self.a1 < 1, "a1 must lie in (-1, 1)"),
            (-1 < self.high_chirp_a < 1, "high_chirp_a must lie in (-1, 1)"),
            (self.stages >= 1 and self.high_chirp_stages >= 0, "stage counts must be positive"),
            (self.loop_delay > 0 and self.high_chirp_delay > 0, "loop delays must be positive"),
            (0 < self.hf_damping <= 1, "hf_damping must lie in (0, 1]"),
            (self.drive >= 0, "drive must be >= 0"),
            (abs(self.drive_bias) < 1, "drive_bias must lie in (-1, 1)"),
            (0 < self.drive_shelf_hz < nyquist, f"drive_shelf_hz must lie in (0, {nyquist:g}) Hz"),
            (self.tone_highpass_hz is None or 0 < self.tone_highpass_hz < nyquist,
             f"tone_highpass_hz must lie in (0, {nyquist:g}) Hz or be null"),
            (self.tone_lowpass_hz is None or 0 < self.tone_lowpass_hz < nyquist,
             f"tone_lowpass_hz must lie in (0, {nyquist:g}) Hz or be null"),
            (0 < self.tone_shelf_hz < nyquist, f"tone_shelf_hz must lie in (0, {nyquist:g}) Hz"),
            (0 < self.hum_hz * max(self.hum_harmonics, 1) < nyquist, "hum partials must lie below Nyquist"),
            (self.hum_harmonics >= 1, "hum_harmonics must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"TankParams: {message}")

    @classmethod
    def from_dict(cls, values: dict) -> TankParams:
        """Build from a mapping (e.g. params.yaml's ``data.tank``); unknown keys are an error.

        A ``preset`` key (``clean`` or ``realistic``, see :data:`TANK_PRESETS`) starts from that
        preset; the other keys override it. Without one, the dataclass defaults (``clean``) apply.
        """
        values = dict(values)
        preset = values.pop("preset", None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"TankParams: unknown parameter(s) {', '.join(unknown)}; known: preset, {', '.join(sorted(names))}")
        if preset is not None and preset not in TANK_PRESETS:
            raise ValueError(f"TankParams: unknown preset {preset!r}; choose one of {', '.join(TANK_PRESETS)}")
        return cls(**{**(TANK_PRESETS[preset] if preset is not None else {}), **values})

    @classmethod
    def preset(cls, name: str, **overrides: object) -> TankParams:
        """The named preset (:data:`TANK_PRESETS`) with ``overrides``."""
        return cls.from_dict({"preset": name, **overrides})

    def to_dict(self) -> dict:
        """All parameters as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)


#: Named tanks. ``clean`` is the dataclass defaults: a nearly linear, bright tank (a Linear IR
#: fitted on 3 notes predicts a 4th with ESR ~0.004). ``realistic`` is calibrated against the
#: real Accutronics 4EB2C1B (see :mod:`springstudy.data.calibration` and the README's
#: calibration table): its "long" decay (T30 3.2 s; Accutronics' type C spans 2.75-4 s) with
#: high frequencies dying fast (RT60 at fc = 0.05 · RT60 at DC: 2 kHz rings ~1 s, 4 kHz 0.36 s); output
#: transducer band-limited at 3 kHz, so the wet is darker than the dry (centroid ratio ~0.87,
#: real 0.83); a driver that saturates hard with memory (drive 3, bass lifted 12 dB below
#: 200 Hz before the saturation and lowered after it, as a coil's core saturates with flux), so
#: that a Linear IR fitted on 3 notes scores ESR ~0.3 on a 4th (real 0.28); and a noise floor of
#: pink hiss at -100 dBFS and 50 Hz hum at -95 dBFS, about 62 dB below the mean wet RMS. The
#: floor is as high as the tone allows: the real wet is darker than its dry, and any floor
#: within ~50 dB of the wet's RMS fills the late frames with noise and lifts the wet's mean
#: centroid above the dry's.
TANK_PRESETS: dict[str, dict[str, object]] = {
    "clean": {},
    "realistic": {
        "rt60": 3.2,
        "hf_damping": 0.05,
        "drive": 3.0,
        "drive_shelf_db": 12.0,
        "drive_shelf_hz": 200.0,
        "tone_lowpass_hz": 3000.0,
        "noise_floor_db": -100.0,
        "hum_db": -95.0,
        "hum_hz": 50.0,
    },
}


def _first_order_allpass(coef: float, phase_delay_rad: np.ndarray) -> np.ndarray:
    """(coef + e^{-jθ}) / (1 + coef e^{-jθ}) evaluated at θ (the phase of the element it wraps)."""
    w = np.exp(-1j * phase_delay_rad)
    return (coef + w) / (1.0 + coef * w)


def _first_order_allpass_delay(coef: float, theta: np.ndarray) -> np.ndarray:
    """dφ/dθ of the allpass above: (1 - c²) / (1 + 2c cos θ + c²) (its group delay per unit θ)."""
    return (1.0 - coef**2) / (1.0 + 2.0 * coef * np.cos(theta) + coef**2)


def _first_order_shelf(dc_gain: float, hf_gain: float, corner_hz: float, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """First-order shelf (b, a) with gain ``dc_gain`` at DC and ``hf_gain`` at high frequencies.

    Bilinear transform of (hf·s + dc·ωc) / (s + ωc), ωc prewarped to ``corner_hz``. Its pole and
    zero lie inside the unit circle for positive gains, so its inverse (a, b) is stable too.
    """
    wc = 2.0 * sample_rate * math.tan(math.pi * corner_hz / sample_rate)
    b, a = signal.bilinear([hf_gain, dc_gain * wc], [1.0, wc], fs=sample_rate)
    return np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)


def thiran_coefficient(delay: float) -> float:
    """First-order Thiran allpass coefficient for a fractional delay (Välimäki 1995): (1-d)/(1+d)."""
    return (1.0 - delay) / (1.0 + delay)


class SpringTank:
    """The synthetic tank: true linear impulse response, RT60, and processing of dry signals.

    >>> tank = SpringTank(TankParams(sample_rate=16000, rt60=2.0))
    >>> y = tank.process(x)             # x: (N, T) or (T,) dry signal(s) at 16 kHz  # doctest: +SKIP
    """

    def __init__(self, params: TankParams | None = None) -> None:
        self.params = params or TankParams()

    # --- linear tank ----------------------------------------------------------------------
    @property
    def stretch(self) -> float:
        """Stretch factor K = fs / (2 fc) of the low-chirp allpasses (samples)."""
        return self.params.sample_rate / (2.0 * self.params.fc)

    def _grid(self, n_fft: int) -> np.ndarray:
        return 2.0 * np.pi * np.arange(n_fft // 2 + 1) / n_fft

    def _low_cascade(self, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frequency response and group delay (samples) of the stretched allpass cascade."""
        p = self.params
        k = self.stretch
        # Integer part and a Thiran fractional part in [0.5, 1.5), where first-order Thiran is accurate.
        k_int = max(int(math.floor(k - 0.5)), 0)
        frac = k - k_int
        eta = thiran_coefficient(frac)
        thiran = _first_order_allpass(eta, omega)
        theta_w = omega * k_int - np.unwrap(np.angle(thiran))       # phase lag of z^-K1 F(z)
        tau_w = k_int + _first_order_allpass_delay(eta, omega)
        stage = _first_order_allpass(p.a1, theta_w)
        tau_stage = tau_w * _first_order_allpass_delay(p.a1, theta_w)
        return stage**p.stages, p.stages * tau_stage

    def _high_cascade(self, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        stage = _first_order_allpass(p.high_chirp_a, omega)
        return stage**p.high_chirp_stages, p.high_chirp_stages * _first_order_allpass_delay(p.high_chirp_a, omega)

    def _transfer(self, n_fft: int, decay_rt60: float) -> np.ndarray:
        """Complex frequency response on the rfft grid of size ``n_fft``, before output scaling."""
        p = self.params
        fs = p.sample_rate
        omega = self._grid(n_fft)
        z1 = np.exp(-1j * omega)
        # Loop gain for 60 dB of decay in decay_rt60 seconds given the loop's group delay τ(ω);
        # the decay rate grows with (f/fc)² so that RT60(fc) = hf_damping · RT60(0), at any fs.
        f_rel = omega * fs / (2.0 * np.pi * p.fc)
        per_sample_db = -60.0 / (decay_rt60 * fs) * (1.0 + (1.0 / p.hf_damping - 1.0) * f_rel**2)

        def loop_gain(tau: np.ndarray) -> np.ndarray:
            return 10.0 ** (per_sample_db * tau / 20.0)

        d_low = int(round(p.loop_delay * fs))
        cascade, tau_c = self._low_cascade(omega)
        loop = loop_gain(d_low + tau_c) * z1**d_low * cascade
        h_low = cascade / (1.0 - loop)
        _, lp = signal.sosfreqz(signal.butter(4, p.fc, "lowpass", fs=fs, output="sos"), worN=omega)
        total = h_low * lp
        if p.high_chirp_stages > 0:
            d_high = int(round(p.high_chirp_delay * fs))
            cascade_h, tau_h = self._high_cascade(omega)
            loop_h = loop_gain(d_high + tau_h) * z1**d_high * cascade_h
            h_high = cascade_h / (1.0 - loop_h)
            _, hp = signal.sosfreqz(signal.butter(2, p.fc, "highpass", fs=fs, output="sos"), worN=omega)
            total = total + 10.0 ** (p.high_chirp_level_db / 20.0) * h_high * hp
        _, dc = signal.sosfreqz(signal.butter(2, p.dc_block_hz, "highpass", fs=fs, output="sos"), worN=omega)
        return total * dc * self._tone(omega)

    def _tone(self, omega: np.ndarray) -> np.ndarray | float:
        """The transducers' response: band limits (2nd-order Butterworth high- and low-pass) and a
        first-order high shelf (``tone_shelf_db`` above ``tone_shelf_hz``); 1 where off."""
        response: np.ndarray | float = 1.0
        for b, a in self._tone_filters():
            response = response * signal.freqz(b, a, worN=omega)[1]
        return response

    def _fft_size(self, decay_rt60: float) -> int:
        # 120 dB of decay plus the cascade's longest group delay, so time aliasing is below -120 dB.
        seconds = 2.0 * decay_rt60 + 0.5
        return 1 << int(math.ceil(math.log2(seconds * self.params.sample_rate)))

    def _impulse_response(self, decay_rt60: float) -> np.ndarray:
        n_fft = self._fft_size(decay_rt60)
        h = sfft.irfft(self._transfer(n_fft, decay_rt60), n=n_fft)
        return h * (10.0 ** (self.params.output_gain_db / 20.0) / np.sqrt(np.sum(h**2)))

    @cached_property
    def _calibrated(self) -> tuple[float, np.ndarray]:
        """(decay parameter, full IR) such that the IR's T30 equals params.rt60.

        A secant in log rt60 finds it in a few steps. The T30 of a spring's IR is not smooth in
        the decay parameter, though: the energy decay is a staircase (the loop's echoes), and as
        the -35 dB end of the T30 fit crosses a stair, T30 jumps (about 0.4% at 2 s, several
        percent below 0.6 s). A target inside a jump cannot be met; there the crossing is
        bracketed and bisected, and the nearer side is taken if within CALIBRATION_TOLERANCE
        (tank.json and knobs.csv record the T30 the IR really has).
        """
        target = self.params.rt60
        fs = self.params.sample_rate
        tried: dict[float, tuple[float, np.ndarray]] = {}

        def error(x: float) -> float:
            if x not in tried:
                h = self._impulse_response(x)
                tried[x] = (math.log(decay_time(h, fs, "t30") / target), h)
            return tried[x][0]

        x0 = target
        f0 = error(x0)
        if abs(f0) < 1e-3:
            return x0, tried[x0][1]
        x1 = target * math.exp(-f0)
        for _ in range(12):
            f1 = error(x1)
            if abs(f1) < 1e-3:
                return x1, tried[x1][1]
            step = f1 * (math.log(x1) - math.log(x0)) / (f1 - f0) if f1 != f0 else f1
            x0, f0 = x1, f1
            x1 = x1 * math.exp(-step)
        below = [x for x, (f, _) in tried.items() if f < 0]
        above = [x for x, (f, _) in tried.items() if f > 0]
        if below and above:                      # bisect the bracket to the jump
            lo, hi = max(below), min(above)
            for _ in range(30):
                if hi / lo - 1.0 < 1e-9:
                    break
                mid = math.sqrt(lo * hi)
                lo, hi = (mid, hi) if error(mid) < 0 else (lo, mid)
        best = min(tried, key=lambda x: abs(tried[x][0]))
        if abs(tried[best][0]) < CALIBRATION_TOLERANCE:
            return best, tried[best][1]
        raise RuntimeError(f"tank calibration did not converge to rt60={target} s (nearest T30 error "
                           f"{tried[best][0]:+.3%})")

    @property
    def impulse_response(self) -> np.ndarray:
        """The true linear impulse response (energy = output gain²), ``ir_seconds`` long (default: 100 dB of decay)."""
        decay, h = self._calibrated
        seconds = self.params.ir_seconds or (decay * 100.0 / 60.0 + 0.25)
        return h[: min(int(round(seconds * self.params.sample_rate)), h.size)].copy()

    def rt60(self, method: str = "t30") -> dict[str, float]:
        """Decay times of the true IR: broadband and per octave band (seconds; NaN above Nyquist)."""
        return band_decay_times(self._calibrated[1], self.params.sample_rate, method)

    # --- the whole (nonlinear) device ---------------------------------------------------------
    def _shelf(self) -> tuple[np.ndarray, np.ndarray]:
        """The driver's low shelf (b, a): gain 10^(drive_shelf_db/20) at DC, 1 at high frequencies."""
        p = self.params
        return _first_order_shelf(10.0 ** (p.drive_shelf_db / 20.0), 1.0, p.drive_shelf_hz, p.sample_rate)

    def drive(self, x: np.ndarray) -> np.ndarray:
        """The driver and transducer nonlinearity, unit gain for small signals (along the last axis).

        ``f(u) = (tanh(d(u + b)) − tanh(d·b)) / (d·(1 − tanh²(d·b)))`` with ``d = drive`` and
        ``b = drive_bias`` (b ≠ 0 saturates one polarity first: even harmonics); identity for
        ``d = 0``. With ``drive_shelf_db`` ≠ 0 the saturation has memory: a low shelf lifts low
        frequencies before it and its exact inverse follows it (a Wiener-Hammerstein chain), as
        a driver coil's core saturates with flux, the integral of the drive, so that bass
        saturates first. The chain is the identity for small signals, so the tank's true IR is
        the whole device's small-signal IR.
        """
        p = self.params
        u = np.asarray(x, dtype=np.float64)
        if p.drive == 0:
            return u
        if p.drive_shelf_db != 0:
            b, a = self._shelf()
            u = signal.lfilter(b, a, u, axis=-1)
        d, bias = p.drive, p.drive_bias
        offset = math.tanh(d * bias)
        v = (np.tanh(d * (u + bias)) - offset) / (d * (1.0 - offset**2))
        if p.drive_shelf_db != 0:
            v = signal.lfilter(a, b, v, axis=-1)
        return v

    @property
    def has_noise(self) -> bool:
        """Whether the output carries a noise floor (hiss or hum)."""
        return self.params.noise_floor_db is not None or self.params.hum_db is not None

    def _tone_filters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The transducers' response (:meth:`_tone`) as time-domain filters (b, a)."""
        p = self.params
        filters = []
        if p.tone_shelf_db != 0:
            filters.append(_first_order_shelf(1.0, 10.0 ** (p.tone_shelf_db / 20.0), p.tone_shelf_hz, p.sample_rate))
        for corner, kind in ((p.tone_highpass_hz, "highpass"), (p.tone_lowpass_hz, "lowpass")):
            if corner is not None:
                filters.append(signal.butter(2, corner, kind, fs=p.sample_rate))
        return filters

    def noise(self, shape: tuple[int, ...], noise_seed: int | None = None) -> np.ndarray:
        """The output noise floor, dBFS RMS: hiss at ``noise_floor_db`` plus mains hum at ``hum_db``.

        The hiss is pink (power ∝ 1/f above 20 Hz: at a tank's low output levels the recovery
        stage's flicker noise dominates its white noise) and shaped by the transducers' response
        (it passes the same band limits as the signal), scaled so that its expected RMS is
        ``noise_floor_db``. A tank without tone filters (the clean preset) gets white hiss.
        The hum has partials k·hum_hz with amplitudes 1/k and seeded random phases (mains hum
        has no fixed phase to a note).
        """
        p = self.params
        rng = np.random.default_rng(p.seed if noise_seed is None else noise_seed)
        out = np.zeros(shape)
        if p.noise_floor_db is not None:
            hiss = rng.standard_normal(shape)
            if self._tone_filters():
                n = shape[-1]
                freqs = np.fft.rfftfreq(n, 1.0 / p.sample_rate)
                gain = np.abs(self._tone(2.0 * np.pi * freqs / p.sample_rate)) / np.sqrt(np.maximum(freqs, 20.0) / 1000.0)
                gain[0] = 0.0
                # Expected output power of white unit-variance noise through `gain` (two-sided mean).
                weights = np.full(gain.size, 2.0)
                weights[0] = 1.0
                if n % 2 == 0:
                    weights[-1] = 1.0
                power = float(np.sum(weights * gain**2)) / n
                hiss = sfft.irfft(sfft.rfft(hiss, axis=-1) * (gain / np.sqrt(power)), n, axis=-1)
            out += hiss * 10.0 ** (p.noise_floor_db / 20.0)
        if p.hum_db is not None:
            k = np.arange(1, p.hum_harmonics + 1, dtype=np.float64)
            amplitude = 1.0 / k
            amplitude *= 10.0 ** (p.hum_db / 20.0) / np.sqrt(np.sum(amplitude**2) / 2.0)
            t = np.arange(shape[-1]) / p.sample_rate
            rows = int(np.prod(shape[:-1], dtype=np.int64))
            phases = rng.uniform(0.0, 2.0 * np.pi, (rows, k.size))
            hum = np.stack([np.sum(amplitude[:, None] * np.sin(2.0 * np.pi * p.hum_hz * k[:, None] * t + ph[:, None]),
                                   axis=0) for ph in phases])
            out += hum.reshape(shape)
        return out

    def process(self, x: np.ndarray, noise_seed: int | None = None) -> np.ndarray:
        """Wet output for dry input ``x`` (shape (T,) or (N, T)), same shape, same length.

        The driver nonlinearity (:meth:`drive`), then FFT convolution with the true IR truncated
        to the input length (the output of a length-T input is observed for T samples, as in the
        datasets), then the optional noise floor (:meth:`noise`, seeded by ``noise_seed``,
        default ``params.seed``).
        """
        y = self.linear(self.drive(x))
        if self.has_noise:
            y = y + self.noise(y.shape, noise_seed)
        return y

    def linear(self, x: np.ndarray) -> np.ndarray:
        """The linear tank alone: ``x`` (T,) or (N, T) convolved with the true IR, truncated to T.

        For small signals this is the whole device without its noise (the driver chain has unit
        small-signal gain), so ``process(x) - linear(x) - noise`` is the nonlinearity's share.
        """
        x = np.asarray(x, dtype=np.float64)
        squeeze = x.ndim == 1
        x2 = np.atleast_2d(x)
        n = x2.shape[-1]
        h = self._calibrated[1][:n]
        n_fft = sfft.next_fast_len(n + h.size - 1, real=True)
        y = sfft.irfft(sfft.rfft(x2, n_fft, axis=-1) * sfft.rfft(h, n_fft), n_fft, axis=-1)[..., :n]
        return y[0] if squeeze else y

    def describe(self) -> dict:
        """Parameters, derived quantities and the true decay times, for ``tank.json``."""
        decay, _ = self._calibrated
        return {
            "model": "parametric spring reverb after Välimäki, Parker and Abel (2010)",
            "params": self.params.to_dict(),
            "stretch_K": self.stretch,
            "loop_delay_samples": int(round(self.params.loop_delay * self.params.sample_rate)),
            "calibrated_decay_rt60_s": decay,
            "ir_samples": int(self.impulse_response.size),
            "rt60_t30_s": self.rt60("t30"),
            "rt60_t20_s": self.rt60("t20"),
        }
