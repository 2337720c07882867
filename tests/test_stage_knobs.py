"""The knobs stage (springstudy.stages.knobs): what notebook 11 shows and DVC tracks, on a smoke
conditioned set the tank renders (its settings and true RT60 known)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from springstudy.data.knobs import KNOB_NAMES, KnobRanges
from springstudy.data.synth import synthesize
from springstudy.data.tank import SpringTank, TankParams
from springstudy.stages import knobs as stage

RANGES = KnobRanges.from_dict({"decay": [0.4, 1.2]})          # short decays keep the sweeps short
SMALL_TRAIN = {"max_steps": 2, "batch_size": 2, "crop_seconds": 0.25, "val_every": 1, "val_items": 2,
               "val_seconds": 0.5, "lr": 0.003, "alpha": 1.0, "time_term": "esr", "threads": 1}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthesize("springset", "smoke", tmp_path_factory.mktemp("kn") / "springset", seed=6,
                      tank=TankParams.preset("realistic"), progress=False, knobs=RANGES,
                      sizes={"train": 8, "val_test": 8})


@pytest.fixture(scope="module")
def result(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("knobs")
    return stage.run(data, runs_dir=out / "runs", tables_dir=out / "tables", figures_dir=out / "figures",
                     metrics_path=out / "metrics.json", pairs={"GCN-250-FiLM": "GCN-250", "HyperGRU-32": "GRU-32"},
                     train=SMALL_TRAIN, recurrent={"crop_context_seconds": 0.1}, seed=4, decay_points=2,
                     sweep_seconds=0.5, tail_seconds=1.5, n_resamples=200, progress=False), out


def test_the_corners_are_every_knob_at_an_end(data) -> None:
    corners = stage.corner_settings(RANGES)
    assert corners.shape == (16, 4) and len({tuple(c) for c in corners}) == 16
    for j, name in enumerate(KNOB_NAMES):
        assert set(corners[:, j]) == set(RANGES.ranges[name])
    edges = stage.edge_split(data, RANGES, seed=4)
    assert set(np.unique(edges.knobs.numpy())) == {0.0, 1.0} and edges.dry.shape == edges.wet.shape


def test_the_table_scores_every_model_on_both_test_sets(result) -> None:
    result, out = result
    table = pd.read_csv(out / "tables" / "knobs_results.csv")
    assert set(table["model"]) == {"GCN-250-FiLM", "GCN-250", "HyperGRU-32", "GRU-32"}
    assert set(table["set"]) == set(stage.TEST_SETS)
    for metric in stage.METRICS:
        assert (table[f"{metric}_lo"] <= table[metric]).all() and (table[metric] <= table[f"{metric}_hi"]).all()
    edges = table[table["set"] == "edges"]
    assert (edges["n_items"] == 16).all()
    assert len(result.differences) == 4                      # 2 pairs x 2 test sets
    items = result.items[(result.items["model"] == "GCN-250") & (result.items["set"] == "edges")]
    assert items[list(KNOB_NAMES)].nunique().tolist() == [2, 2, 2, 2]
    assert "ESR difference" in (out / "tables" / "knobs_results.md").read_text()


def test_the_paired_difference_is_the_mean_of_per_item_differences(result) -> None:
    result, _ = result
    items = result.items
    row = result.differences[(result.differences["conditioned"] == "HyperGRU-32")
                             & (result.differences["set"] == "inside")].iloc[0]
    a = items[(items["model"] == "HyperGRU-32") & (items["set"] == "inside")].sort_values("item")["esr"].to_numpy()
    b = items[(items["model"] == "GRU-32") & (items["set"] == "inside")].sort_values("item")["esr"].to_numpy()
    assert row["esr_diff"] == pytest.approx(float(np.mean(a - b)))
    assert row["esr_diff_lo"] <= row["esr_diff"] <= row["esr_diff_hi"]


def test_the_decay_sweep_has_the_tanks_truth(result, data) -> None:
    result, out = result
    rt60 = pd.read_csv(out / "tables" / "knobs_rt60.csv")
    base = TankParams.from_dict(json.loads((data / "tank.json").read_text())["params"])
    for _, row in rt60.drop_duplicates("decay_knob").iterrows():
        from springstudy.data.knobs import tank_at

        middle = RANGES.from_unit(np.array([[0.5] * 4]))[0]
        middle[0] = row["decay_knob"]
        assert row["true_rt60_s"] == pytest.approx(SpringTank(tank_at(base, middle)).rt60("t30")["broadband"], rel=1e-5)
    assert sorted(rt60["decay_knob"].unique()) == pytest.approx(list(RANGES.ranges["decay"]))
    # An unconditioned model has one decay whatever the knob: one measurement repeated.
    plain = rt60[rt60["model"] == "GCN-250"]["model_rt60_s"].to_numpy()
    assert np.all(plain == plain[0]) or np.all(np.isnan(plain))
    assert (out / "figures" / "knobs_rt60.png").is_file() and (out / "figures" / "knobs_error_by_knob.png").is_file()
    assert json.loads((out / "metrics.json").read_text())


def test_a_dataset_without_knobs_is_refused(tmp_path) -> None:
    from springstudy.data import DatasetError

    plain = synthesize("springset", "smoke", tmp_path / "plain", seed=6, progress=False)
    with pytest.raises(DatasetError, match="knobs.csv: not found"):
        stage.run(plain, runs_dir=tmp_path / "r", tables_dir=tmp_path / "t", figures_dir=tmp_path / "f",
                  metrics_path=None, pairs={"GCN-250-FiLM": "GCN-250"}, train=SMALL_TRAIN, recurrent={}, seed=1,
                  decay_points=2, sweep_seconds=0.5, tail_seconds=1.0)


def test_the_reading_says_what_the_numbers_say() -> None:
    rt60 = pd.DataFrame({"model": ["A"] * 3 + ["B"] * 3, "kind": ["conditioned"] * 3 + ["unconditioned"] * 3,
                         "decay_knob": [1.0, 2.0, 3.0] * 2, "true_rt60_s": [1.0, 2.0, 3.0] * 2,
                         "model_rt60_s": [1.1, 2.0, 2.9, 1.5, 1.5, 1.5],
                         "error_pct": [10.0, 0.0, -100 / 30, 50.0, -25.0, -50.0], "note": [""] * 6})
    follow = stage.decay_following(rt60, "A")
    assert follow["slope"] == pytest.approx(0.9) and follow["mean_abs_error_pct"] == pytest.approx((10 + 10 / 3) / 3)
    assert stage.decay_following(rt60, "B")["slope"] == pytest.approx(0.0)
    differences = pd.DataFrame([{"conditioned": "A", "partner": "B", "set": "inside", "n_items": 5,
                                 "esr_diff": -0.2, "esr_diff_lo": -0.3, "esr_diff_hi": -0.1},
                                {"conditioned": "A", "partner": "B", "set": "edges", "n_items": 16,
                                 "esr_diff": 0.1, "esr_diff_lo": -0.1, "esr_diff_hi": 0.3}])
    text = stage.reading(differences, rt60, 0.95)
    assert "lower the ESR beyond resampling noise" in text and "the 95% interval holds zero" in text
    assert "**A**'s RT60 follows the decay knob: slope 0.90" in text
    table = stage.rt60_markdown(rt60)
    assert "| 2.00 | 2.00 | 2.00 (+0%) | 1.50 (-25%) |" in table
