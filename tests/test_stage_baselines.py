"""The baselines stage (springstudy.stages.baselines): Table 8 on smoke sets the synthetic tank
renders, and the verdicts its reading states, each against its closed form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from springstudy.evaluate import paired_verdict, silence_verdict
from springstudy.stages import baselines as stage
from springstudy.stages.common import dataset_sources, scratch_folder, split_files


def test_verdicts_against_silence_and_between_two_predictors() -> None:
    assert silence_verdict(1.2, 1.5) == "worse than"
    assert silence_verdict(0.2, 0.9) == "better than"
    assert silence_verdict(0.9, 1.1) == "indistinguishable from"
    assert paired_verdict(-0.3, -0.1) == "better than"
    assert paired_verdict(0.1, 0.2) == "worse than"
    assert paired_verdict(-0.1, 0.2) == "not distinguishable from"


def test_the_noise_ceiling_expectation_matches_noise_drawn() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 200_000)) * np.array([[0.1], [0.2], [0.3], [0.05]])
    a = 0.25
    n = rng.uniform(-a, a, size=y.shape)
    measured = float(np.mean(np.sum((y - n) ** 2, axis=1) / np.sum(y ** 2, axis=1)))
    assert stage.noise_ceiling_esr(a, np.mean(y ** 2, axis=1)) == pytest.approx(measured, rel=0.01)


@pytest.fixture(scope="module")
def result(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("baselines")
    sources = dataset_sources(None, ["springset"], 5, scratch_folder("springstudy-test-"))
    return stage.run(sources, split_files(None, ["springset"]), out / "runs", seed=5, split_method="random",
                     tcn_steps=2, tcn_crop_seconds=0.25, noise_amplitude=None, ir_seconds=None,
                     ir_regularisation=1e-6, pre_emphasis=0.85, n_resamples=200, confidence=0.95, batch_size=4,
                     tables_dir=out / "tables", metrics_dir=out / "metrics", figures_dir=out / "figures"), out


def test_the_stage_writes_table8_its_metrics_and_figures(result) -> None:
    result, out = result
    table = pd.read_csv(out / "tables" / "table8_baselines.csv")
    assert set(table["model"]) == {"TCN-baseline", "Naive", "Noise ceiling", "Silence", "Linear IR"}
    silence = table.set_index("model").loc["Silence"]
    assert silence["esr"] == pytest.approx(1.0) and silence["esr_lo"] == pytest.approx(1.0)
    metrics = json.loads((out / "metrics" / "baselines_16k.json").read_text())
    assert metrics                                               # one record per baseline
    assert all(p.is_file() for p in result.written)
    assert result.figures["springset"].name == "baselines_linear_ir_16k.png"
    # The synthetic set carries its tank's true IR, so the fit's error against it is reported.
    assert set(result.ir_errors) == {"springset"} and np.isfinite(result.ir_errors["springset"])


def test_the_reading_states_each_verdict_from_the_table(result) -> None:
    result, _ = result
    text = stage.reading(result)
    naive = result.summary.set_index("model").loc["Naive"]
    assert f"{silence_verdict(naive['esr_lo'], naive['esr_hi'])} Silence" in text
    assert "The TCN-baseline after 2 steps" in text and "the Linear IR (paired difference" in text
