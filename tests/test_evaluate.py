"""Evaluation: per-item scoring over the whole split, bootstrap intervals, tables, CLI, thesis data."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch

from datafixtures import WET_GAIN, write_springset
from springstudy import evaluate as ev
from springstudy.baselines import CLOSED_FORM_BASELINES, LINEAR_IR_REGULARISATION, Naive, Silence
from springstudy.cli.evaluate import BASELINE_CHOICES
from springstudy.cli.evaluate import add as register_evaluate
from springstudy.metrics import DEFAULT_PRE_EMPHASIS
from springstudy.metrics import compute_all
from springstudy.models import build, save_checkpoint
from springstudy.thesis_tables import (TABLE8, TABLE9, TABLE10, corrected_reading, implied_target_power,
                                       relabelling_check)
from springstudy.data.tensors import SplitTensors

#: Constructor overrides that make a named model tiny (a few dozen parameters): fast to run.
TINY = {"GCN-250": dict(num_layers=2, channels=2, kernel_size=3),
        "TCN-baseline": dict(num_blocks=2, channels=2, kernel_size=3)}


def split_of(n: int, length: int = 3000, seed: int = 0) -> SplitTensors:
    rng = np.random.default_rng(seed)
    wet = torch.tensor(rng.standard_normal((n, 1, length)) * np.linspace(1, 0.1, length), dtype=torch.float32)
    dry = wet * 1.5 + 0.05 * torch.tensor(rng.standard_normal((n, 1, length)), dtype=torch.float32)
    return SplitTensors(dry, wet, [f"item{i}" for i in range(n)])


# --- bootstrap ---------------------------------------------------------------------------------

def test_bootstrap_interval_contains_the_mean_and_is_seeded():
    values = np.random.default_rng(1).lognormal(size=40)    # skewed, like per-item ESRs
    ci = ev.bootstrap_ci(values, n_resamples=2000, seed=5)
    assert ci.mean == pytest.approx(values.mean())
    assert ci.lo < ci.mean < ci.hi
    assert ev.bootstrap_ci(values, n_resamples=2000, seed=5) == ci
    assert ev.bootstrap_ci(values, n_resamples=2000, seed=6) != ci


def test_bootstrap_interval_matches_the_normal_theory_interval_for_many_items():
    """n = 4000 normal values: the bootstrap distribution of the mean is normal with sd s/sqrt(n),
    so the 95% interval is mean ± 1.96·s/sqrt(n) up to resampling noise."""
    values = np.random.default_rng(3).normal(2.0, 1.0, size=4000)
    ci = ev.bootstrap_ci(values, n_resamples=4000, seed=0)
    half = 1.959964 * values.std(ddof=1) / np.sqrt(values.size)
    assert ci.lo == pytest.approx(values.mean() - half, abs=0.1 * half)
    assert ci.hi == pytest.approx(values.mean() + half, abs=0.1 * half)


def test_bootstrap_interval_covers_the_true_mean_at_its_level():
    """Coverage over 400 drawn data sets of 30 normal items: a 95% interval covers the true mean
    about 95% of the time (binomial sd 1.1%); a 90% interval would cover it about 89% of the time."""
    rng = np.random.default_rng(11)
    covered = {0.95: 0, 0.90: 0}
    trials = 400
    for trial in range(trials):
        values = rng.normal(1.0, 0.5, size=30)
        for level in covered:
            ci = ev.bootstrap_ci(values, n_resamples=1000, confidence=level, seed=trial)
            covered[level] += ci.lo <= 1.0 <= ci.hi
    assert 0.925 <= covered[0.95] / trials <= 0.975
    assert 0.86 <= covered[0.90] / trials < 0.925


def test_bca_shifts_the_interval_of_a_right_skewed_mean_upwards():
    """For right-skewed items (lognormal), BCa corrects the percentile interval's bias: both of
    its ends lie above the percentile interval's (Efron and Tibshirani 1993, §14.3)."""
    values = np.random.default_rng(4).lognormal(0.0, 1.2, size=40)
    bca = ev.bootstrap_ci(values, n_resamples=4000, seed=1)
    percentile = ev.bootstrap_ci(values, n_resamples=4000, seed=1, method="percentile")
    assert bca.lo > percentile.lo and bca.hi > percentile.hi


def test_two_models_scored_on_the_same_items_share_their_resamples():
    """Same seed, same item count: each resample takes the same items for both models, so the
    difference of their resampled means is the resampled mean of their per-item differences."""
    rng = np.random.default_rng(5)
    a, b = rng.lognormal(size=25), rng.lognormal(size=25)
    means_a, means_b = ev.bootstrap_means(a, 3000, seed=9), ev.bootstrap_means(b, 3000, seed=9)
    assert np.allclose(means_a - means_b, ev.bootstrap_means(a - b, 3000, seed=9), rtol=0, atol=1e-12)
    # and a paired difference is tighter than two unpaired intervals when the models are correlated
    c = a + rng.normal(0, 0.05, size=25)
    diff = ev.paired_difference(a, c, 3000, seed=9)
    assert diff.hi - diff.lo < 0.5 * (ev.bootstrap_ci(a, 3000, seed=9).hi - ev.bootstrap_ci(a, 3000, seed=9).lo)


def test_bootstrap_interval_shrinks_with_more_items():
    rng = np.random.default_rng(2)
    widths = {}
    for n in (20, 2000):
        ci = ev.bootstrap_ci(rng.exponential(size=n), n_resamples=2000, seed=0)
        widths[n] = ci.hi - ci.lo
    # The standard error falls as 1/sqrt(n): 100x the items, about a tenth of the width.
    assert widths[2000] < widths[20] / 5


def test_bootstrap_of_a_constant_is_a_point_and_paired_difference_is_signed():
    ci = ev.bootstrap_ci(np.full(7, 0.25), n_resamples=500)
    assert ci.lo == ci.hi == ci.mean == 0.25
    a = np.linspace(1, 2, 30)
    diff = ev.paired_difference(a, a + 0.1 + 0.01 * np.sin(np.arange(30)), n_resamples=500)
    assert diff.hi < 0 and diff.mean == pytest.approx(-0.1, abs=0.01)
    shifted = ev.paired_difference(a, a + 0.1, n_resamples=500)     # every item differs by 0.1
    assert shifted.lo == shifted.hi == pytest.approx(-0.1)
    with pytest.raises(ValueError):
        ev.bootstrap_ci(np.array([]))
    with pytest.raises(ValueError, match="differ in shape"):
        ev.paired_difference(a, a[:-1])


# --- scoring over the whole split --------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [1, 3, 4, 10])
def test_every_item_is_scored_once_whatever_the_batch(batch_size):
    """7 items in batches of 3 or 4: the last partial batch is kept; rows equal single-item metrics."""
    split = split_of(7)
    scored = ev.score_predictor(Naive(), split, "Naive", 0, "baseline", batch_size=batch_size)
    items = scored.items
    assert list(items["item"]) == split.ids and list(items["index"]) == list(range(7))
    for i in range(7):
        single = compute_all(split.dry[i:i + 1], split.wet[i:i + 1])
        for metric, value in single.items():
            assert items.loc[i, metric] == pytest.approx(value, rel=1e-5, abs=1e-12)
    summary = ev.summarise(items, n_resamples=200)
    assert summary.loc[0, "n_items"] == 7
    assert summary.loc[0, "esr"] == pytest.approx(items["esr"].mean())     # a mean per item, over all items


def test_examples_are_kept_for_the_chosen_items():
    split = split_of(5)
    keep = ev.pick_examples(5, 3, seed=4)
    assert keep == sorted(keep) and len(set(keep)) == 3
    scored = ev.score_predictor(Naive(), split, "Naive", 0, keep=keep, batch_size=2)
    assert sorted(scored.examples) == keep
    np.testing.assert_allclose(scored.examples[keep[0]], split.dry[keep[0], 0].double().numpy())


def test_summary_marks_best_among_trained_models():
    split = split_of(6)
    items = pd.concat([
        ev.score_predictor(Silence(), split, "Silence", 0, "baseline").items,
        ev.score_predictor(lambda d, i: split.wet[i] * 0.9, split, "good", 10, "model").items,
        ev.score_predictor(lambda d, i: split.wet[i] * 0.5, split, "worse", 20, "model").items,
    ], ignore_index=True)
    summary = ev.mark_best(ev.summarise(items, n_resamples=300))
    assert list(summary["model"]) == ["Silence", "good", "worse"]
    best = dict(zip(summary["model"], summary["best"]))
    assert "esr" in best["good"].split(";") and "mae" in best["good"].split(";")
    assert best["Silence"] == ""                       # baselines are not in the running
    for metric in ev.SUMMARY_METRICS:
        assert (summary[f"{metric}_lo"] <= summary[metric] + 1e-12).all()
        assert (summary[metric] <= summary[f"{metric}_hi"] + 1e-12).all()
    only_baselines = ev.mark_best(ev.summarise(items[items["kind"] == "baseline"], n_resamples=100))
    assert "esr" in only_baselines.loc[0, "best"]


def test_tables_and_metrics_files(tmp_path):
    split = split_of(4)
    items = pd.concat([ev.score_predictor(Naive(), split, "Naive", 0, "baseline").items,
                       ev.score_predictor(lambda d, i: split.wet[i] * 0.9, split, "GCN-250", 65_000).items])
    summary = ev.mark_best(ev.summarise(items, n_resamples=200))
    csv_path, md_path = ev.write_table(summary, tmp_path, "table9_16k", "Table 9", TABLE9)
    table = pd.read_csv(csv_path)
    for column in ("model", "params", "mae", "esr", "dc", "mr_stft", "esr_lo", "esr_hi", "best"):
        assert column in table.columns
    text = md_path.read_text()
    assert "**" in text and "0.0658" in text and "MSE (printed \"ESR\")" in text and "zipped" in text
    record = json.loads(ev.write_metrics(summary, tmp_path / "m.json", dataset="springset").read_text())
    assert set(record["models"]) == {"Naive", "GCN-250"}
    assert all(isinstance(v, (int, float)) for m in record["models"].values() for v in m.values())


def test_table8_combines_datasets_and_marks_best_per_dataset(tmp_path):
    evaluations = []
    for dataset, n in (("springset", 4), ("egfxset", 2)):
        split = split_of(n, seed=n)
        items = pd.concat([ev.score_predictor(Naive(), split, "Naive", 0, "baseline").items,
                           ev.score_predictor(Silence(), split, "Silence", 0, "baseline").items])
        evaluations.append(ev.Evaluation(dataset, 16_000, items, {}, [], split, {}))
    summary = ev.combined_summary(evaluations, n_resamples=100)
    assert list(summary["dataset"]) == ["springset"] * 2 + ["egfxset"] * 2
    assert list(summary["n_items"]) == [4, 4, 2, 2]
    for dataset in ("springset", "egfxset"):                # among all rows, per dataset
        rows = summary[summary["dataset"] == dataset].set_index("model")
        winner = rows["esr"].idxmin()
        assert "esr" in rows.loc[winner, "best"].split(";")
    assert len(ev.all_items(evaluations)) == 2 * (4 + 2)
    csv_path, md_path = ev.write_table(summary, tmp_path, "table8_baselines", "Table 8", TABLE8, lead=("dataset",))
    assert "1.396" in md_path.read_text() and "| Dataset |" in md_path.read_text()
    assert list(pd.read_csv(csv_path)["dataset"])[:1] == ["springset"]


def test_a_run_trained_on_another_split_is_refused(tmp_path):
    run = tmp_path / "GCN-250"
    run.mkdir()
    (run / "split.json").write_text(json.dumps({"splits": {"test": ["a", "b"]}}))
    ev.check_test_split({"GCN-250": run}, {"splits": {"test": ["a", "b"]}})
    with pytest.raises(ev.EvaluationError, match="different test split"):
        ev.check_test_split({"GCN-250": run}, {"splits": {"test": ["a", "c"]}})


def test_figure_15(tmp_path):
    split = split_of(4)
    examples = {"Naive": {0: split.dry[0, 0].numpy(), 2: split.dry[2, 0].numpy()},
                "Silence": {0: np.zeros(3000), 2: np.zeros(3000)}}
    fig = ev.plot_predictions(examples, split, 16_000, title="Fig 15")
    assert len(fig.axes) == 4
    import matplotlib.pyplot as plt

    from springstudy.outputs import save_figure

    assert save_figure(fig, tmp_path / "fig15.png", close=True).stat().st_size > 0
    assert not plt.fignum_exists(fig.number)          # closed


# --- runs, checkpoints, command line -------------------------------------------------------------

def save_run(folder, name: str = "GCN-250", sample_rate: int = 16_000, seed: int = 0, **config):
    folder.mkdir(parents=True)
    model = build(name, seed=seed, **TINY[name])
    save_checkpoint(model, folder / "best.pt", sample_rate=sample_rate,
                    config={"data": None, "split_file": None, "seed": 20231, "split_method": "random", **config})
    return model


def test_find_runs_orders_and_labels(tmp_path):
    save_run(tmp_path / "springset" / "zz-GCN-250", "GCN-250")
    save_run(tmp_path / "springset" / "GCN-250", "GCN-250", seed=1)
    save_run(tmp_path / "springset" / "TCN-baseline", "TCN-baseline")
    (tmp_path / "springset" / "not-a-run").mkdir()
    runs = ev.find_runs([tmp_path / "springset"])
    assert list(runs) == ["TCN-baseline", "GCN-250", "GCN-250 (zz-GCN-250)"]
    assert list(ev.find_runs([tmp_path / "springset" / "GCN-250"])) == ["GCN-250"]
    assert list(ev.find_runs([tmp_path / "springset"], models=["tcn-baseline"])) == ["TCN-baseline"]
    with pytest.raises(ev.EvaluationError):
        ev.find_runs([tmp_path / "nowhere"])


def test_score_runs_matches_the_model_and_checks_the_rate(tmp_path):
    model = save_run(tmp_path / "GCN-250")
    split = split_of(3)
    scored = ev.score_runs({"GCN-250": tmp_path / "GCN-250"}, split, 16_000, batch_size=2)["GCN-250"]
    with torch.no_grad():
        expected = compute_all(model.eval()(split.dry), split.wet, reduction="none")
    np.testing.assert_allclose(scored.items["esr"], expected["esr"], rtol=1e-5)
    assert scored.items["params"].iloc[0] == model.num_parameters and scored.items["kind"].iloc[0] == "model"
    with pytest.raises(ev.EvaluationError, match="48000 Hz"):
        ev.score_runs({"GCN-250": tmp_path / "GCN-250"}, split, 48_000)


def test_evaluate_cli_end_to_end(tmp_path):
    """Data whose wet is exactly WET_GAIN x dry: Naive ESR = (1 - 1/WET_GAIN)² and the Linear IR
    (a one-tap gain) is exact, through the whole path: split, transforms, models, files. (The
    fixture's notes are pure tones over a -60 dB noise floor, where the default Tikhonov floor
    of -60 dB would shrink the estimate; a far lower floor lets the fit be exact.)"""
    data = write_springset(tmp_path / "springset", n_train=6, n_val=6, length=3000)
    save_run(tmp_path / "runs" / "springset" / "GCN-250", data=str(data))
    from springstudy.errors import UserError
    parser = argparse.ArgumentParser()
    register_evaluate(parser.add_subparsers())
    out = tmp_path / "reports"
    args = parser.parse_args(["evaluate", "--run", str(tmp_path / "runs" / "springset"), "--resamples", "200",
                              "--items", str(out / "items.csv"), "--table", str(out / "table9_16k.csv"),
                              "--metrics", str(out / "evaluate_16k.json"), "--figure", str(out / "fig15.png"),
                              "--ir-regularisation", "1e-12", "--quiet"])
    args.func(args)
    items = pd.read_csv(out / "items.csv")
    assert set(items["model"]) == {"GCN-250", *ev.REFERENCE_BASELINES}
    n_test = items.groupby("model").size()
    assert (n_test == 3).all()                                 # 12 items: 6/3/3
    by_model = items.groupby("model")["esr"]
    np.testing.assert_allclose(by_model.get_group("Naive"), (1 - 1 / WET_GAIN) ** 2, rtol=1e-4)
    assert by_model.get_group("Linear IR").max() < 1e-6
    np.testing.assert_allclose(by_model.get_group("Silence"), 1.0, atol=1e-6)
    record = json.loads((out / "evaluate_16k.json").read_text())
    assert record["dataset"] == "springset" and record["models"]["Naive"]["n_items"] == 3
    assert (out / "table9_16k.md").exists() and (out / "fig15.png").exists()

    bad = parser.parse_args(["evaluate", "--run", str(tmp_path / "missing"), "--quiet"])
    with pytest.raises(UserError, match="no such run"):
        bad.func(bad)


def test_command_help_states_the_package_defaults():
    """The command leaves its options at None and fills in the package's defaults; its help
    names them, so the two must agree."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register_evaluate(sub)
    text = " ".join(sub.choices["evaluate"].format_help().split())
    for value in (ev.DEFAULT_RESAMPLES, ev.DEFAULT_CONFIDENCE, ev.DEFAULT_BATCH_SIZE, ev.DEFAULT_EXAMPLES,
                  DEFAULT_PRE_EMPHASIS, LINEAR_IR_REGULARISATION):
        assert f"(default: {value})" in text, value
    assert f"(default: {', '.join(ev.REFERENCE_BASELINES)};" in text
    assert BASELINE_CHOICES == CLOSED_FORM_BASELINES


# --- the thesis's published numbers --------------------------------------------------------------

def test_thesis_tables_transcribed():
    assert len(TABLE8.rows) == 3 and len(TABLE9.rows) == 7 and len(TABLE10.rows) == 9
    naive = TABLE8.printed().set_index("model").loc["Naive"]
    assert naive["ESR"] == 1.396 and naive["MR-STFT"] == 1.897
    gcn = corrected_reading(TABLE9).set_index("model").loc["GCN-250"]
    assert (gcn["mse"], gcn["esr"], gcn["dc"]) == (0.012, 0.223, 0.000242) and pd.isna(gcn["mr_stft"])
    assert corrected_reading(TABLE8).set_index("model").loc["Naive", "esr"] == 1.396


@pytest.mark.parametrize("table", [TABLE9, TABLE10])
def test_relabelling_is_consistent(table):
    """Printed "ESR"/"DC" = MSE/ESR = mean target power: one value per test set, and MSE >= MAE²."""
    check = relabelling_check(table)
    assert check["mse_ge_mae2"]
    assert check["power_cv"] < 0.25
    assert implied_target_power(table).between(0.5 * check["power_mean"], 2 * check["power_mean"]).all()
