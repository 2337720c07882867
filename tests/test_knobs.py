"""The tank's knobs, the seeded space-filling design and the conditioned dataset's knobs.csv.

Independent references: the Latin-hypercube property counted directly (one design point per
stratum of every knob) and scipy's centred discrepancy against random designs; pyroomacoustics'
``measure_rt60`` on the tank's true IR for the decay knob; each stored item rebuilt from its dry
note through the tank at its setting (the mix knob's blend of wet and dry).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pyroomacoustics.experimental import measure_rt60
from scipy.stats import qmc

from springstudy.data import DatasetError, formats, open_dataset
from springstudy.data.knobs import (KNOB_NAMES, KNOBS_FILE, KnobRanges, knob_design, knob_matrix, mix_output,
                                    read_knobs, tank_at)
from springstudy.data.synth import synthesize
from springstudy.data.tank import SpringTank, TankParams
from springstudy.data.tensors import load_split_tensors

RANGES = KnobRanges.from_dict()


@pytest.fixture(scope="module")
def conditioned(tmp_path_factory) -> Path:
    return synthesize("springset", "smoke", tmp_path_factory.mktemp("knobs") / "springset", seed=3,
                      tank=TankParams.preset("realistic"), progress=False, knobs=RANGES)


def test_the_design_is_seeded_and_a_latin_hypercube() -> None:
    n = 40
    design = knob_design(n, RANGES, seed=7)
    assert design.shape == (n, len(KNOB_NAMES))
    assert np.array_equal(design, knob_design(n, RANGES, seed=7))
    assert not np.array_equal(design, knob_design(n, RANGES, seed=8))
    unit = RANGES.normalise(design)
    assert unit.min() >= 0 and unit.max() <= 1
    for column in unit.T:                       # one point in each of the n strata of every knob
        assert sorted(np.floor(column * n).astype(int)) == list(range(n))


def test_the_design_fills_the_space_better_than_random_draws() -> None:
    n = 40
    unit = RANGES.normalise(knob_design(n, RANGES, seed=7))
    rng = np.random.default_rng(0)
    random_cd = [qmc.discrepancy(rng.random((n, 4)), method="CD") for _ in range(50)]
    assert qmc.discrepancy(unit, method="CD") < np.percentile(random_cd, 5)


def test_tone_is_designed_on_a_log_scale() -> None:
    settings = RANGES.from_unit(np.array([[0.5, 0.5, 0.5, 0.5]]))
    low, high = RANGES.ranges["tone"]
    assert settings[0, KNOB_NAMES.index("tone")] == pytest.approx(np.sqrt(low * high))
    assert np.allclose(RANGES.normalise(settings), 0.5)


def test_the_true_rt60_follows_the_decay_knob() -> None:
    decays = np.linspace(*RANGES.ranges["decay"], 5)
    measured = []
    for decay in decays:
        tank = SpringTank(tank_at(TankParams.preset("realistic"), (decay, 3000.0, 3.0, 1.0)))
        measured.append(measure_rt60(tank.impulse_response, fs=tank.params.sample_rate, decay_db=30))
    assert np.all(np.diff(measured) > 0)
    assert np.allclose(measured, decays, rtol=0.05)


def test_each_item_is_the_tank_at_its_setting(conditioned: Path) -> None:
    knobs = read_knobs(conditioned)
    notes = pd.read_csv(conditioned / "notes.csv").set_index("id")
    pairs = open_dataset(conditioned)
    tank_json = json.loads((conditioned / "tank.json").read_text())
    base = TankParams.from_dict(tank_json["params"])
    fade = int(formats.SPRINGSET_FADE_SECONDS * pairs.sample_rate) + 1
    for index in (0, 5, 9):
        item = pairs.ids[index]
        dry, wet = (x.numpy()[0].astype(np.float64) for x in pairs[index])
        dry = dry / notes.loc[item, "dry_gain"]
        wet = wet / notes.loc[item, "wet_gain"]
        setting = knobs.loc[item, list(KNOB_NAMES)].to_numpy()
        tank = SpringTank(tank_at(base, setting))
        expected = mix_output(dry, tank.process(dry, noise_seed=3 + index), setting[3])
        np.testing.assert_allclose(wet[:-fade], expected[:-fade], atol=2e-6 * np.abs(expected).max())
        assert knobs.loc[item, "true_rt60_s"] == pytest.approx(setting[0], rel=0.01)


def test_a_setting_renders_the_same_bytes_every_time(conditioned: Path, tmp_path: Path) -> None:
    again = synthesize("springset", "smoke", tmp_path / "again", seed=3, tank=TankParams.preset("realistic"),
                       progress=False, knobs=RANGES)
    for name in sorted(p.name for p in conditioned.iterdir()):
        digest = [hashlib.sha256((folder / name).read_bytes()).hexdigest() for folder in (conditioned, again)]
        assert digest[0] == digest[1], name


def test_the_loaders_return_the_knobs_with_the_pairs(conditioned: Path) -> None:
    splits, _, _ = load_split_tensors(conditioned, None, seed=1)
    frame = read_knobs(conditioned)
    for split in splits.values():
        assert split.knobs is not None and split.knobs.shape == (len(split.ids), 4)
        expected = RANGES.normalise(frame.loc[split.ids, list(KNOB_NAMES)].to_numpy())
        np.testing.assert_allclose(split.knobs.numpy(), expected, rtol=1e-6)


def _broken(conditioned: Path, tmp_path: Path, edit) -> Path:
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(conditioned, folder)
    edit(pd.read_csv(folder / KNOBS_FILE)).to_csv(folder / KNOBS_FILE, index=False)
    return folder


@pytest.mark.parametrize("edit,message", [
    (lambda f: f.drop(columns=["tone"]), "missing tone"),
    (lambda f: f.assign(reverb=1.0), "unexpected reverb"),
    (lambda f: f.assign(dwell=f["dwell"].where(f.index != 3, np.nan)), "dwell is nan, not a finite number"),
    (lambda f: f.assign(mix=f["mix"].where(f.index != 2, 1.5)), "mix 1.5 lies outside its range [0.25, 1]"),
    (lambda f: f.assign(decay=f["decay"].astype(object).where(f.index != 0, "long")), "decay is 'long'"),
    (lambda f: f.assign(id=f["id"].where(f.index != 1, f["id"][0])), "appears twice"),
])
def test_bad_knob_files_are_dataset_errors_naming_the_file(conditioned, tmp_path, edit, message) -> None:
    folder = _broken(conditioned, tmp_path, edit)
    with pytest.raises(DatasetError) as caught:
        load_split_tensors(folder, None, seed=1)
    assert str(folder / KNOBS_FILE) in str(caught.value) and message in str(caught.value)


def test_an_item_without_knobs_is_named(conditioned, tmp_path) -> None:
    folder = _broken(conditioned, tmp_path, lambda f: f.drop(index=4))
    with pytest.raises(DatasetError, match="no row for item 'springset/train/4'"):
        knob_matrix(folder, open_dataset(folder).ids)


def test_bad_knob_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="decay needs low < high"):
        KnobRanges.from_dict({"decay": [3.0, 2.0]})
    with pytest.raises(ValueError, match="unknown reverb"):
        KnobRanges({**RANGES.ranges, "reverb": (0.0, 1.0)})
    with pytest.raises(ValueError, match="mix lies in"):
        KnobRanges.from_dict({"mix": [0.0, 2.0]})


def test_the_egfxset_layout_carries_knobs_too(tmp_path) -> None:
    folder = synthesize("egfxset", "smoke", tmp_path / "egfxset", seed=3, tank=TankParams.preset("realistic"),
                        progress=False, knobs=RANGES)
    splits, rate, _ = load_split_tensors(folder, None, seed=1)
    assert rate == 48_000
    frame = read_knobs(folder)
    assert sorted(frame.index) == sorted(open_dataset(folder).ids)
    for split in splits.values():
        np.testing.assert_allclose(split.knobs.numpy(),
                                   RANGES.normalise(frame.loc[split.ids, list(KNOB_NAMES)].to_numpy()), rtol=1e-6)


def test_the_command_line_renders_the_params_knob_design(tmp_path, capsys) -> None:
    from springstudy.cli.main import main

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "knobs"
    assert main(["data", "synth", "--format", "springset", "--preset", "smoke", "--knobs", "--params",
                 str(root / "params.yaml"), "--out", str(out)]) == 0
    params = yaml.safe_load((root / "params.yaml").read_text())["knobs"]
    frame = read_knobs(out)
    assert len(frame) == sum(params["profiles"]["smoke"]["items"].values())
    assert json.loads((out / "tank.json").read_text())["knobs"]["ranges"] == KnobRanges.from_dict(params["ranges"]).to_dict()
