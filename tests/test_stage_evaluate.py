"""The evaluate stage (springstudy.stages.evaluate): Tables 9-10 with bounds, learning curves and
Fig 15 for a demo run on a smoke set the synthetic tank renders."""

from __future__ import annotations

import pandas as pd
import pytest

from springstudy.stages import evaluate as stage
from springstudy.stages.common import dataset_sources, scratch_folder, split_files


@pytest.fixture(scope="module")
def result(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("evaluate")
    sources = dataset_sources(None, ["springset"], 4, scratch_folder("springstudy-test-"))
    splits = split_files(None, ["springset"])
    stage.train_demo_runs(sources, splits, out / "runs", model="GCN-250", steps=2, crop_seconds=0.25, batch_size=2,
                          seed=4, split_method="random")
    runs = stage.find_stage_runs(out / "runs", ["springset"])
    return stage.run(sources, splits, runs, seed=4, split_method="random", baselines=["Naive", "Silence", "Linear IR"],
                     noise_amplitude=None, ir_seconds=None, ir_regularisation=1e-6, pre_emphasis=0.85,
                     n_resamples=200, confidence=0.95, batch_size=4, n_examples=2, figure_baselines=["Linear IR"],
                     bounds=True, bound_curve_points=3, tables_dir=out / "tables", metrics_dir=out / "metrics",
                     figures_dir=out / "figures"), out


def test_the_stage_writes_table9_with_bounds_and_its_figures(result) -> None:
    result, out = result
    assert list(result.runs["springset"]) == ["GCN-250"]
    table = pd.read_csv(out / "tables" / "table9_16k.csv").set_index("model")
    assert {"GCN-250", "Naive", "Silence", "Linear IR"} <= set(table.index)
    gcn = table.loc["GCN-250"]
    assert gcn["gap"] == pytest.approx(gcn["esr"] / gcn["bound_esr"], rel=1e-3)
    assert (out / "metrics" / "evaluate_16k.json").is_file() and (out / "tables" / "bound_curve_16k.csv").is_file()
    assert {kind: sorted(f) for kind, f in result.figures.items()} == {
        "bound": ["springset"], "learning_curves": ["springset"], "fig15": ["springset"]}
    assert all(p.is_file() for p in result.written)


def test_the_verdicts_against_the_linear_ir_agree_with_the_means(result) -> None:
    result, _ = result
    verdicts = stage.linear_ir_verdicts(result, "springset")
    table = result.summaries["springset"].set_index("model")
    for model, verdict in verdicts.items():
        assert verdict in {"better", "worse", "undecided"}
        if verdict == "better":
            assert table.loc[model, "esr"] < table.loc["Linear IR", "esr"]
        if verdict == "worse":
            assert table.loc[model, "esr"] > table.loc["Linear IR", "esr"]
    text = stage.reading(result)
    assert f"{list(verdicts.values()).count('better')} of 1 trained models have a lower ESR" in text
