"""Descriptors of thesis §3.2.3 against closed forms, reference implementations and the
synthetic tank's own note list."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from springstudy.features import (
    DESCRIPTORS,
    ESSENTIA_COLUMNS,
    KEY_COLUMNS,
    LEQ_SILENCE_DB,
    PRELIMINARY_COLUMNS,
    SIDES,
    THESIS_CLAIMS,
    EssentiaDescriptors,
    FeatureError,
    FeatureParams,
    bass_share_from_table,
    check_thesis_claims,
    descriptor_summary,
    descriptor_table,
    dry_wet_reading,
    essentia_descriptors,
    estimate_bass_share,
    frames,
    lufs,
    noise_level,
    preliminary_descriptors,
    preliminary_path,
    replaygain_rate,
    true_bass_share,
    write_descriptor_table,
)

#: Euler-Mascheroni constant (white-noise spectral flatness, below).
EULER_GAMMA = 0.5772156649015329


def sine(freq: float, sample_rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def cents(a: float, b: float) -> float:
    return 1200.0 * math.log2(a / b)


# --- closed-form signals ---------------------------------------------------------------------
@pytest.mark.parametrize("rate", [16_000, 48_000])
@pytest.mark.parametrize("freq", [55.0, 220.0, 1000.0])
def test_pitch_yin_finds_a_sines_frequency_with_high_confidence(rate: int, freq: float) -> None:
    row = essentia_descriptors(sine(freq, rate), rate)
    assert abs(cents(row["pitch_yin_f0_median"], freq)) < 15       # YIN at 8 kHz: a few cents off
    assert abs(cents(row["pitch_yin_f0_mean"], freq)) < 15
    assert row["pitch_yin_confidence_mean"] > 0.99
    assert row["pitch_yin_voiced_share"] == 1.0


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_zero_crossing_rate_of_a_sine_is_two_f_over_fs(rate: int) -> None:
    freq = 440.0
    extractor = EssentiaDescriptors(rate)
    zcr = extractor.frame_values(sine(freq, rate))["zero_crossing_rate"]
    # Per frame the count of crossings is off by at most one.
    assert np.all(np.abs(zcr - 2 * freq / rate) <= 1.0 / extractor.frame_size + 1e-9)
    row = essentia_descriptors(sine(freq, rate), rate)
    assert row["zero_crossing_rate_mean"] == pytest.approx(2 * freq / rate, rel=0.01)


def test_flatness_db_is_essentias_tonality_coefficient() -> None:
    """Essentia's FlatnessDB is min(10 log10(gm/am) / -60, 1): noise low, a tone high.

    For white noise the magnitude spectrum is Rayleigh distributed, whose geometric/arithmetic
    mean ratio is sqrt(4 e^-gamma / pi), so FlatnessDB = 10 log10(that) / -60 = 0.0122.
    """
    rate = 16_000
    noise = 0.1 * np.random.default_rng(0).standard_normal(4 * rate)
    noise_row = essentia_descriptors(noise, rate)
    sine_row = essentia_descriptors(sine(440.0, rate, 4.0), rate)
    expected = 10 * math.log10(math.sqrt(4 * math.exp(-EULER_GAMMA) / math.pi)) / -60
    assert noise_row["flatness_db_mean"] == pytest.approx(expected, abs=0.002)
    assert sine_row["flatness_db_mean"] > 0.5 > 0.05 > noise_row["flatness_db_mean"]
    # The plain spectral flatness gm/am (numpy, same window and spectrum) orders them the other
    # way round: white noise is the flatter spectrum, as the thesis says of "flatness".
    extractor = EssentiaDescriptors(rate)

    def flatness(x: np.ndarray) -> float:
        spectra = [np.abs(np.fft.rfft(f * np.hanning(len(f) + 1)[:-1])) + 1e-20
                   for f in frames(x, extractor.frame_size, extractor.hop_size)]
        return float(np.mean([np.exp(np.mean(np.log(s))) / np.mean(s) for s in spectra]))

    assert flatness(noise) > 0.8 > 0.1 > flatness(sine(440.0, rate, 4.0))


def test_level_and_brightness_descriptors_match_closed_forms() -> None:
    rate, amplitude = 16_000, 0.5
    low, high = sine(200.0, rate, amplitude=amplitude), sine(2000.0, rate, amplitude=amplitude)
    row_low, row_high = essentia_descriptors(low, rate), essentia_descriptors(high, rate)
    # Leq = 10 log10(mean x^2) = 10 log10(A^2 / 2).
    assert row_low["leq"] == pytest.approx(10 * math.log10(amplitude ** 2 / 2), abs=0.01)
    # SpectralCentroidTime = ||diff x|| / ||x|| * fs / 2pi = fs/pi * sin(pi f / fs) for a sine.
    for freq, row in ((200.0, row_low), (2000.0, row_high)):
        expected = rate / math.pi * math.sin(math.pi * freq / rate)
        assert row["spectral_centroid_time_mean"] == pytest.approx(expected, rel=0.005)
    # Loudness of a frame = (sum x^2)^0.67 = (N A^2 / 2)^0.67.
    n = FeatureParams().frame_size(rate)
    assert row_low["loudness_mean"] == pytest.approx((n * amplitude ** 2 / 2) ** 0.67, rel=0.01)
    # HFC (Masri) = sum f_k |X_k|^2: for a sine, proportional to its frequency.
    assert row_high["hfc_mean"] / row_low["hfc_mean"] == pytest.approx(10.0, rel=0.02)


def test_replay_gain_tracks_level_and_handles_every_rate() -> None:
    rate = 16_000
    quiet = essentia_descriptors(sine(440.0, rate, 2.0, 0.1), rate)
    loud = essentia_descriptors(sine(440.0, rate, 2.0, 0.2), rate)
    assert quiet["replay_gain"] - loud["replay_gain"] == pytest.approx(20 * math.log10(2), abs=0.05)
    assert [replaygain_rate(r) for r in (8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000)] == \
        [8_000, 16_000, 16_000, 32_000, 44_100, 48_000, 48_000]
    # 22.05 kHz is not an Essentia ReplayGain rate: resampled to 32 kHz, it agrees with 44.1 kHz.
    at_22k = essentia_descriptors(sine(440.0, 22_050, 2.0), 22_050)["replay_gain"]
    at_44k = essentia_descriptors(sine(440.0, 44_100, 2.0), 44_100)["replay_gain"]
    assert at_22k == pytest.approx(at_44k, abs=0.5)


def test_silence_gets_documented_defaults() -> None:
    rate = 16_000
    row = essentia_descriptors(np.zeros(2 * rate), rate)
    assert row["leq"] == LEQ_SILENCE_DB
    assert row["replay_gain"] == pytest.approx(68.5, abs=0.1)     # reference level - (-100 dB)
    for column, value in (("loudness_mean", 0.0), ("flatness_db_mean", 1.0), ("hfc_mean", 0.0),
                          ("spectral_centroid_time_mean", 0.0), ("zero_crossing_rate_mean", 0.0),
                          ("pitch_yin_confidence_mean", 0.0), ("pitch_yin_voiced_share", 0.0)):
        assert row[column] == value, column
    assert math.isnan(row["pitch_yin_f0_mean"]) and math.isnan(row["pitch_yin_f0_median"])
    # Shorter than one frame and than ReplayGain's 50 ms window: padded, NaN gain, no exception.
    short = essentia_descriptors(np.zeros(100), rate)
    assert math.isnan(short["replay_gain"]) and short["leq"] == LEQ_SILENCE_DB
    with pytest.raises(FeatureError, match="non-empty"):
        essentia_descriptors(np.zeros(0), rate)


def test_frame_sizes_scale_with_the_sample_rate() -> None:
    params = FeatureParams()
    assert (params.frame_size(16_000), params.hop_size(16_000)) == (1024, 512)
    assert (params.frame_size(48_000), params.hop_size(48_000)) == (3072, 1536)
    assert params.frame_size(params.pitch_sample_rate) == 512
    assert frames(np.ones(1000), 512, 256).shape == (2, 512)
    assert frames(np.ones(10), 512, 256).shape == (1, 512)
    with pytest.raises(FeatureError, match="two periods"):
        FeatureParams(pitch_min_hz=20.0)
    with pytest.raises(FeatureError, match="hop_seconds"):
        FeatureParams(hop_seconds=0.1)
    with pytest.raises(FeatureError, match="unknown feature parameter"):
        FeatureParams.from_dict({"frame_size": 1024})


# --- the preliminary analysis ----------------------------------------------------------------
def test_preliminary_loudness_pitch_and_noise() -> None:
    rate = 48_000
    # ITU-R BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LUFS.
    assert lufs(sine(997.0, rate, 3.0, 1.0), rate) == pytest.approx(-3.01, abs=0.1)
    assert math.isnan(lufs(np.zeros(rate), rate)) and math.isnan(lufs(np.zeros(100), rate))
    # A note decaying into a -60 dBFS white-noise floor: the floor is found, SNR is consistent.
    t = np.arange(2 * rate) / rate
    noise = 1e-3 * np.random.default_rng(1).standard_normal(t.size)
    note = 0.5 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-t / 0.1) + noise
    level = noise_level(note, rate)
    assert level["noise_floor_dbfs"] == pytest.approx(-60.0, abs=1.0)
    p_x, p_n = np.mean((note - note.mean()) ** 2), 10 ** (level["noise_floor_dbfs"] / 10)
    assert level["snr_db"] == pytest.approx(10 * math.log10((p_x - p_n) / p_n), abs=1e-6)
    row = preliminary_descriptors(sine(220.0, 16_000, 1.0), 16_000)
    assert tuple(row) == PRELIMINARY_COLUMNS
    assert abs(cents(row["pyin_f0_median"], 220.0)) < 30        # pYIN bins are 25 cents wide
    assert row["pyin_voiced_share"] > 0.9


# --- whole datasets --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_springset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from springstudy.data.synth import synthesize

    return synthesize("springset", "smoke", tmp_path_factory.mktemp("features") / "springset", progress=False)


def test_descriptor_table_rows_keys_and_worker_independence(smoke_springset: Path, tmp_path: Path) -> None:
    from springstudy.data import make_splits, open_dataset, write_split_file

    pairs = open_dataset(smoke_springset)
    split_file = write_split_file(tmp_path / "splits.json", make_splits(pairs, seed=3))
    serial = descriptor_table(smoke_springset, workers=1, split_file=split_file, progress=False)
    parallel = descriptor_table(smoke_springset, workers=2, split_file=split_file, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)
    assert tuple(serial.columns) == KEY_COLUMNS + ESSENTIA_COLUMNS
    assert len(serial) == 2 * len(pairs)
    assert not serial.duplicated(["dataset", "split", "item_id", "side"]).any()
    assert list(serial["side"][:2]) == list(SIDES) and set(serial["signal"]) == {"dry", "wet"}
    assert set(serial["split"]) == {"train", "validation", "test"}
    for d in DESCRIPTORS:
        for column in d.columns:
            assert serial[column].notna().all(), column
    # Without a split file the split column is empty and summaries group by subset.
    plain = descriptor_table(smoke_springset, workers=1, progress=False)
    assert plain["split"].isna().all()
    summary = descriptor_summary(plain)
    assert set(summary["group"]) == {"train", "val_test"} and set(summary["side"]) == set(SIDES)

    csv_path, json_path = write_descriptor_table(plain, tmp_path / "springset_features.csv", {"analysis": "essentia"})
    assert pd.read_csv(csv_path).shape == plain.shape
    record = json.loads(json_path.read_text())
    assert record["meta"]["analysis"] == "essentia" and len(record["rows"]) == len(plain)
    assert record["rows"][0]["split"] is None and record["rows"][0]["item_id"] == plain["item_id"][0]


def test_reading_follows_the_numbers() -> None:
    rows = []
    for i in range(4):
        rows.append({"dataset": "d", "split": None, "subset": "s", "item_id": f"d/s/{i}", "side": "x", "signal": "dry",
                     "sample_rate": 16_000, "seconds": 2.0, "spectral_centroid_time_mean": 1000.0 + i,
                     "leq": -20.0, "hfc_mean": 5.0})
        # Wet is darker on average, but item 3 is brighter wet than dry: 3 of 4 items darker.
        wet_centroid = 1300.0 if i == 3 else 800.0 + i
        rows.append({**rows[-1], "side": "y", "signal": "wet", "spectral_centroid_time_mean": wet_centroid,
                     "leq": -25.0, "hfc_mean": 6.0})
    table = pd.DataFrame(rows)
    reading = " ".join(dry_wet_reading(table))
    assert "SpectralCentroidTime (spectral_centroid_time_mean): wet lower than dry" in reading
    assert "in 75% of 4 items" in reading
    assert "HFC (hfc_mean): wet higher than dry" in reading
    claims = check_thesis_claims(table, [c for c in THESIS_CLAIMS if c.column in table])
    by_column = claims.set_index("column")["holds"]
    assert by_column["leq"] and by_column["hfc_mean"] and by_column["spectral_centroid_time_mean"]


def test_bass_share_estimator_on_known_mixtures() -> None:
    rng = np.random.default_rng(7)
    n, share = 4000, 0.3
    is_bass = rng.random(n) < share
    midi = np.where(is_bass, rng.integers(28, 56, n), rng.integers(40, 89, n)) + rng.uniform(-0.2, 0.2, n)
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    estimate = estimate_bass_share(f0, n_boot=200)
    assert estimate.share == pytest.approx(is_bass.mean(), abs=0.03)
    assert estimate.low < is_bass.mean() < estimate.high
    assert estimate.below_guitar_share < estimate.share
    guitar_only = estimate_bass_share(f0[~is_bass], n_boot=0)
    assert guitar_only.share < 0.01
    with_gaps = estimate_bass_share(np.r_[f0[:100], np.nan, 5.0], n_boot=0)
    assert with_gaps.unassigned == 2 and with_gaps.items == 100


def test_bass_share_from_pitch_yin_matches_the_generator(tmp_path: Path) -> None:
    """Thesis §3.2.3 found ~10% bass notes from PitchYin; on the synthetic SpringSet the
    estimate must land near the generator's own share (notes.csv), and the dry f0 must be
    the generated note's pitch."""
    from springstudy.data.synth import synthesize

    data = synthesize("springset", "quick", tmp_path / "springset", progress=False)
    table = descriptor_table(data, workers=2, sides=("x",), progress=False)
    notes = pd.read_csv(data / "notes.csv").set_index("id")
    f0 = table.set_index("item_id")["pitch_yin_f0_median"]
    error = 12 * np.log2(f0 / notes.loc[f0.index, "frequency_hz"])
    assert (error.abs() < 0.5).mean() > 0.95                         # a few octave slips at most
    truth = true_bass_share(data)
    assert truth == pytest.approx(notes["is_bass"].mean())
    estimate = bass_share_from_table(table)
    assert estimate.share == pytest.approx(truth, abs=0.05)
    assert estimate.low <= truth <= estimate.high
    assert estimate.below_guitar_share <= truth


def test_command_line_writes_csv_and_json(smoke_springset: Path, tmp_path: Path) -> None:
    from springstudy.errors import UserError
    from springstudy.cli.features import add as register_features

    parser = argparse.ArgumentParser()
    register_features(parser.add_subparsers(dest="command"))
    out = tmp_path / "features" / "springset_features.csv"
    args = parser.parse_args(["features", "--data", str(smoke_springset), "--out", str(out),
                              "--workers", "1", "--quiet"])
    args.func(args)
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert len(pd.read_csv(out)) == 2 * 12
    assert preliminary_path(out).name == "springset_preliminary.csv"
    # Descriptor parameters from a params.yaml group; a misspelt key is a user error.
    (tmp_path / "params.yaml").write_text("profile: smoke\nfeatures:\n  hop_seconds: 0.064\n")
    args = parser.parse_args(["features", "--data", str(smoke_springset), "--out", str(out), "--quiet",
                              "--params", str(tmp_path / "params.yaml")])
    args.func(args)
    assert json.loads(out.with_suffix(".json").read_text())["meta"]["params"]["hop_seconds"] == 0.064
    (tmp_path / "params.yaml").write_text("profile: smoke\nfeatures:\n  hop_second: 0.064\n")
    with pytest.raises(UserError, match="features.hop_second: unknown setting"):
        args.func(args)
    bad = parser.parse_args(["features", "--data", str(tmp_path / "nowhere"), "--out", str(out), "--quiet"])
    with pytest.raises(UserError, match="no such folder"):
        bad.func(bad)
