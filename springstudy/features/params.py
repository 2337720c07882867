"""The descriptors' names, columns and parameters (:class:`FeatureParams`), and the package's error."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from springstudy.errors import SpringStudyError


#: Sides of an item in the thesis's names: x = dry input, y = wet (spring) target.
SIDES = ("x", "y")
SIDE_SIGNAL = {"x": "dry", "y": "wet"}
#: Sample rates at which Essentia's ReplayGain (its EqualLoudness filter) is defined.
REPLAYGAIN_RATES = (8_000, 16_000, 32_000, 44_100, 48_000)
#: Length of ReplayGain's RMS window (ReplayGain 1.0 specification): shorter input raises.
REPLAYGAIN_WINDOW_SECONDS = 0.05
#: Leq of digital silence in Essentia 2.1b6: 10·log10 of its 1e-10 power floor.
LEQ_SILENCE_DB = -100.0
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
