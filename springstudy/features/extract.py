"""Framing and the nine Essentia descriptors of one signal (see the package doc for what each returns)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from springstudy.features.params import (FeatureError, FeatureParams, REPLAYGAIN_RATES,
                                         REPLAYGAIN_WINDOW_SECONDS)


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
