"""Dataset descriptors: the nine Essentia algorithms of thesis §3.2.3 (Figures 12-13) and the
librosa/pyloudnorm preliminary analysis (loudness, pitch, noise level) that precedes them.

Every descriptor is computed on the raw files, before any training transform, once per item
and side (``x`` = dry input, ``y`` = wet target, the thesis's names), and aggregated per file:

============================  =========  ==============================================  ======
column stem                   scope      Essentia algorithm (essentia.upf.edu/reference)  unit
============================  =========  ==============================================  ======
``replay_gain``               file       ``ReplayGain``: gain to the ReplayGain 1.0       dB
                                         reference level (equal-loudness filtered,
                                         95th percentile of 50 ms RMS)
``leq``                       file       ``Leq``: 10·log10(mean x²), raw-signal version    dB
``loudness``                  frame      ``Loudness``: (Σ x²)^0.67 (Stevens' power law)    -
``flatness_db``               frame      ``FlatnessDB`` of the magnitude spectrum          0..1
``hfc``                       frame      ``HFC`` (Masri): Σ f_k·|X_k|²                     Hz·|X|²
``spectral_centroid_time``    frame      ``SpectralCentroidTime``: ‖Δx‖/‖x‖·fs/2π         Hz
``zero_crossing_rate``        frame      ``ZeroCrossingRate``: sign changes per sample      1
``pitch_yin_f0``              frame      ``PitchYin`` f0 (de Cheveigné & Kawahara 2002)    Hz
``pitch_yin_confidence``      frame      ``PitchYin`` confidence                           0..1
============================  =========  ==============================================  ======

File-scope descriptors give one column (``leq``); frame-scope ones give ``<stem>_mean`` and
``<stem>_std`` over the frames of the file. Frames are ``frame_seconds`` long every
``hop_seconds`` (PitchYin: every ``pitch_hop_seconds``), so the sizes in samples scale with the
sample rate; the last partial frame is dropped and a file shorter than one frame is zero-padded
to one frame. All parameters live in :class:`FeatureParams`.

What the algorithms really return (checked against Essentia 2.1b6, see tests/test_features.py),
where it differs from the thesis's summary or Essentia's own documentation:

* ``FlatnessDB`` is **not** the spectral flatness in dB: Essentia returns
  ``min(10·log10(gm/am) / -60, 1)`` of the magnitude spectrum, a *tonality* coefficient (after
  Johnston's spectral flatness measure, IEEE JSAC 6(2), 1988): white noise gives about 0.012
  (Rayleigh-distributed magnitudes have gm/am = sqrt(4·e^-γ/π) = 0.846, i.e. -0.73 dB), a pure
  tone 1. The thesis (§3.2.3) describes it the other way round ("white noise ... 1.0, a pure
  tone ... 0.0"); read larger FlatnessDB as *less* noise-like.
* ``Leq`` of digital silence is -100 dB (Essentia's power floor 1e-10), not the -90 dB its
  documentation states; ``ReplayGain`` of silence is the reference level minus that floor,
  about +68.5 dB. Both are finite: silence never raises.
* ``ReplayGain`` needs at least one 50 ms RMS window (Essentia's message says "0.05ms") and its
  equal-loudness filter exists only at 8, 16, 32, 44.1 and 48 kHz: SpringSet (16 kHz) and
  EGFxSet (48 kHz) are used as they are; any other rate is resampled (soxr) to the nearest
  supported rate at or above it (or 48 kHz) with scipy's polyphase ``resample_poly``. A file
  shorter than the window gets NaN.
* ``Loudness`` and ``HFC`` are sums over a frame, so their scale grows with the frame length in
  samples (3x longer frames at 48 kHz than at 16 kHz): compare dry with wet inside one dataset,
  not values across datasets.
* ``PitchYin``'s cost grows with the square of the frame length in samples, and guitar and bass
  fundamentals lie below 1.4 kHz, so f0 is estimated on a copy resampled to
  ``pitch_sample_rate`` (8 kHz by default, identical for both datasets). ``pitch_yin_f0`` is
  aggregated over *voiced* frames (confidence >= ``voiced_confidence``) only, since Essentia's
  f0 is undefined where the confidence is 0; the confidence is aggregated over all frames.
  ``pitch_yin_f0_median`` (the note's pitch) and ``pitch_yin_voiced_share`` are added.
* Digitally silent frames give Loudness 0, FlatnessDB 1, HFC 0, SpectralCentroidTime 0,
  ZeroCrossingRate 0 and PitchYin confidence 0; they are kept in the per-file statistics
  (the onset gap and the fade-out are part of the recordings).

The preliminary analysis (thesis §3.2.3, first paragraph, done there with librosa and
torchaudio) adds per item and side: integrated loudness in LUFS (ITU-R BS.1770-4 via
pyloudnorm), pYIN pitch (Mauch and Dixon, ICASSP 2014, via ``librosa.pyin``) and the noise level
implied by the study's SNR definition (:func:`springstudy.data.overview.snr_db`).

The bass share of thesis §3.2.3 ("approximately 10% of bass notes") is estimated from the dry
PitchYin f0 by :func:`estimate_bass_share`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from springstudy.errors import SpringStudyError

if TYPE_CHECKING:  # heavy imports stay inside the functions, so the CLI starts fast
    import pandas as pd
    from matplotlib.figure import Figure

#: Sides of an item in the thesis's names: x = dry input, y = wet (spring) target.
SIDES = ("x", "y")
SIDE_SIGNAL = {"x": "dry", "y": "wet"}
#: Sample rates at which Essentia's ReplayGain (its EqualLoudness filter) is defined.
REPLAYGAIN_RATES = (8_000, 16_000, 32_000, 44_100, 48_000)
#: Length of ReplayGain's RMS window (ReplayGain 1.0 specification): shorter input raises.
REPLAYGAIN_WINDOW_SECONDS = 0.05
#: Leq of digital silence in Essentia 2.1b6: 10·log10 of its 1e-10 power floor.
LEQ_SILENCE_DB = -100.0
#: Default chunks per worker process: enough for load balancing and a moving progress bar,
#: few enough that the per-task overhead (opening the dataset once per worker) is negligible.
CHUNKS_PER_WORKER = 8
#: Default folder of the descriptor tables, relative to the project root.
FEATURES_DIR = "data/features"


@dataclass(frozen=True)
class Descriptor:
    """One of the nine Essentia descriptors of thesis §3.2.3."""

    name: str        #: column stem in the tables
    algorithm: str   #: Essentia algorithm name
    scope: str       #: "file" (one value per file) or "frame" (mean and std over frames)
    unit: str
    meaning: str     #: one line, what a larger value means

    @property
    def columns(self) -> tuple[str, ...]:
        """Table columns of this descriptor."""
        return (self.name,) if self.scope == "file" else (f"{self.name}_mean", f"{self.name}_std")

    @property
    def label(self) -> str:
        """Name in figures and text: the algorithm, plus the output for PitchYin's two."""
        output = {"pitch_yin_f0": " f0", "pitch_yin_confidence": " confidence"}.get(self.name, "")
        return self.algorithm + output

    @property
    def value_column(self) -> str:
        """The per-file value compared across items (the file value or the mean over frames)."""
        return self.columns[0]


#: The nine descriptors, in the thesis's order (§3.2.3).
DESCRIPTORS: tuple[Descriptor, ...] = (
    Descriptor("replay_gain", "ReplayGain", "file", "dB", "gain needed to reach the reference level: larger = quieter"),
    Descriptor("leq", "Leq", "file", "dB", "equivalent sound level: larger = louder"),
    Descriptor("loudness", "Loudness", "frame", "energy^0.67", "Stevens' loudness of a frame: larger = louder"),
    Descriptor("flatness_db", "FlatnessDB", "frame", "0..1", "tonality: 1 = pure tone (or silence), 0 = white noise"),
    Descriptor("hfc", "HFC", "frame", "Hz·|X|²",
               "energy weighted by frequency (Masri): grows with level and brightness"),
    Descriptor("spectral_centroid_time", "SpectralCentroidTime", "frame", "Hz", "brightness: larger = brighter"),
    Descriptor("zero_crossing_rate", "ZeroCrossingRate", "frame", "1/sample", "sign changes per sample"),
    Descriptor("pitch_yin_f0", "PitchYin", "frame", "Hz", "fundamental frequency over voiced frames"),
    Descriptor("pitch_yin_confidence", "PitchYin", "frame", "0..1", "periodicity: 1 = clearly pitched"),
)
DESCRIPTOR_BY_NAME = {d.name: d for d in DESCRIPTORS}
#: Extra per-file pitch columns (beside the nine descriptors' mean and std).
PITCH_EXTRAS = ("pitch_yin_f0_median", "pitch_yin_voiced_share")
#: Columns of an Essentia table after the keys.
ESSENTIA_COLUMNS = tuple(c for d in DESCRIPTORS for c in d.columns) + PITCH_EXTRAS
#: Identity columns of every table, in order.
KEY_COLUMNS = ("dataset", "split", "subset", "item_id", "side", "signal", "sample_rate", "seconds")
#: Columns of the preliminary (librosa/pyloudnorm) table after the keys.
PRELIMINARY_COLUMNS = ("lufs", "pyin_f0_median", "pyin_voiced_share", "pyin_voiced_probability_mean",
                       "rms_dbfs", "noise_floor_dbfs", "snr_db")


class FeatureError(SpringStudyError, ValueError):
    """Descriptor parameters or inputs are unusable (the message says which and why)."""


@dataclass(frozen=True)
class FeatureParams:
    """Every number the descriptors depend on (params.yaml group ``features``).

    Frame sizes are given in seconds and scaled to each file's sample rate (rounded to an even
    number of samples, as Essentia's FFT needs): the defaults are 1024/512 samples at 16 kHz,
    3072/1536 at 48 kHz and, for PitchYin at 8 kHz, 512-sample frames every 512 samples.
    """

    frame_seconds: float = 0.064
    hop_seconds: float = 0.032
    window: str = "hann"                 #: Essentia Windowing type for the spectral descriptors
    hfc_type: str = "Masri"              #: the thesis's choice (Essentia's default)
    zcr_threshold: float = 0.0           #: ZeroCrossingRate threshold around zero
    pitch_sample_rate: int = 8_000       #: f0 is estimated on a copy at this rate (see module doc)
    pitch_hop_seconds: float = 0.064     #: PitchYin hop; one f0 per 64 ms is plenty for a note's pitch
    pitch_min_hz: float = 32.0           #: below E1 (41.2 Hz), the lowest bass note
    pitch_max_hz: float = 2_000.0        #: above E6 (1318.5 Hz), the highest guitar note
    pitch_tolerance: float = 0.15        #: PitchYin tolerance (Essentia's default)
    voiced_confidence: float = 0.5       #: frames at or above this PitchYin confidence are voiced
    pyin_resolution: float = 0.25        #: pYIN pitch-bin width in semitones (librosa default 0.1)

    def __post_init__(self) -> None:
        if not 0 < self.hop_seconds <= self.frame_seconds:
            raise FeatureError(f"need 0 < hop_seconds <= frame_seconds, got {self.hop_seconds} and "
                               f"{self.frame_seconds}")
        if not 0 < self.pitch_hop_seconds:
            raise FeatureError(f"pitch_hop_seconds must be positive, not {self.pitch_hop_seconds}")
        if not 0 < self.pitch_min_hz < self.pitch_max_hz <= self.pitch_sample_rate / 2:
            raise FeatureError(f"need 0 < pitch_min_hz < pitch_max_hz <= pitch_sample_rate/2, got "
                               f"{self.pitch_min_hz}, {self.pitch_max_hz}, {self.pitch_sample_rate}")
        # YIN compares a frame's first half with lagged copies: two periods of f0_min must fit.
        if self.frame_size(self.pitch_sample_rate) < 2.0 * self.pitch_sample_rate / self.pitch_min_hz:
            raise FeatureError(f"frame_seconds={self.frame_seconds} holds fewer than two periods of "
                               f"pitch_min_hz={self.pitch_min_hz} at {self.pitch_sample_rate} Hz "
                               f"(needs >= {2.0 / self.pitch_min_hz:.4f} s)")
        if not 0.0 <= self.voiced_confidence <= 1.0:
            raise FeatureError(f"voiced_confidence must lie in [0, 1], not {self.voiced_confidence}")

    def frame_size(self, sample_rate: int) -> int:
        """Frame length in samples at ``sample_rate`` (even, at least 2)."""
        return max(2, 2 * int(round(self.frame_seconds * sample_rate / 2)))

    def hop_size(self, sample_rate: int) -> int:
        """Hop in samples at ``sample_rate`` (at least 1)."""
        return max(1, int(round(self.hop_seconds * sample_rate)))

    def pitch_hop_size(self) -> int:
        """Hop of the pitch frames in samples at ``pitch_sample_rate`` (at least 1)."""
        return max(1, int(round(self.pitch_hop_seconds * self.pitch_sample_rate)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FeatureParams:
        """Build from a params.yaml group; unknown keys are an error naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FeatureError(f"unknown feature parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Framing and the Essentia descriptors
# ---------------------------------------------------------------------------------------------
def frames(x: np.ndarray, frame_size: int, hop_size: int) -> np.ndarray:
    """Frames of ``x`` as a read-only (n_frames, frame_size) float32 view.

    Frames start at sample 0 every ``hop_size`` samples; the last partial frame is dropped and
    a signal shorter than one frame is zero-padded to one frame.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise FeatureError(f"expected a non-empty 1-D signal, got shape {x.shape}")
    if x.size < frame_size:
        x = np.pad(x, (0, frame_size - x.size))
    return np.lib.stride_tricks.sliding_window_view(x, frame_size)[::hop_size]


def _essentia() -> Any:
    import essentia

    essentia.log.infoActive = False      # before importing standard: silences its import banner
    import essentia.standard as es

    return es


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited polyphase resampling (scipy ``resample_poly``, Kaiser-windowed FIR) as float32."""
    if rate_in == rate_out:
        return np.ascontiguousarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    common = math.gcd(int(rate_in), int(rate_out))
    y = resample_poly(np.asarray(x, dtype=np.float64), int(rate_out) // common, int(rate_in) // common)
    return np.ascontiguousarray(y, dtype=np.float32)


def replaygain_rate(sample_rate: int) -> int:
    """The rate ReplayGain runs at for a file at ``sample_rate``: itself when Essentia supports
    it, else the nearest supported rate at or above it (48 kHz for anything higher)."""
    if sample_rate in REPLAYGAIN_RATES:
        return sample_rate
    return next((r for r in REPLAYGAIN_RATES if r >= sample_rate), REPLAYGAIN_RATES[-1])


class EssentiaDescriptors:
    """The nine descriptors of thesis §3.2.3 for one sample rate, with configured algorithms.

    ``extractor(x)`` returns the per-file row (see the module docstring); ``extractor.frame_values(x)``
    the per-frame series behind it. Algorithms are built once and reused (building them per file
    costs more than running them).
    """

    def __init__(self, sample_rate: int, params: FeatureParams = FeatureParams()) -> None:
        es = _essentia()
        self.sample_rate = int(sample_rate)
        self.params = params
        self.frame_size = params.frame_size(self.sample_rate)
        self.hop_size = params.hop_size(self.sample_rate)
        self.pitch_frame_size = params.frame_size(params.pitch_sample_rate)
        self.pitch_hop_size = params.pitch_hop_size()
        self.replaygain_rate = replaygain_rate(self.sample_rate)
        self._replay_gain = es.ReplayGain(sampleRate=self.replaygain_rate)
        self._leq = es.Leq()
        self._loudness = es.Loudness()
        self._window = es.Windowing(type=params.window, size=self.frame_size)
        self._spectrum = es.Spectrum(size=self.frame_size)
        self._flatness_db = es.FlatnessDB()
        self._hfc = es.HFC(sampleRate=self.sample_rate, type=params.hfc_type)
        self._centroid = es.SpectralCentroidTime(sampleRate=self.sample_rate)
        self._zcr = es.ZeroCrossingRate(threshold=params.zcr_threshold)
        self._pitch_yin = es.PitchYin(frameSize=self.pitch_frame_size, sampleRate=params.pitch_sample_rate,
                                      minFrequency=params.pitch_min_hz, maxFrequency=params.pitch_max_hz,
                                      tolerance=params.pitch_tolerance, interpolate=True)

    def replay_gain(self, x: np.ndarray) -> float:
        """Essentia ReplayGain in dB (resampled to a supported rate if needed; NaN if < 50 ms)."""
        y = _resample(x, self.sample_rate, self.replaygain_rate)
        if y.size < math.ceil(REPLAYGAIN_WINDOW_SECONDS * self.replaygain_rate):
            return float("nan")
        return float(self._replay_gain(y))

    def frame_values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame series of the seven frame-scope descriptors (f0 NaN where unvoiced)."""
        spectral = frames(x, self.frame_size, self.hop_size)
        n = len(spectral)
        out = {name: np.empty(n) for name in ("loudness", "flatness_db", "hfc", "spectral_centroid_time",
                                               "zero_crossing_rate")}
        for k, frame in enumerate(spectral):
            spectrum = self._spectrum(self._window(frame))
            out["loudness"][k] = self._loudness(frame)
            out["flatness_db"][k] = self._flatness_db(spectrum)
            out["hfc"][k] = self._hfc(spectrum)
            out["spectral_centroid_time"][k] = self._centroid(frame)
            out["zero_crossing_rate"][k] = self._zcr(frame)
        pitch_frames = frames(_resample(x, self.sample_rate, self.params.pitch_sample_rate),
                              self.pitch_frame_size, self.pitch_hop_size)
        f0 = np.empty(len(pitch_frames))
        confidence = np.empty(len(pitch_frames))
        for k, frame in enumerate(pitch_frames):
            f0[k], confidence[k] = self._pitch_yin(frame)
        voiced = confidence >= self.params.voiced_confidence
        # A confidence of exactly 0 means "no pitch" even if the threshold is 0.
        voiced &= confidence > 0
        out["pitch_yin_f0"] = np.where(voiced, f0, np.nan)
        out["pitch_yin_confidence"] = confidence
        return out

    def __call__(self, x: np.ndarray) -> dict[str, float]:
        """One file's descriptors: file values, frame means and standard deviations, pitch extras."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 1 or x.size == 0:
            raise FeatureError(f"expected a non-empty 1-D signal, got shape {x.shape}")
        row: dict[str, float] = {"replay_gain": self.replay_gain(x), "leq": float(self._leq(x))}
        series = self.frame_values(x)
        for name, values in series.items():
            finite = values[np.isfinite(values)]
            row[f"{name}_mean"] = float(finite.mean()) if finite.size else float("nan")
            row[f"{name}_std"] = float(finite.std()) if finite.size else float("nan")   # over frames, ddof 0
        f0 = series["pitch_yin_f0"]
        voiced = np.isfinite(f0)
        row["pitch_yin_f0_median"] = float(np.median(f0[voiced])) if voiced.any() else float("nan")
        row["pitch_yin_voiced_share"] = float(voiced.mean())
        return row


_EXTRACTORS: dict[tuple[int, FeatureParams], EssentiaDescriptors] = {}


def essentia_descriptors(x: np.ndarray, sample_rate: int, params: FeatureParams = FeatureParams()) -> dict[str, float]:
    """The nine Essentia descriptors of one signal (thesis §3.2.3), aggregated per file.

    Returns ``replay_gain``, ``leq``, ``<stem>_mean``/``<stem>_std`` for the seven frame-scope
    descriptors and the pitch extras; see the module docstring for definitions and defaults.
    """
    key = (int(sample_rate), params)
    extractor = _EXTRACTORS.get(key)
    if extractor is None:
        extractor = _EXTRACTORS[key] = EssentiaDescriptors(sample_rate, params)
    return extractor(x)


# ---------------------------------------------------------------------------------------------
# Preliminary analysis: loudness (LUFS), pitch (pYIN), noise level
# ---------------------------------------------------------------------------------------------
def lufs(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4, K-weighted and gated; pyloudnorm).

    NaN when the signal is shorter than one 400 ms gating block or has no block above the
    -70 LUFS absolute gate (silence).
    """
    import pyloudnorm

    x = np.asarray(x, dtype=np.float64)
    meter = pyloudnorm.Meter(int(sample_rate))
    if x.size < meter.block_size * sample_rate:
        return float("nan")
    value = float(meter.integrated_loudness(x))
    return value if math.isfinite(value) else float("nan")


def pyin_pitch(x: np.ndarray, sample_rate: int, params: FeatureParams = FeatureParams()) -> dict[str, float]:
    """pYIN f0 of one signal (Mauch and Dixon 2014, ``librosa.pyin``) on the same pitch-rate
    frames as PitchYin: median f0 over voiced frames (decoded voiced *and* voicing probability
    >= ``voiced_confidence``), their share, and the mean voicing probability."""
    import librosa

    y = _resample(x, sample_rate, params.pitch_sample_rate).astype(np.float64)
    frame = params.frame_size(params.pitch_sample_rate)
    if y.size < frame:
        y = np.pad(y, (0, frame - y.size))
    f0, voiced, probability = librosa.pyin(y, fmin=params.pitch_min_hz, fmax=params.pitch_max_hz,
                                           sr=params.pitch_sample_rate, frame_length=frame,
                                           hop_length=params.pitch_hop_size(),
                                           resolution=params.pyin_resolution, center=False)
    # The HMM may decode frames of numerical silence (a decayed note) as voiced at fmax with a
    # voicing probability near 0: count a frame as voiced only if its probability is high too.
    voiced = voiced & (probability >= params.voiced_confidence) & np.isfinite(f0)
    return {"pyin_f0_median": float(np.median(f0[voiced])) if voiced.any() else float("nan"),
            "pyin_voiced_share": float(voiced.mean()),
            "pyin_voiced_probability_mean": float(np.mean(probability))}


def noise_level(x: np.ndarray, sample_rate: int, exclude_tail_seconds: float = 0.0) -> dict[str, float]:
    """RMS level, noise floor and SNR of one signal, all in dB.

    ``snr_db`` is :func:`springstudy.data.overview.snr_db` (minimum statistics, defined there
    once); ``noise_floor_dbfs`` is the noise power it implies, P_n = P_x / (1 + 10^(SNR/10)),
    with P_x the mean power of the DC-removed signal.
    """
    from springstudy.data.overview import SNR_FLOOR_POWER, snr_db

    x = np.asarray(x, dtype=np.float64)
    power = max(float(np.mean((x - x.mean()) ** 2)), SNR_FLOOR_POWER)
    snr = snr_db(x, sample_rate, exclude_tail_seconds=exclude_tail_seconds)
    noise = power / (1.0 + 10.0 ** (snr / 10.0)) if math.isfinite(snr) else float("nan")
    return {"rms_dbfs": 10.0 * math.log10(max(float(np.mean(x ** 2)), SNR_FLOOR_POWER)),
            "noise_floor_dbfs": (10.0 * math.log10(max(noise, SNR_FLOOR_POWER)) if math.isfinite(noise)
                                 else float("nan")),
            "snr_db": snr}


def preliminary_descriptors(x: np.ndarray, sample_rate: int, params: FeatureParams = FeatureParams(),
                            exclude_tail_seconds: float = 0.0) -> dict[str, float]:
    """The preliminary analysis of thesis §3.2.3 for one signal: LUFS, pYIN pitch, noise level."""
    return {"lufs": lufs(x, sample_rate), **pyin_pitch(x, sample_rate, params),
            **noise_level(x, sample_rate, exclude_tail_seconds)}


# ---------------------------------------------------------------------------------------------
# Whole datasets, in parallel
# ---------------------------------------------------------------------------------------------
ANALYSES = ("essentia", "preliminary")
_WORKER: dict[str, Any] = {}


def _init_worker(root: str, params: FeatureParams, analysis: str, sides: tuple[str, ...],
                 splits: dict[str, str]) -> None:
    from springstudy.data import open_dataset
    from springstudy.data.formats import SPRINGSET_FADE_SECONDS

    pairs = open_dataset(root)
    _WORKER.update(pairs=pairs, params=params, analysis=analysis, sides=sides, splits=splits,
                   # SpringSet's artificial 0.5 s fade stays out of the noise estimate (as in overview).
                   exclude_tail=SPRINGSET_FADE_SECONDS if pairs.layout == "springset" else 0.0)


def _rows_for(indices: Sequence[int]) -> list[dict[str, Any]]:
    pairs, params, sides = _WORKER["pairs"], _WORKER["params"], _WORKER["sides"]
    rate = pairs.sample_rate
    rows = []
    for i in indices:
        item = pairs.items[i]
        # Essentia computes in float32; the loudness and noise estimates keep the file's float64.
        dry, wet = pairs.load(i, np.float32 if _WORKER["analysis"] == "essentia" else np.float64)
        for side in sides:
            x = dry if side == "x" else wet
            if _WORKER["analysis"] == "essentia":
                values = essentia_descriptors(x, rate, params)
            else:
                values = preliminary_descriptors(x, rate, params, _WORKER["exclude_tail"])
            rows.append({"dataset": pairs.layout, "split": _WORKER["splits"].get(item.id),
                         "subset": item.subset, "item_id": item.id, "side": side, "signal": SIDE_SIGNAL[side],
                         "sample_rate": rate, "seconds": item.length / rate, "_index": i, **values})
    return rows


def _chunks(n: int, workers: int, chunks_per_worker: int) -> list[list[int]]:
    size = max(1, math.ceil(n / (workers * chunks_per_worker)))
    return [list(range(start, min(start + size, n))) for start in range(0, n, size)]


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def descriptor_table(data: str | Path, analysis: str = "essentia", params: FeatureParams = FeatureParams(),
                     workers: int | None = None, split_file: str | Path | None = None,
                     sides: Iterable[str] = SIDES, progress: bool = True,
                     chunks_per_worker: int = CHUNKS_PER_WORKER) -> pd.DataFrame:
    """One row per item and side of the dataset in ``data``, keyed by dataset, split and item id.

    ``analysis`` is ``"essentia"`` (the nine descriptors) or ``"preliminary"`` (LUFS, pYIN,
    noise). ``split_file`` (written by :func:`springstudy.data.write_split_file`) fills the
    ``split`` column, which is empty otherwise. Items are spread over ``workers`` processes in
    chunks (``workers=1`` runs in this process); rows come back in dataset order, and the values
    do not depend on the number of workers.
    """
    import multiprocessing

    import pandas as pd
    from tqdm import tqdm   # plain text bar: works in a terminal, papermill and Jupyter alike

    from springstudy.data import open_dataset, read_split_file

    if analysis not in ANALYSES:
        raise FeatureError(f"unknown analysis {analysis!r}; choose one of {', '.join(ANALYSES)}")
    sides = tuple(sides)
    if not sides or any(s not in SIDES for s in sides):
        raise FeatureError(f"sides must be a non-empty selection of {SIDES}, not {sides}")
    pairs = open_dataset(data)
    splits: dict[str, str] = {}
    if split_file is not None:
        record = read_split_file(split_file, pairs)
        splits = {item_id: name for name, ids in record["splits"].items() for item_id in ids}
    workers = max(1, min(default_workers() if workers is None else int(workers), len(pairs)))
    chunks = _chunks(len(pairs), workers, chunks_per_worker)
    init_args = (str(pairs.root), params, analysis, sides, splits)
    # Import the analysis libraries here, once: forked workers inherit them instead of each
    # paying the import.
    if analysis == "essentia":
        _essentia()
        import scipy.signal  # noqa: F401
    else:
        import pyloudnorm  # noqa: F401

        # pYIN's first call compiles numba code for seconds: do it once here, not in every worker.
        pyin_pitch(np.zeros(params.frame_size(params.pitch_sample_rate) * 2), params.pitch_sample_rate, params)
    rows: list[dict[str, Any]] = []
    with tqdm(total=len(pairs), desc=f"{pairs.layout} {analysis}", unit="item", disable=not progress) as bar:
        if workers == 1:
            _init_worker(*init_args)
            for chunk in chunks:
                rows.extend(_rows_for(chunk))
                bar.update(len(chunk))
        else:
            # fork where available: workers start in milliseconds and inherit the imports.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with multiprocessing.get_context(method).Pool(workers, _init_worker, init_args) as pool:
                for chunk_rows in pool.imap_unordered(_rows_for, chunks):
                    rows.extend(chunk_rows)
                    bar.update(len({r["_index"] for r in chunk_rows}))
    rows.sort(key=lambda r: (r["_index"], SIDES.index(r["side"])))
    table = pd.DataFrame(rows).drop(columns="_index")
    table["split"] = table["split"].astype("string")
    return table


def value_columns(table: pd.DataFrame) -> list[str]:
    """The descriptor columns of a table (everything but the keys)."""
    return [c for c in table.columns if c not in KEY_COLUMNS]


def write_descriptor_table(table: pd.DataFrame, csv_path: str | Path,
                           meta: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``table`` as CSV and, beside it with the same stem, as JSON (``meta`` + ``rows``;
    NaN becomes null). Both atomically; returns the two paths."""
    from springstudy.outputs import json_safe, write_csv_atomic, write_json_atomic

    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    write_csv_atomic(csv_path, table, float_format=None)
    records = [json_safe(row) for row in table.to_dict("records")]
    write_json_atomic(json_path, {"meta": meta or {}, "rows": records})
    return csv_path, json_path


def table_meta(data: str | Path, analysis: str, params: FeatureParams, split_file: str | Path | None) -> dict[str, Any]:
    """What a descriptor table was computed from (stored in its JSON)."""
    meta: dict[str, Any] = {"analysis": analysis, "data": str(data), "params": asdict(params),
                            "split_file": None if split_file is None else str(split_file),
                            "sides": dict(SIDE_SIGNAL), "thesis": "§3.2.3, Figures 12-13"}
    if analysis == "essentia":
        import essentia

        meta["essentia_version"] = essentia.__version__
        meta["descriptors"] = [asdict(d) for d in DESCRIPTORS]
    else:
        from importlib.metadata import version

        meta["librosa_version"] = version("librosa")
        meta["pyloudnorm_version"] = version("pyloudnorm")
    return meta


# ---------------------------------------------------------------------------------------------
# Figures 12-13: summaries, dry/wet comparison and its reading
# ---------------------------------------------------------------------------------------------
def group_column(table: pd.DataFrame) -> str:
    """``split`` when the table has splits, else ``subset`` (the thesis grouped by split)."""
    return "split" if "split" in table and table["split"].notna().any() else "subset"


def descriptor_summary(table: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Mean and standard deviation over items of every descriptor column, per group and side.

    ``by`` defaults to :func:`group_column`. Long format: group, side, column, items, mean, std
    (the thesis's Figures 12-13 show these numbers per split for x and y).
    """
    import pandas as pd

    by = by or group_column(table)
    columns = value_columns(table)
    rows = []
    for (group, side), part in table.groupby([by, "side"], sort=False):
        for column in columns:
            values = pd.to_numeric(part[column], errors="coerce").dropna()
            rows.append({"group": group, "side": side, "column": column, "items": int(values.size),
                         "mean": float(values.mean()) if values.size else float("nan"),
                         "std": float(values.std(ddof=1)) if values.size > 1 else float("nan")})
    return pd.DataFrame(rows)


def summary_pivot(summary: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``"mean ± std"`` strings, one row per descriptor column, one column per (group, side)."""
    columns = list(columns) if columns is not None else list(dict.fromkeys(summary["column"]))
    shown = summary[summary["column"].isin(columns)].copy()
    shown["cell"] = [f"{m:.4g} ± {s:.3g}" for m, s in zip(shown["mean"], shown["std"])]
    pivot = shown.pivot_table(index="column", columns=["group", "side"], values="cell", aggfunc="first", sort=False)
    return pivot.reindex([c for c in columns if c in pivot.index])


def summary_markdown(pivot: pd.DataFrame) -> str:
    """A :func:`summary_pivot` as a Markdown table (header ``group side``)."""
    head = ["descriptor", *(f"{g} {s}" for g, s in pivot.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for column, row in pivot.iterrows():
        lines.append("| " + " | ".join([str(column), *("" if not isinstance(v, str) else v for v in row)]) + " |")
    return "\n".join(lines) + "\n"


def write_summary(summary: pd.DataFrame, folder: str | Path, stem: str,
                  columns: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Write a :func:`descriptor_summary` as ``<stem>.csv`` (long) and ``<stem>.md`` (pivot), atomically."""
    from springstudy.outputs import write_bytes_atomic, write_csv_atomic

    folder = Path(folder)
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    write_csv_atomic(csv_path, summary, float_format=None)
    write_bytes_atomic(md_path, summary_markdown(summary_pivot(summary, columns)).encode())
    return csv_path, md_path


def dry_wet_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Per descriptor value column: dry mean, wet mean, wet - dry, and the share of items whose
    wet value exceeds their own dry value (a paired comparison, item by item)."""
    import pandas as pd

    dry = table[table["side"] == "x"].set_index("item_id")
    wet = table[table["side"] == "y"].set_index("item_id")
    common = dry.index.intersection(wet.index)
    rows = []
    for column in value_columns(table):
        d = pd.to_numeric(dry.loc[common, column], errors="coerce")
        w = pd.to_numeric(wet.loc[common, column], errors="coerce")
        both = d.notna() & w.notna()
        rows.append({"column": column, "items": int(both.sum()), "dry_mean": float(d[both].mean()),
                     "wet_mean": float(w[both].mean()), "wet_minus_dry": float((w[both] - d[both]).mean()),
                     "wet_above_dry_share": float((w[both] > d[both]).mean()) if both.any() else float("nan")})
    return pd.DataFrame(rows).set_index("column")


@dataclass(frozen=True)
class ThesisClaim:
    """One observation of thesis §3.2.3 about dry (x) vs wet (y), as a testable comparison."""

    text: str          #: the thesis's words
    column: str        #: value column compared
    statistic: str     #: "mean" (over items of the per-file value) or "spread" (std over items)
    expect: str        #: "wet<dry" or "wet>dry"


#: The thesis's dry/wet observations on SpringSet (Figure 12) and EGFxSet (Figure 13).
THESIS_CLAIMS: tuple[ThesisClaim, ...] = (
    ThesisClaim("wet samples are generally lower in Leq level than dry samples", "leq", "mean", "wet<dry"),
    ThesisClaim("Loudness standard deviation shows higher values for y samples", "loudness_std", "mean", "wet>dry"),
    ThesisClaim("processed sounds have lower pitches", "pitch_yin_f0_mean", "mean", "wet<dry"),
    ThesisClaim("processed sounds tend to be more clustered (pitch)", "pitch_yin_f0_mean", "spread", "wet<dry"),
    ThesisClaim("the spring acts as a low-pass filter: y samples are darker", "spectral_centroid_time_mean",
                "mean", "wet<dry"),
    ThesisClaim("wet samples have a higher HFC", "hfc_mean", "mean", "wet>dry"),
)


def check_thesis_claims(table: pd.DataFrame, claims: Sequence[ThesisClaim] = THESIS_CLAIMS) -> pd.DataFrame:
    """Does each thesis observation hold on ``table``? One row per claim with the dry and wet
    statistic (over all items), the paired share of items in the claimed direction and ``holds``."""
    import pandas as pd

    paired = dry_wet_comparison(table)
    rows = []
    for claim in claims:
        if claim.expect not in ("wet<dry", "wet>dry"):
            raise FeatureError(f"claim {claim.text!r}: expect must be 'wet<dry' or 'wet>dry'")
        values = {side: pd.to_numeric(table.loc[table["side"] == side, claim.column], errors="coerce").dropna()
                  for side in SIDES}
        stat = (lambda v: float(v.mean())) if claim.statistic == "mean" else (lambda v: float(v.std(ddof=1)))
        dry, wet = stat(values["x"]), stat(values["y"])
        holds = wet < dry if claim.expect == "wet<dry" else wet > dry
        above = paired.loc[claim.column, "wet_above_dry_share"]
        rows.append({"claim": claim.text, "column": claim.column, "statistic": claim.statistic,
                     "expect": claim.expect, "dry": dry, "wet": wet, "holds": bool(holds),
                     "items_in_direction": (1.0 - above if claim.expect == "wet<dry" else above)
                     if claim.statistic == "mean" else float("nan")})
    return pd.DataFrame(rows)


def dry_wet_reading(table: pd.DataFrame) -> list[str]:
    """Sentences on what the spring does to each descriptor, stated from the computed values.

    Each sentence is built from :func:`dry_wet_comparison`; the direction words come from the
    sign of the difference, never from expectation.
    """
    comparison = dry_wet_comparison(table)
    sentences = []
    for d in DESCRIPTORS:
        column = d.value_column
        if column not in comparison.index:
            continue
        row = comparison.loc[column]
        if not math.isfinite(row["wet_minus_dry"]):
            continue
        direction = "higher" if row["wet_minus_dry"] > 0 else "lower" if row["wet_minus_dry"] < 0 else "equal"
        share = row["wet_above_dry_share"] if direction == "higher" else 1.0 - row["wet_above_dry_share"]
        sentences.append(f"{d.label} ({column}): wet {direction} than dry on average "
                         f"({row['dry_mean']:.4g} -> {row['wet_mean']:.4g} {d.unit}), "
                         f"in {share:.0%} of {int(row['items'])} items.")
    return sentences


def plot_descriptors(table: pd.DataFrame, by: str | None = None, title: str | None = None,
                     statistic: str = "value") -> Figure:
    """Figure 12/13 analogue: one panel per descriptor, bars per group, dry (x) beside wet (y).

    ``statistic="value"`` plots each file's value (file descriptors) or frame mean; ``"std"``
    plots the within-file standard deviation of the frame descriptors. Bar = mean over items,
    whisker = standard deviation over items.
    """
    import matplotlib.pyplot as plt

    by = by or group_column(table)
    summary = descriptor_summary(table, by)
    if statistic == "value":
        panels = [(d, d.value_column) for d in DESCRIPTORS]
    elif statistic == "std":
        panels = [(d, f"{d.name}_std") for d in DESCRIPTORS if d.scope == "frame"]
    else:
        raise FeatureError(f"statistic must be 'value' or 'std', not {statistic!r}")
    groups = list(dict.fromkeys(summary["group"]))
    n_cols = 3
    n_rows = math.ceil(len(panels) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 2.8 * n_rows), squeeze=False)
    width = 0.38
    colors = {"x": "tab:blue", "y": "tab:orange"}
    for ax, (d, column) in zip(axes.flat, panels):
        for k, side in enumerate(SIDES):
            part = summary[(summary["column"] == column) & (summary["side"] == side)].set_index("group")
            part = part.reindex(groups)
            positions = np.arange(len(groups)) + (k - 0.5) * width
            ax.bar(positions, part["mean"], width, yerr=part["std"].fillna(0.0), capsize=2,
                   color=colors[side], label=f"{side} ({SIDE_SIGNAL[side]})")
        ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups], rotation=30, ha="right", fontsize=8)
        ax.set_title(d.label + (" (std in file)" if statistic == "std" else ""), fontsize=9)
        ax.set_ylabel(d.unit, fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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


# ---------------------------------------------------------------------------------------------
# Output paths (the command line is springstudy.cli.features)
# ---------------------------------------------------------------------------------------------
def default_output(layout: str, analysis: str = "essentia") -> Path:
    """``data/features/<dataset>_features.csv`` (or ``_preliminary.csv``) under the project root."""
    from springstudy.config import project_root

    suffix = "features" if analysis == "essentia" else "preliminary"
    return project_root() / FEATURES_DIR / f"{layout}_{suffix}.csv"


def preliminary_path(features_csv: str | Path) -> Path:
    """Where the preliminary table goes beside a descriptor table: ``x_features.csv`` ->
    ``x_preliminary.csv`` (other names get ``_preliminary`` appended to the stem)."""
    path = Path(features_csv)
    stem = path.stem[: -len("_features")] if path.stem.endswith("_features") else path.stem
    return path.with_name(f"{stem}_preliminary{path.suffix or '.csv'}")


__all__ = [
    "BassShare", "DESCRIPTORS", "Descriptor", "EssentiaDescriptors", "FeatureError", "FeatureParams",
    "SIDES", "THESIS_CLAIMS", "ThesisClaim", "bass_share_from_table", "check_thesis_claims",
    "descriptor_summary", "descriptor_table", "dry_wet_comparison", "dry_wet_reading",
    "essentia_descriptors", "estimate_bass_share", "frames", "lufs", "noise_level", "plot_descriptors",
    "preliminary_descriptors", "pyin_pitch", "replaygain_rate", "summary_markdown",
    "summary_pivot", "true_bass_share", "write_descriptor_table", "write_summary",
]
