"""The synthetic dataset on disk: exact real-format layout, determinism, metadata honesty."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from springstudy.cli.main import main
from springstudy.data import formats, synth
from springstudy.data.notes import BASS_RANGE, GUITAR_RANGE, NoteSpec, random_notes, render_note
from springstudy.data.tank import SpringTank, TankParams

TANK = TankParams(rt60=1.2)   # short IRs keep the tests quick


@pytest.fixture(scope="module")
def springset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.synthesize("springset", "smoke", tmp_path_factory.mktemp("ss") / "springset",
                            seed=7, tank=TANK, progress=False)


@pytest.fixture(scope="module")
def egfxset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.synthesize("egfxset", "smoke", tmp_path_factory.mktemp("eg") / "egfxset",
                            seed=7, tank=TANK, progress=False)


def test_springset_layout(springset_dir: Path) -> None:
    sizes = synth.PRESETS["springset"]["smoke"]
    expected = {("dry_train.h5", "Xtrain"): sizes["train"], ("wet_train.h5", "Ytrain_0"): sizes["train"],
                ("dry_val_test.h5", "Xvalidation"): sizes["val_test"],
                ("wet_val_test.h5", "Yvalidation_0"): sizes["val_test"]}
    for (name, key), n in expected.items():
        with h5py.File(springset_dir / name, "r") as handle:
            assert list(handle.keys()) == [key]
            data = handle[key]
            assert data.shape == (n, 32000, 1)
            assert data.dtype == np.float64
            assert np.all(np.isfinite(data[:]))
    assert sorted(p.name for p in springset_dir.iterdir()) == sorted(
        ["dry_train.h5", "wet_train.h5", "dry_val_test.h5", "wet_val_test.h5", "notes.csv", "tank.json", "tank_ir.wav"])


def test_springset_fade_out_and_levels(springset_dir: Path) -> None:
    with h5py.File(springset_dir / "dry_train.h5", "r") as dry, h5py.File(springset_dir / "wet_train.h5", "r") as wet:
        x, y = dry["Xtrain"][:, :, 0], wet["Ytrain_0"][:, :, 0]
    # The last 0.5 s fades to silence on both sides; the wet side is a real reverb (nonzero).
    assert np.max(np.abs(x[:, -1])) < 1e-6 and np.max(np.abs(y[:, -1])) < 1e-6
    # As in the real SpringSet, every dry and every wet item peaks at exactly 1, separately.
    assert np.allclose(np.max(np.abs(x), axis=1), 1.0, atol=1e-12)
    assert np.allclose(np.max(np.abs(y), axis=1), 1.0, atol=1e-12)


def test_springset_gains_recover_the_tank(tmp_path: Path) -> None:
    """notes.csv's gains undo the peak normalisation: stored/gain is the tank's true input and
    output, noise floor included (each item's noise seed is the dataset seed + its index)."""
    tank = TankParams.preset("realistic", rt60=1.2)
    folder = synth.synthesize("springset", "smoke", tmp_path / "ss", seed=11, tank=tank, progress=False)
    notes = pd.read_csv(folder / "notes.csv")
    spring = SpringTank(TankParams.from_dict(json.loads((folder / "tank.json").read_text())["params"]))
    with h5py.File(folder / "dry_train.h5", "r") as dry, h5py.File(folder / "wet_train.h5", "r") as wet:
        x, y = dry["Xtrain"][:, :, 0], wet["Ytrain_0"][:, :, 0]
    body = slice(0, 32000 - 8000)        # before the 0.5 s fade-out
    for i in range(3):
        row = notes.iloc[i]
        assert row["dry_gain"] > 0 and row["wet_gain"] > 0
        rendered = render_note(NoteSpec(**{k: row[k] for k in NoteSpec.__dataclass_fields__}), 16000, 32000, 0.5)
        assert np.allclose(x[i] / row["dry_gain"], rendered, atol=1e-12)
        expected = spring.process(rendered, noise_seed=11 + i)
        # the stored wet lies on synth.GRID (2^-23): within a step of the tank's output (half for the rounding, the rest the gains' 9 digits)
        assert np.allclose(y[i, body] / row["wet_gain"], expected[body], rtol=0, atol=synth.GRID / row["wet_gain"])
        assert np.allclose(y[i], synth.on_grid(y[i]), rtol=0, atol=0)
    # The gains differ per item: separate normalisation does not keep the device's gain.
    ratio = notes["wet_gain"] / notes["dry_gain"]
    assert ratio.max() / ratio.min() > 1.2
    levels = json.loads((folder / "tank.json").read_text())["levels"]
    assert levels["noise_rms_dbfs"] == pytest.approx(10 * np.log10(10 ** -10 + 10 ** -9.5), abs=0.5)
    assert 0.02 < levels["nonlinear_share"] < 0.6


def test_egfxset_level_conventions(tmp_path: Path) -> None:
    """EGFxSet: each dry file peak-normalised, the wet at one gain for the whole set, the loudest
    wet file just below full scale; notes.csv records both gains."""
    folder = synth.synthesize("egfxset", "smoke", tmp_path / "eg", seed=5, tank=TANK, progress=False)
    notes = pd.read_csv(folder / "notes.csv")
    dry_peaks, wet_peaks = [], []
    for row in notes.itertuples():
        dry_peaks.append(np.max(np.abs(sf.read(folder / formats.EGFXSET_DRY_DIR / row.position / row.file)[0])))
        wet_peaks.append(np.max(np.abs(sf.read(folder / formats.EGFXSET_WET_DIR / row.position / row.file)[0])))
    assert np.allclose(dry_peaks, synth.EGFXSET_DRY_PEAK, atol=2e-7)
    assert max(wet_peaks) == pytest.approx(synth.EGFXSET_WET_MAX_PEAK, abs=2e-7)
    assert notes["wet_gain"].nunique() == 1
    assert np.std(wet_peaks) > 0.01      # one gain for all: the wet peaks keep their differences


def test_egfxset_layout(egfxset_dir: Path) -> None:
    layout = synth.PRESETS["egfxset"]["smoke"]
    for side in (formats.EGFXSET_DRY_DIR, formats.EGFXSET_WET_DIR):
        assert sorted(p.name for p in (egfxset_dir / side).iterdir()) == sorted(layout["positions"])
        for pos in layout["positions"]:
            names = sorted(p.name for p in (egfxset_dir / side / pos).iterdir())
            assert names == sorted(f"{s}-{f}.wav" for s in layout["strings"] for f in layout["frets"])
            for name in names:
                info = sf.info(egfxset_dir / side / pos / name)
                assert (info.samplerate, info.channels, info.subtype, info.format) == (48000, 1, "PCM_24", "WAV")
                assert info.frames == 240000


def test_tank_json_and_ir(springset_dir: Path, egfxset_dir: Path) -> None:
    for folder, rate in ((springset_dir, 16000), (egfxset_dir, 48000)):
        report = json.loads((folder / "tank.json").read_text())
        assert report["params"]["sample_rate"] == rate
        assert report["params"]["rt60"] == TANK.rt60
        assert report["seed"] == 7
        assert report["rt60_t30_s"]["broadband"] == pytest.approx(TANK.rt60, rel=0.02)
        assert set(report["rt60_t30_s"]) >= {"125", "250", "500", "1000", "2000", "4000"}
        ir, fs = sf.read(folder / "tank_ir.wav")
        assert fs == rate
        truth = SpringTank(TankParams.from_dict(report["params"])).impulse_response
        assert np.allclose(ir, truth, atol=1e-6)


def test_wet_is_the_tank_applied_to_dry(springset_dir: Path) -> None:
    with h5py.File(springset_dir / "dry_val_test.h5", "r") as dry, h5py.File(springset_dir / "wet_val_test.h5", "r") as wet:
        x, y = dry["Xvalidation"][0, :, 0], wet["Yvalidation_0"][0, :, 0]
    tank = SpringTank(TankParams.from_dict(json.loads((springset_dir / "tank.json").read_text())["params"]))
    # Dry and wet were peak-normalised separately; notes.csv's gains undo it.
    row = pd.read_csv(springset_dir / "notes.csv").set_index("id").loc["springset/val_test/0"]
    expected = tank.process(x / row["dry_gain"]) * row["wet_gain"]
    body = slice(0, 32000 - 8000)        # before the 0.5 s fade-out
    assert np.allclose(y[body], expected[body], rtol=0, atol=synth.GRID)     # the wet is on a 2^-23 grid (and the gains on 9 digits)


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_notes(tmp_path: Path, springset_dir: Path) -> None:
    again = synth.synthesize("springset", "smoke", tmp_path / "again", seed=7, tank=TANK, progress=False)
    assert _file_bytes(again) == _file_bytes(springset_dir)
    other = synth.synthesize("springset", "smoke", tmp_path / "other", seed=8, tank=TANK, progress=False)
    a = pd.read_csv(springset_dir / "notes.csv")
    b = pd.read_csv(other / "notes.csv")
    assert not np.array_equal(a["midi"], b["midi"])
    with h5py.File(springset_dir / "dry_train.h5") as f1, h5py.File(other / "dry_train.h5") as f2:
        assert not np.allclose(f1["Xtrain"][:], f2["Xtrain"][:])


def test_bass_share_and_ranges() -> None:
    specs = random_notes(sum(formats.SPRINGSET_SIZES.values()), seed=3)
    share = np.mean([s.is_bass for s in specs])
    assert share == pytest.approx(0.10, abs=0.01)
    for s in specs:
        lo, hi = BASS_RANGE if s.is_bass else GUITAR_RANGE
        assert lo <= s.midi <= hi


def test_notes_csv_matches_rendered_pitch(springset_dir: Path) -> None:
    notes = pd.read_csv(springset_dir / "notes.csv")
    assert len(notes) == sum(synth.PRESETS["springset"]["smoke"].values())
    assert notes["id"].iloc[0] == "springset/train/0"
    with h5py.File(springset_dir / "dry_train.h5") as handle:
        x = handle["Xtrain"][:, :, 0]
    for i in range(4):
        f0 = librosa.yin(x[i, 1000:17000], fmin=30, fmax=2000, sr=16000, frame_length=4096)
        assert np.median(f0) == pytest.approx(notes["frequency_hz"][i], rel=0.02)


def test_note_pitch_from_a_closed_form_frequency() -> None:
    y = render_note(NoteSpec(midi=57.0, seed=1), 16000, 16000)       # A3 = 220 Hz
    f0 = librosa.yin(y[800:], fmin=50, fmax=1000, sr=16000, frame_length=2048)
    assert np.median(f0) == pytest.approx(220.0, rel=0.005)


def test_occupied_folder_and_interrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(synth.SynthError, match="not empty"):
        synth.synthesize("springset", "smoke", out, progress=False)
    assert (out / "keep.txt").read_text() == "mine"

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(formats, "write_springset", boom)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize("springset", "smoke", tmp_path / "fresh", progress=False)
    assert not (tmp_path / "fresh").exists()
    assert not list(tmp_path.glob(".fresh.partial-*"))


def test_cli_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("seed: 5\ndata:\n  tank:\n    rt60: 1.1\n    drive: 0.5\n")
    assert main(["data", "synth", "--format", "springset", "--preset", "smoke", "--params", str(params),
                 "--out", str(tmp_path / "ds")]) == 0
    report = json.loads((tmp_path / "ds" / "tank.json").read_text())
    assert report["seed"] == 5 and report["params"]["drive"] == 0.5 and report["params"]["rt60"] == 1.1
    assert "wrote 12 springset pairs" in capsys.readouterr().out

    params.write_text("data:\n  tank:\n    rt_60: 1.1\n")
    assert main(["data", "synth", "--format", "springset", "--preset", "smoke", "--params", str(params),
                 "--out", str(tmp_path / "bad")]) == 2
    assert "unknown parameter(s) rt_60" in capsys.readouterr().err


#: numpy, OpenBLAS and torch pick SIMD code paths by CPU at run time; these variables make this
#: machine take the paths of a CPU without AVX-512 (a no-op where it has none).
OTHER_CPU = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell",
             "ATEN_CPU_CAPABILITY": "avx2"}


@pytest.mark.parametrize("fmt", ["springset", "egfxset"])
def test_same_seed_same_bytes_on_a_cpu_with_other_simd_extensions(tmp_path: Path, fmt: str) -> None:
    """The data stage's bytes do not depend on the CPU's SIMD extensions: a dataset rendered as a
    CPU without AVX-512 would render it equals the one rendered with every extension (without the
    grid and the rounded text, springset's wet files, tank_ir.wav, tank.json and notes.csv differ)."""
    import os
    import subprocess
    import sys

    folders = {}
    for label, extra in (("this", {}), ("other", OTHER_CPU)):
        env = {k: v for k, v in os.environ.items() if k not in OTHER_CPU} | extra
        folders[label] = tmp_path / label
        subprocess.run([sys.executable, "-m", "springstudy.cli", "data", "synth", "--format", fmt, "--preset", "smoke",
                        "--tank", "realistic", "--seed", "7", "--out", str(folders[label])], env=env, check=True,
                       capture_output=True)
    assert _file_bytes(folders["this"]) == _file_bytes(folders["other"])
