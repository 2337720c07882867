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

from springstudy.features.params import (DESCRIPTORS, DESCRIPTOR_BY_NAME, Descriptor,
                                         ESSENTIA_COLUMNS, FEATURES_DIR, FeatureError,
                                         FeatureParams, KEY_COLUMNS, LEQ_SILENCE_DB, PITCH_EXTRAS,
                                         PRELIMINARY_COLUMNS, REPLAYGAIN_RATES,
                                         REPLAYGAIN_WINDOW_SECONDS, SIDES, SIDE_SIGNAL)
from springstudy.features.extract import (EssentiaDescriptors, essentia_descriptors, frames,
                                          replaygain_rate)
from springstudy.features.preliminary import (lufs, noise_level, preliminary_descriptors,
                                              pyin_pitch)
from springstudy.features.table import (ANALYSES, CHUNKS_PER_WORKER, default_output,
                                        default_workers, descriptor_table, preliminary_path,
                                        table_meta, value_columns, write_descriptor_table)
from springstudy.features.summary import (THESIS_CLAIMS, ThesisClaim, check_thesis_claims,
                                          descriptor_summary, dry_wet_comparison, dry_wet_reading,
                                          group_column, plot_descriptors, summary_markdown,
                                          summary_pivot, write_summary)
from springstudy.features.bass import (BassShare, bass_share_from_table, estimate_bass_share,
                                       true_bass_share)

__all__ = ["ANALYSES", "BassShare", "CHUNKS_PER_WORKER", "DESCRIPTORS", "DESCRIPTOR_BY_NAME",
    "Descriptor", "ESSENTIA_COLUMNS", "EssentiaDescriptors", "FEATURES_DIR", "FeatureError",
    "FeatureParams", "KEY_COLUMNS", "LEQ_SILENCE_DB", "PITCH_EXTRAS", "PRELIMINARY_COLUMNS",
    "REPLAYGAIN_RATES", "REPLAYGAIN_WINDOW_SECONDS", "SIDES", "SIDE_SIGNAL", "THESIS_CLAIMS",
    "ThesisClaim", "bass_share_from_table", "check_thesis_claims", "default_output",
    "default_workers", "descriptor_summary", "descriptor_table", "dry_wet_comparison",
    "dry_wet_reading", "essentia_descriptors", "estimate_bass_share", "frames", "group_column",
    "lufs", "noise_level", "plot_descriptors", "preliminary_descriptors", "preliminary_path",
    "pyin_pitch", "replaygain_rate", "summary_markdown", "summary_pivot", "table_meta",
    "true_bass_share", "value_columns", "write_descriptor_table", "write_summary"]
