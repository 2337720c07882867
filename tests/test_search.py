"""Hyperparameter scaling (thesis §3.3.1, Table 5): the space as data, seeded sampling inside
the ranges, successive halving on a known objective, and a tiny real search whose promoted
configurations end exactly where straight training ends."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from springstudy import search
from springstudy.data.synth import synthesize
from springstudy.data.tank import TankParams
from springstudy.models import get_config
from springstudy.train import TrainConfig, load_splits, load_training_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
SEED = 20231
FS = 16_000

#: Table 5 as printed in the thesis: (channels, dilation, kernel, layers) per family.
TABLE5 = {
    "TCN": ("8-64", "1-12", "1-19", "1-10"),
    "WaveNet": ("8-64", "1-12", "1-19", "10-24"),
    "GCN": ("8-32", "1-8", "3-41", "1-10"),
    "LSTM": ("16-128", None, "0-3", "1-4"),
}
TABLE5_TOTALS = {"TCN": 30, "WaveNet": 25, "GCN": 15, "LSTM": 15}


@pytest.fixture(scope="module")
def params() -> dict:
    return search.load_search(ROOT / search.SEARCH_FILE)


@pytest.fixture(scope="module")
def space(params: dict) -> search.SearchSpace:
    return search.search_space(params)


@pytest.fixture(scope="module")
def paper_configs(params: dict, space: search.SearchSpace) -> list[search.Candidate]:
    size = search.search_size(params, "paper")
    return search.sample_configurations(search.size_space(space, size), size.configurations, SEED, FS)


# --- the space -----------------------------------------------------------------------------------

def test_search_yaml_holds_table5_and_its_mapping(params: dict, space: search.SearchSpace) -> None:
    for family, printed in TABLE5.items():
        f = space.families[family]
        for name, thesis in zip(search.TABLE5_ROWS, printed):
            assert (f.hyperparameters[name].thesis if name in f.hyperparameters else None) == thesis
        assert f.total_configurations == TABLE5_TOTALS[family]
        get_config(f.base_model)                         # a real named configuration
    args = {family: {n: h.arg for n, h in space.families[family].hyperparameters.items()} for family in TABLE5}
    assert args["TCN"] == {"channels": "channels", "dilation": "dilation_growth", "kernel": "kernel_size",
                           "layers": "num_blocks"}
    assert args["WaveNet"]["dilation"] == "dilation_depth"
    assert args["WaveNet"]["layers"] == "dilation_depth*num_repeat"
    assert args["GCN"]["dilation"] == "dilation_growth" and args["GCN"]["layers"] == "num_layers"
    assert args["LSTM"] == {"channels": "hidden_size", "kernel": "conv_kernel_size", "layers": "num_layers"}
    assert (space.batch_size.low, space.batch_size.high) == (1, 32)
    assert (space.lr.low, space.lr.high, space.lr.scale) == (1e-4, 1e-1, "log")
    # The paper size is Table 5's count; the profiles map onto sizes that exist.
    assert search.search_size(params, "paper").configurations == TABLE5_TOTALS
    for profile in ("smoke", "quick", "paper"):
        assert search.search_size(params, profile=profile).name == params["size_by_profile"][profile]


def test_sizes_are_checked(params: dict, space: search.SearchSpace) -> None:
    broken = json.loads(json.dumps(params))
    broken["sizes"]["smoke"]["rungs"] = [3, 4]            # val_every is 2
    with pytest.raises(search.SearchError, match="multiple of val_every"):
        search.search_size(broken, "smoke")
    broken["sizes"]["smoke"]["rungs"] = [4, 2]
    with pytest.raises(search.SearchError, match="increasing"):
        search.search_size(broken, "smoke")
    with pytest.raises(search.SearchError, match="unknown search size"):
        search.search_size(params, "huge")
    with pytest.raises(search.SearchError, match="unknown cap"):
        space.capped({"depth": 3})


def test_caps_lower_upper_ends_but_never_below_the_low_end(space: search.SearchSpace) -> None:
    capped = space.capped({"channels": 12, "layers": 4, "batch_size": 4})
    assert capped.families["TCN"].hyperparameters["channels"].high == 12
    assert capped.families["TCN"].hyperparameters["layers"].high == 4
    assert capped.families["WaveNet"].hyperparameters["layers"].high == 10     # low end 10
    assert capped.families["LSTM"].hyperparameters["channels"].high == 16      # low end 16
    assert capped.batch_size.high == 4
    assert space.families["TCN"].hyperparameters["channels"].high == 64       # the original is untouched


# --- sampling --------------------------------------------------------------------------------------

def test_sampling_is_seeded_and_inside_the_ranges(space: search.SearchSpace,
                                                  paper_configs: list[search.Candidate]) -> None:
    assert [c.config_id for c in paper_configs[:2]] == ["TCN-01", "TCN-02"]
    assert {f: sum(c.family == f for c in paper_configs) for f in TABLE5} == TABLE5_TOTALS
    again = search.sample_configurations(space, TABLE5_TOTALS, SEED, FS)
    assert again == paper_configs
    other = search.sample_configurations(space, TABLE5_TOTALS, SEED + 1, FS)
    assert [c.lr for c in other] != [c.lr for c in paper_configs]
    max_rf = space.max_receptive_field_seconds * FS
    for c in paper_configs:
        for name, value in c.hyperparameters.items():
            h = space.families[c.family].hyperparameters[name]
            assert h.low <= value <= h.high, (c.config_id, name, value)
        assert 1e-4 <= c.lr <= 1e-1 and 1 <= c.batch_size <= 32
        assert c.receptive_field <= max_rf or (math.isinf(c.receptive_field) and c.family == "LSTM")
        model = c.build()
        assert model.num_parameters == c.params and 0 < c.params < 10**8
        assert float(model.receptive_field) == c.receptive_field
        if c.family == "WaveNet":
            assert c.hyperparameters["layers"] == c.overrides["dilation_depth"] * c.overrides["num_repeat"]
            assert c.hyperparameters["dilation"] == c.overrides["dilation_depth"]
        if c.family == "LSTM":
            plain = c.hyperparameters["kernel"] == 0
            assert c.model == ("LSTM-96" if plain else "LSTM-cs-96")
            assert ("conv_kernel_size" in c.overrides) != plain
    assert {c.model for c in paper_configs if c.family == "LSTM"} == {"LSTM-96", "LSTM-cs-96"}


def test_a_configuration_does_not_depend_on_the_other_families(space: search.SearchSpace,
                                                               paper_configs: list[search.Candidate]) -> None:
    alone = search.sample_configurations(space, {"GCN": 3}, SEED, FS)
    assert alone == [c for c in paper_configs if c.family == "GCN"][:3]


def test_learning_rate_is_log_uniform_and_integers_uniform(space: search.SearchSpace) -> None:
    rng = np.random.default_rng(0)
    draws = [search.draw_configuration(space, space.families["LSTM"], rng) for _ in range(4000)]
    log_lr = np.log10([d[2] for d in draws])
    # log10 lr uniform on [-4, -1]: each decade holds a third of the draws.
    counts = np.histogram(log_lr, bins=[-4, -3, -2, -1])[0] / len(draws)
    assert np.allclose(counts, 1 / 3, atol=0.03)
    layers = np.bincount([d[0]["layers"] for d in draws], minlength=5)[1:]
    assert np.allclose(layers / len(draws), 1 / 4, atol=0.03)
    assert {d[3] for d in draws} == set(range(1, 33))


# --- successive halving on a known objective -----------------------------------------------------

def test_survivors_and_the_paper_schedule(params: dict) -> None:
    assert [search.survivors(n, 3) for n in (30, 10, 3, 2, 1)] == [10, 3, 1, 1, 1]
    assert search.survivors(5, 2, min_survivors=3) == 3
    assert search.survivors(2, 2, min_survivors=3) == 2
    size = search.search_size(params, "paper")
    plan = search.schedule(size.configurations, size.rungs, size.eta, size.min_survivors)
    assert plan["TCN"].tolist() == [30, 10, 3] and plan["WaveNet"].tolist() == [25, 8, 2]
    assert plan["total"].tolist() == [85, 28, 7]


def _fake(quality: dict[str, float], calls: list[tuple[str, int]]):
    """A loss that falls with steps towards each configuration's own floor: no training."""
    def evaluate(config_id: str, steps: int) -> float:
        calls.append((config_id, steps))
        return quality[config_id] + 1.0 / steps
    return evaluate


def test_successive_halving_keeps_the_best_per_rung() -> None:
    rng = np.random.default_rng(5)
    ids = [f"c{i}" for i in range(9)]
    quality = dict(zip(ids, rng.permutation(9).astype(float)))
    calls: list[tuple[str, int]] = []
    results = search.successive_halving(ids, [1, 3, 9], _fake(quality, calls), eta=3)
    by_rung = {r: [x for x in results if x.rung == r] for r in range(3)}
    assert [len(by_rung[r]) for r in range(3)] == [9, 3, 1]
    best = sorted(ids, key=quality.get)
    assert [x.config_id for x in by_rung[0] if x.promoted] == [c for c in ids if c in best[:3]]
    assert {x.config_id for x in by_rung[1]} == set(best[:3])
    assert [x.config_id for x in by_rung[2]] == best[:1]
    assert not any(x.promoted for x in by_rung[2])
    assert len(calls) == 13 and {s for c, s in calls if c == best[0]} == {1, 3, 9}


def test_successive_halving_prunes_per_family_on_the_current_rung() -> None:
    # Group a: a0 leads at rung 0 but falls behind at rung 1; b has 4 members.
    losses = {("a0", 1): 1.0, ("a1", 1): 2.0, ("a2", 1): 3.0, ("a3", 1): 4.0, ("a4", 1): 5.0,
              ("a0", 2): 9.0, ("a1", 2): 1.5,
              ("b0", 1): math.nan, ("b1", 1): 7.0, ("b2", 1): math.inf, ("b3", 1): 6.0,
              ("b3", 2): 6.0, ("b1", 2): 5.0, ("a1", 4): 1.0, ("b1", 4): 4.0}
    ids = ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3"]
    groups = {c: c[0] for c in ids}
    results = search.successive_halving(ids, [1, 2, 4], lambda c, s: losses[(c, s)], eta=2, groups=groups)
    promoted = {(x.config_id, x.rung) for x in results if x.promoted}
    # a: 5 -> 2 -> 1 by the rung's own loss; b: 4 -> 2 (a failed run is never promoted) -> 1.
    assert promoted == {("a0", 0), ("a1", 0), ("b1", 0), ("b3", 0), ("a1", 1), ("b1", 1)}
    assert [x.config_id for x in results if x.rung == 2] == ["a1", "b1"]
    # Stopping after one rung leaves the survivors marked, waiting for the next rung.
    first = search.successive_halving(ids, [1, 2, 4], lambda c, s: losses[(c, s)], eta=2, groups=groups,
                                      rungs_to_run=1)
    assert {(x.config_id, x.rung) for x in first if x.promoted} == {p for p in promoted if p[1] == 0}


def test_val_loss_at_reads_a_history() -> None:
    history = [{"step": 2, "val_loss": 3.0}, {"step": 4, "val_loss": 1.0}, {"step": 6, "val_loss": 2.0}]
    assert search.val_loss_at(history, 6) == 2.0 and search.val_loss_at(history, 6, "best") == 1.0
    assert search.val_loss_at(history, 5) == 1.0 and search.val_loss_at(history, 1) == math.inf


# --- a tiny real search --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_splits(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, int]:
    data = synthesize("springset", "smoke", tmp_path_factory.mktemp("data") / "springset", seed=3,
                      tank=TankParams(rt60=0.8), progress=False)
    splits, rate, _ = load_splits(TrainConfig(model="search", out=str(tmp_path_factory.mktemp("x")),
                                              data=str(data), seed=SEED))
    return splits, rate


@pytest.fixture(scope="module")
def tiny(params: dict, space: search.SearchSpace, smoke_splits: tuple[dict, int],
         tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two TCNs and one GCN, rungs of 2 and 4 steps, eta 2: one TCN is pruned after rung 0."""
    splits, rate = smoke_splits
    size = dataclasses.replace(search.search_size(params, "smoke"), configurations={"TCN": 2, "GCN": 1})
    candidates = search.sample_configurations(search.size_space(space, size), size.configurations, SEED, rate)
    out = tmp_path_factory.mktemp("runs")
    result = search.run_search(candidates, size, splits, rate, out, SEED, progress=False)
    return {"size": size, "candidates": candidates, "result": result, "out": out}


def test_tiny_search_promotes_the_best_and_ranks(tiny: dict, tmp_path: Path) -> None:
    result, out = tiny["result"], tiny["out"]
    rungs = result.rung_table()
    assert len(rungs[rungs["rung"] == 0]) == 3 and len(rungs[rungs["rung"] == 1]) == 2
    # The promoted TCN is the one with the lower validation loss at step 2, read from its own run.
    at_two = {c: search.val_loss_at(json.loads((out / c / "summary.json").read_text())["history"], 2)
              for c in ("TCN-01", "TCN-02")}
    winner = min(at_two, key=at_two.get)
    assert set(rungs[rungs["rung"] == 1]["config_id"]) == {winner, "GCN-01"}
    steps = {c: load_training_checkpoint(out / c / "last.pt")["step"] for c in ("TCN-01", "TCN-02", "GCN-01")}
    assert steps == {winner: 4, "GCN-01": 4, ({"TCN-01", "TCN-02"} - {winner}).pop(): 2}

    table = result.ranking()
    for column in ("rank", "config_id", "family", "params", "receptive_field", "lr", "batch_size", "rung",
                   "steps", "val_loss"):
        assert column in table.columns
    assert table["rank"].tolist() == [1, 2, 3]
    assert table.iloc[-1]["status"] == "pruned after rung 0" and table.iloc[-1]["steps"] == 2
    assert set(table.iloc[:2]["status"]) == {"finalist"}
    assert table.iloc[0]["val_loss"] <= table.iloc[1]["val_loss"]
    csv_path, md_path = search.write_ranking(table, tmp_path)
    assert csv_path.read_text().startswith("rank,config_id,family") and "| Rank |" in md_path.read_text()
    fig = search.plot_rungs(rungs)
    assert len(fig.axes) == 2
    metrics = search.search_metrics(result, table)
    assert metrics["rung_trainings"] == 5 and metrics["steps_trained"] == 3 * 2 + 2 * 2
    assert metrics["best"]["config_id"] == table.iloc[0]["config_id"]


def test_promoted_run_equals_straight_training(tiny: dict, smoke_splits: tuple[dict, int], tmp_path: Path) -> None:
    splits, rate = smoke_splits
    # The TCN that won its bracket at rung 0 and was resumed from last.pt to the last rung.
    winner = tiny["result"].ranking().query("family == 'TCN' and status == 'finalist'")["config_id"].item()
    finalist = next(c for c in tiny["candidates"] if c.config_id == winner)
    size = tiny["size"]
    config = search.train_config(finalist, tmp_path / "straight", size.rungs[-1], size.train, SEED)
    straight = train(config, splits=splits, sample_rate=rate, progress=False)
    promoted = tiny["out"] / finalist.config_id
    a = load_training_checkpoint(tmp_path / "straight" / "last.pt")["model_state"]
    b = load_training_checkpoint(promoted / "last.pt")["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    history = json.loads((promoted / "summary.json").read_text())["history"]
    assert [h["val_loss"] for h in history] == [h["val_loss"] for h in straight.history]


def test_a_search_continues_rung_by_rung_and_reuses_runs(tiny: dict, smoke_splits: tuple[dict, int],
                                                         tmp_path: Path) -> None:
    splits, rate = smoke_splits
    first = dataclasses.replace(tiny["size"], rungs_to_run=1)
    partial = search.run_search(tiny["candidates"], first, splits, rate, tmp_path, SEED, progress=False)
    assert set(partial.ranking()["status"]) == {"promoted", "pruned after rung 0"}
    whole = search.run_search(tiny["candidates"], tiny["size"], splits, rate, tmp_path, SEED, progress=False)
    reused = {key: o.reused for key, o in whole.outcomes.items()}
    assert all(reused[key] for key in reused if key[1] == 0) and not any(reused[key] for key in reused if key[1] == 1)
    columns = ["config_id", "rung", "steps", "val_loss", "status"]
    assert whole.ranking()[columns].equals(tiny["result"].ranking()[columns])
    # Run again: nothing is trained.
    again = search.run_search(tiny["candidates"], tiny["size"], splits, rate, tmp_path, SEED, progress=False)
    assert all(o.reused for o in again.outcomes.values())
