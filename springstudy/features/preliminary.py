"""The preliminary analysis of one signal: loudness (LUFS), pitch (pYIN) and noise level."""

from __future__ import annotations

import math

import numpy as np

from springstudy.features.extract import _resample
from springstudy.features.params import FeatureParams


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
