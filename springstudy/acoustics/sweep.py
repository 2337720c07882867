"""Impulse responses by exponential sine sweep (Farina 2000), for the tank and for any model.

Farina, "Simultaneous measurement of impulse response and distortion with a swept-sine
technique", AES 108th Convention, preprint 5093 (2000):

* The sweep x(t) = A sin[2π f1 T / R · (e^{tR/T} - 1)], R = ln(f2/f1), goes from ``f_start``
  (f1) to ``f_end`` (f2) in ``duration`` (T) seconds; scipy's logarithmic ``chirp`` is exactly
  this phase law. Its amplitude A comes from ``level_dbfs`` (peak level) in one place,
  :func:`sweep_amplitude` (the thesis converted dB to linear twice, one of its known errors).
* The inverse filter is the time-reversed sweep with an envelope falling 6 dB/octave,
  e^{-tR/T}, which undoes the sweep's pink spectrum; it is scaled so that sweep * inverse has
  unit gain over the band, so the measured IR has the system's true gain at any level.
* The sweep and ``tail`` seconds of silence go through the system as ONE continuous signal
  (the thesis cut the sweep into independent chunks, which truncated every chunk's reverb tail),
  and the recording is convolved with the inverse filter by FFT. The linear IR starts at lag
  0 of the result; a nonlinear system's harmonic responses land before it (negative lags).
* By default the sweep * inverse kernel is then divided out inside the swept band (regularised),
  which flattens its Fresnel ripple at the band edges (Farina 2007; Kirkeby and Nelson 1999;
  see ``kernel_equaliser``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy import signal

#: A system under measurement: a whole 1-D float signal in, the same-length signal out.
Processor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SweepSpec:
    """Parameters of one exponential sweep measurement (defaults suit 16-48 kHz spring tanks).

    ``f_end=None`` sweeps to Nyquist. ``level_dbfs`` is the sweep's peak level (dB re full
    scale, 0 dBFS = amplitude 1). ``fade_in``/``fade_out`` are half-Hann ramps (s) that keep the
    start and end free of clicks. ``tail`` is the silence after the sweep (s): it must hold the
    system's whole decay, and it is the length of the measured IR.
    """

    f_start: float = 10.0
    f_end: float | None = None
    duration: float = 5.0
    level_dbfs: float = -6.0
    tail: float = 5.0
    fade_in: float = 0.05
    fade_out: float = 0.002

    def end_frequency(self, sample_rate: float) -> float:
        """``f_end``, or Nyquist when it is None."""
        return sample_rate / 2.0 if self.f_end is None else float(self.f_end)

    def harmonic_separation(self, sample_rate: float) -> float:
        """Seconds by which the 2nd harmonic's IR precedes the linear one: T·ln 2 / R (Farina 2000).

        A nonlinear system whose IR is longer than this lets its 2nd-harmonic tail reach into
        the linear IR; a longer sweep separates them further.
        """
        return self.duration * math.log(2.0) / math.log(self.end_frequency(sample_rate) / self.f_start)

    def check(self, sample_rate: float) -> None:
        """Raise ``ValueError`` if the sweep cannot be generated at ``sample_rate``."""
        f_end = self.end_frequency(sample_rate)
        problems = [
            (self.f_start > 0, "f_start must be positive"),
            (f_end <= sample_rate / 2.0, f"f_end {f_end:g} Hz is above Nyquist ({sample_rate / 2:g} Hz)"),
            (f_end > self.f_start, "f_end must be above f_start"),
            (self.duration > 0 and self.tail >= 0, "duration must be positive and tail >= 0"),
            (self.fade_in >= 0 and self.fade_out >= 0 and self.fade_in + self.fade_out < self.duration,
             "fades must be >= 0 and shorter than the sweep together"),
            (self.level_dbfs <= 0, "level_dbfs must be <= 0 dBFS"),
        ]
        for ok, message in problems:
            if not ok:
                raise ValueError(f"SweepSpec: {message}")


def sweep_amplitude(level_dbfs: float) -> float:
    """Peak amplitude of a ``level_dbfs`` signal: 10^(level/20), the sweep level's only dB -> linear step."""
    return 10.0 ** (level_dbfs / 20.0)


def exponential_sweep(sample_rate: float, spec: SweepSpec = SweepSpec()) -> np.ndarray:
    """Farina's exponential sweep (2000, eq. 2) with half-Hann fades, peak ``spec.level_dbfs``.

    The sine's constant phase offset is chosen to maximise the sweep's content at Nyquist: a
    sweep to fs/2 is sampled there as ±sin(phase), so with an unlucky final phase the top of the
    band would go unexcited (the fade-in still starts the sweep from zero).
    """
    spec.check(sample_rate)
    n = int(round(spec.duration * sample_rate))
    t = np.arange(n) / sample_rate
    f_end = spec.end_frequency(sample_rate)
    # scipy's logarithmic chirp is cos(2π f1 T/R (e^{tR/T} - 1) + phi): Farina's phase law.
    carrier = (signal.chirp(t, spec.f_start, spec.duration, f_end, method="logarithmic")
               + 1j * signal.chirp(t, spec.f_start, spec.duration, f_end, method="logarithmic", phi=-90.0))
    window = np.ones(n)
    n_in, n_out = int(round(spec.fade_in * sample_rate)), int(round(spec.fade_out * sample_rate))
    if n_in:
        window[:n_in] = np.sin(0.5 * np.pi * np.arange(n_in) / n_in) ** 2
    if n_out:
        window[n - n_out:] = np.cos(0.5 * np.pi * (np.arange(n_out) + 1) / n_out) ** 2
    nyquist = np.sum(np.where(np.arange(n) % 2, -1.0, 1.0) * window * carrier)   # Σ (-1)^n w e^{iφ}
    offset = 0.5 * np.pi - np.angle(nyquist)                # maximises |Σ (-1)^n w sin(φ + offset)|
    return sweep_amplitude(spec.level_dbfs) * window * np.imag(carrier * np.exp(1j * offset))


def inverse_sweep(sample_rate: float, spec: SweepSpec = SweepSpec()) -> np.ndarray:
    """Farina's inverse filter: the time-reversed sweep times e^{-tR/T} (-6 dB/octave), unit gain.

    The gain is set so that |FFT(sweep * inverse)| has unit mean power between 2·f_start and
    f_end/2, away from the band edges, so the IR it recovers has the system's true gain
    whatever the sweep's level.
    """
    x = exponential_sweep(sample_rate, spec)
    n = x.size
    rate = math.log(spec.end_frequency(sample_rate) / spec.f_start)      # R in Farina's notation
    inverse = x[::-1] * np.exp(-rate * np.arange(n) / n)
    n_fft = sfft.next_fast_len(2 * n, real=True)
    kernel = sfft.rfft(x, n_fft) * sfft.rfft(inverse, n_fft)
    freqs = sfft.rfftfreq(n_fft, 1.0 / sample_rate)
    band = (freqs >= 2.0 * spec.f_start) & (freqs <= spec.end_frequency(sample_rate) / 2.0)
    return inverse / math.sqrt(float(np.mean(np.abs(kernel[band]) ** 2)))


def sweep_passband(sample_rate: float, spec: SweepSpec = SweepSpec(),
                   tolerance_db: float = 0.5) -> tuple[float, float]:
    """The band (Hz) around the sweep's geometric centre where |FFT(sweep * inverse)| is within
    ``tolerance_db`` of 0 dB: where Farina's inverse filter alone gives a trustworthy response.

    Outside it the kernel has Fresnel ripple (a fast sweep near f_end, the fades) and rolls off;
    :func:`measure_ir`'s default equalisation flattens it from 2·f_start up to f_end.
    """
    x = exponential_sweep(sample_rate, spec)
    inverse = inverse_sweep(sample_rate, spec)
    n_fft = sfft.next_fast_len(4 * x.size, real=True)       # fine grid: the ripple is narrow
    kernel = sfft.rfft(x, n_fft) * sfft.rfft(inverse, n_fft)
    freqs = sfft.rfftfreq(n_fft, 1.0 / sample_rate)
    with np.errstate(divide="ignore"):
        flat = np.abs(20.0 * np.log10(np.abs(kernel))) <= tolerance_db
    centre = int(np.argmin(np.abs(freqs - math.sqrt(spec.f_start * spec.end_frequency(sample_rate)))))
    if not flat[centre]:
        return math.nan, math.nan
    lo = centre - _first_false(flat[centre::-1])
    hi = centre + _first_false(flat[centre:])
    return float(freqs[lo + 1]), float(freqs[hi - 1])


def _first_false(mask: np.ndarray) -> int:
    misses = np.flatnonzero(~mask)
    return int(misses[0]) if misses.size else mask.size


@dataclass
class IRMeasurement:
    """An impulse response measured by sweep, with what it was measured from.

    ``ir``: the linear IR, ``spec.tail`` seconds from lag 0; ``excitation``: sweep + silence as
    played; ``response``: what the system returned (minus its idle output if subtracted);
    ``harmonics``: the deconvolution before lag 0 (a nonlinear system's harmonic IRs);
    ``harmonic_level_db``: their energy re the linear IR's; ``tail_level_db``: level of the IR's
    last ``tail_check`` seconds re its peak (near 0 dB means the tail was cut short).
    """

    ir: np.ndarray
    sample_rate: float
    spec: SweepSpec
    excitation: np.ndarray = field(repr=False)
    response: np.ndarray = field(repr=False)
    harmonics: np.ndarray = field(repr=False)
    harmonic_level_db: float = math.nan
    tail_level_db: float = math.nan

    @property
    def harmonic_separation(self) -> float:
        """Seconds by which the 2nd harmonic's IR precedes the linear one (:meth:`SweepSpec.harmonic_separation`)."""
        return self.spec.harmonic_separation(self.sample_rate)

    def summary(self) -> dict:
        """Sweep parameters and quality figures as a JSON-ready dict."""
        return {"sample_rate": self.sample_rate, "sweep": asdict(self.spec),
                "ir_samples": int(self.ir.size), "harmonic_level_db": self.harmonic_level_db,
                "harmonic_separation_s": self.harmonic_separation, "tail_level_db": self.tail_level_db}


def measure_ir(process: Processor, sample_rate: float, spec: SweepSpec = SweepSpec(),
               equalise: bool = True, regularisation_db: float = -40.0, subtract_idle: bool = True,
               harmonic_guard: float = 0.01, tail_check: float = 0.1) -> IRMeasurement:
    """Measure the impulse response of ``process`` by one continuous exponential sweep.

    ``process`` maps a 1-D float64 signal to one of the same length (e.g. ``tank.process`` or
    :func:`model_processor`). The sweep plus ``spec.tail`` seconds of silence is processed in
    one call, and the recording is convolved with :func:`inverse_sweep` by FFT (Farina 2000).

    ``equalise`` then divides out the sweep * inverse kernel itself inside the swept band
    (:func:`kernel_equaliser`), which removes its Fresnel ripple at the band edges (several dB
    near Nyquist) that would otherwise colour every IR. With ``subtract_idle`` the system's
    output for silence of the same length is subtracted first (a model's bias is no part of its
    impulse response; for a system with zero idle output this changes nothing).
    ``harmonic_guard`` seconds before lag 0 are left out of the harmonic level (the band-limited
    kernel rings there).
    """
    sweep = exponential_sweep(sample_rate, spec)
    inverse = inverse_sweep(sample_rate, spec)
    n_tail = int(round(spec.tail * sample_rate))
    excitation = np.concatenate([sweep, np.zeros(n_tail)])
    response = _run(process, excitation)
    if subtract_idle:
        response = response - _run(process, np.zeros_like(excitation))
    n_full = response.size + inverse.size - 1
    n_fft = sfft.next_fast_len(n_full, real=True)
    spectrum = sfft.rfft(response, n_fft) * sfft.rfft(inverse, n_fft)   # FFT convolution
    if equalise:
        spectrum *= kernel_equaliser(sample_rate, spec, n_fft, regularisation_db)
    deconvolved = sfft.irfft(spectrum, n_fft)[:n_full]
    lag0 = sweep.size - 1                                  # where sweep * inverse peaks
    ir = deconvolved[lag0:lag0 + n_tail]
    harmonics = deconvolved[:lag0]
    guard = int(round(harmonic_guard * sample_rate))
    ir_energy = float(np.sum(ir**2))
    harmonic_db = _ratio_db(float(np.sum(harmonics[:max(lag0 - guard, 0)] ** 2)), ir_energy)
    n_check = max(int(round(tail_check * sample_rate)), 1)
    tail_db = _ratio_db(float(np.mean(ir[-n_check:] ** 2)), float(np.max(ir**2)) if ir.size else 0.0)
    return IRMeasurement(ir=ir, sample_rate=float(sample_rate), spec=spec, excitation=excitation,
                         response=response, harmonics=harmonics, harmonic_level_db=harmonic_db,
                         tail_level_db=tail_db)


def kernel_equaliser(sample_rate: float, spec: SweepSpec, n_fft: int, regularisation_db: float = -40.0,
                     ramp_octaves: float = 1.0) -> np.ndarray:
    """Spectrum (rfft grid of ``n_fft``) that flattens the sweep * inverse kernel K in the band.

    G = w·K*/(|K|² + β) + (1 - w), with K's delay to lag 0 removed and β ``regularisation_db``
    below the pass-band (Kirkeby and Nelson, "Digital filter design for inversion problems in
    sound reproduction", JAES 47(7/8), 1999; Farina, "Advancements in impulse response
    measurements by sine sweeps", AES 122nd Conv., 2007). The weight w is 0 up to ``f_start``
    and rises to 1 over the next ``ramp_octaves`` (when ``f_end`` is under Nyquist, it falls back
    to 0 over the ``ramp_octaves`` below ``f_end``), so nothing the sweep did not excite is
    boosted: there the result stays Farina's.
    """
    sweep = exponential_sweep(sample_rate, spec)
    lag0 = sweep.size - 1
    kernel = sfft.rfft(sweep, n_fft) * sfft.rfft(inverse_sweep(sample_rate, spec), n_fft)
    kernel *= np.exp(2j * np.pi * np.arange(kernel.size) * lag0 / n_fft)   # delay stays in the IR
    freqs = sfft.rfftfreq(n_fft, 1.0 / sample_rate)
    positive = np.maximum(freqs, freqs[1])                  # log2 of 0 Hz: DC is below f_start anyway
    weight = _raised_cosine(np.log2(positive / spec.f_start) / ramp_octaves)
    f_end = spec.end_frequency(sample_rate)
    if f_end < sample_rate / 2.0:
        weight *= _raised_cosine(np.log2(f_end / positive) / ramp_octaves)
    beta = 10.0 ** (regularisation_db / 10.0)
    return weight * np.conj(kernel) / (np.abs(kernel) ** 2 + beta) + (1.0 - weight)


def _raised_cosine(x: np.ndarray) -> np.ndarray:
    """0 for x <= 0, 1 for x >= 1, a half-cosine in between."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def _ratio_db(energy: float, reference: float) -> float:
    """10·log10(energy / reference): -inf for no energy, NaN without a reference."""
    if reference <= 0:
        return math.nan
    return 10.0 * math.log10(energy / reference) if energy > 0 else -math.inf


def _run(process: Processor, x: np.ndarray) -> np.ndarray:
    y = np.asarray(process(x), dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(f"the system returned shape {y.shape} for an input of shape {x.shape}")
    return y


def model_processor(model: "torch.nn.Module", block_size: int | None = None,  # noqa: F821
                    cond: "torch.Tensor | None" = None, threads: int | None = 1) -> Processor:  # noqa: F821
    """Wrap a springstudy model (B,1,T) -> (B,1,T) as a numpy processor for :func:`measure_ir`.

    Runs a copy of the model in eval and inference mode, in float32. With ``block_size=None``
    the whole signal goes through one forward pass. With a ``block_size`` the signal is cut into
    blocks only through ``springstudy.streaming.Streamer``, whose block-by-block output equals
    the whole-signal pass (it carries each convolution's history and each LSTM's state); a model
    it cannot stream falls back to the whole signal. Never independent chunks (the thesis's error).
    ``threads`` sets torch's intra-op threads during a call (restored after; None: unchanged):
    batch-1 recurrent inference is sequential, and on a busy machine extra threads only contend.
    """
    import torch

    network = copy.deepcopy(model).eval()
    streamer = None
    if block_size is not None:
        if block_size < 1:
            raise ValueError("block_size must be >= 1")
        try:
            from springstudy.streaming import Streamer
            streamer = Streamer(network, cond=cond, max_block=block_size)
        except (ImportError, TypeError):
            streamer = None

    def process(x: np.ndarray) -> np.ndarray:
        signal_in = torch.from_numpy(np.asarray(x, dtype=np.float32)).reshape(1, 1, -1)
        previous = torch.get_num_threads()
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                if streamer is None:
                    y = network(signal_in) if cond is None else network(signal_in, cond)
                else:
                    streamer.reset()
                    y = torch.cat([streamer.process(signal_in[..., i:i + block_size])
                                   for i in range(0, signal_in.shape[-1], block_size)], dim=-1)
        finally:
            torch.set_num_threads(previous)
        return y.reshape(-1).double().numpy()

    return process
