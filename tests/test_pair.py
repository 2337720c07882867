"""Bring your own device: the re-amping signal recorded through the tank with a known latency and
gain, read back as the dry/wet pair layout, and a smoke model trained on it end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from springstudy.data import DatasetError, open_dataset
from springstudy.data.pair import (DRY_FILE, LOOPBACK_FILE, WET_FILE, find_latency, read_pair, reamp_signal,
                                   write_reamp_signal)
from springstudy.data.prepare import prepare
from springstudy.data.tank import SpringTank, TankParams

RATE = 16_000
DELAY = 1_234                  # samples the "interface" adds
GAIN = 0.5                     # and its gain


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """The re-amping signal played through the tank, delayed by DELAY and scaled by GAIN, as a
    recording would come back (longer than the signal)."""
    folder = tmp_path_factory.mktemp("pair")
    signal = write_reamp_signal(folder / DRY_FILE, RATE, seed=3)
    dry, _ = sf.read(folder / DRY_FILE, dtype="float64")
    tank = SpringTank(TankParams(sample_rate=RATE))
    wet = GAIN * tank.process(dry)
    recording = np.concatenate([np.zeros(DELAY), wet, np.zeros(RATE // 2)])
    sf.write(folder / WET_FILE, recording, RATE, subtype="FLOAT")
    # the same interface with a cable in place of the tank: the latency alone
    sf.write(folder / LOOPBACK_FILE, np.concatenate([np.zeros(DELAY), 0.9 * dry, np.zeros(RATE // 2)]), RATE,
             subtype="FLOAT")
    assert signal.samples.size == dry.size
    return folder, dry, wet


def test_reamp_signal_has_every_part_and_is_seeded() -> None:
    a, b = reamp_signal(RATE, seed=1), reamp_signal(RATE, seed=1)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, reamp_signal(RATE, seed=2).samples)
    assert {"sync", "sweeps", "noise", "impulses", "notes", "sync_end"} <= set(a.sections)
    assert np.max(np.abs(a.samples)) == pytest.approx(10 ** (-1 / 20))


def test_the_pair_gives_back_the_known_latency_and_gain(recorded: tuple[Path, np.ndarray, np.ndarray]) -> None:
    folder, dry, wet = recorded
    pair = read_pair(folder, RATE)
    assert pair.latency == DELAY
    assert pair.dry.size == pair.wet.size == dry.size
    np.testing.assert_allclose(pair.wet, wet, atol=1e-6)        # float WAV round trip
    expected_db = 20 * np.log10(np.sqrt(np.mean(wet ** 2)) / np.sqrt(np.mean(dry ** 2)))
    assert pair.gain_db == pytest.approx(expected_db, abs=0.01)
    # the gain the interface added is found too: the tank's own gain at unity is 6.02 dB higher
    unity = 20 * np.log10(np.sqrt(np.mean((wet / GAIN) ** 2)) / np.sqrt(np.mean(dry ** 2)))
    assert unity - pair.gain_db == pytest.approx(20 * np.log10(1 / GAIN), abs=0.01)


def test_without_a_loopback_the_devices_onset_delay_is_taken_out_too(recorded, tmp_path: Path) -> None:
    """No loopback.wav: the delay found is the interface's plus the tank's own delay of the sync
    chirp (its dispersive springs' transit time), which the tank alone shows without an interface."""
    folder, dry, wet = recorded
    for name in (DRY_FILE, WET_FILE):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    pair = read_pair(tmp_path, RATE)
    assert not pair.loopback
    own = find_latency(dry, np.concatenate([wet, np.zeros(RATE)]), RATE)      # the tank, no interface
    assert own > RATE // 100                                                   # tens of ms
    assert pair.latency == DELAY + own


def test_latency_is_found_at_any_delay() -> None:
    dry = reamp_signal(RATE, seed=0).samples[: 3 * RATE]
    for delay in (0, 1, 480, 7_999):
        wet = np.concatenate([np.zeros(delay), 0.3 * dry])
        assert find_latency(dry, wet, RATE) == delay


def test_the_pipeline_trains_a_smoke_model_on_the_pair_layout(recorded, tmp_path: Path) -> None:
    from springstudy.train import TrainConfig, train

    folder, _, _ = recorded
    out = prepare("springset", "smoke", tmp_path / "springset", {"data": {"sources": {"springset": str(folder)}}},
                  progress=False)
    found = json.loads((out / "pair.json").read_text())
    assert found["latency_samples"] == DELAY and found["items"] >= 4
    pairs = open_dataset(out, verify=True)
    assert len(pairs) == found["items"]
    result = train(TrainConfig(model="GCN-250", out=str(tmp_path / "run"), data=str(out), split_method="original",
                               max_steps=4, batch_size=2, crop_seconds=0.25, val_every=2, val_items=2,
                               model_overrides={"channels": 4}, tensorboard=False, seed=5, threads=1),
                   progress=False)
    assert result.summary["steps"] == 4 and np.isfinite(result.summary["best_val_loss"])


@pytest.mark.parametrize("problem, match", [
    ("no_wet", "missing"), ("rates", "at 16000 Hz but"), ("clipped", "clipped"), ("nan", "NaN"),
    ("silent", "below"), ("stereo", "channels"), ("short", "shorter than"), ("corrupt", "not a readable"),
    ("slot_rate", "this slot's layout is at 48000 Hz")])
def test_every_problem_with_a_pair_is_a_clear_error(recorded, tmp_path: Path, problem: str, match: str) -> None:
    folder, dry, wet = recorded
    (tmp_path / DRY_FILE).write_bytes((folder / DRY_FILE).read_bytes())
    recording = np.concatenate([np.zeros(DELAY), wet, np.zeros(RATE // 2)])
    rate, expected = RATE, RATE
    if problem == "rates":
        rate = 22_050
    elif problem == "clipped":
        recording = recording * 100
    elif problem == "nan":
        recording[500] = np.nan
    elif problem == "silent":
        recording = recording * 1e-5
    elif problem == "stereo":
        recording = np.stack([recording, recording], axis=1)
    elif problem == "short":
        recording = recording[: recording.size // 2]
    elif problem == "slot_rate":
        expected = 48_000
    if problem == "corrupt":
        (tmp_path / WET_FILE).write_bytes(b"RIFF\x00\x00not a wav")
    elif problem != "no_wet":
        sf.write(tmp_path / WET_FILE, recording, rate, subtype="FLOAT")
    with pytest.raises(DatasetError, match=match) as info:
        read_pair(tmp_path, expected)
    assert str(tmp_path) in str(info.value)
