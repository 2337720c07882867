"""The train stage (springstudy.stages.train): one named run of params.yaml, its metrics, history
and figure, on a smoke set the synthetic tank renders."""

from __future__ import annotations

import json

import pandas as pd

from springstudy.config import load_params
from springstudy.stages import train as stage
from springstudy.stages.common import dataset_sources, scratch_folder


def test_a_named_run_trains_with_its_own_settings_and_writes_its_files(tmp_path, one_thread) -> None:
    params = load_params()
    params["train"]["runs"]["GCN-250_16k"]["profiles"] = {"smoke": {"max_steps": 3, "lr": 0.002}}
    data = dataset_sources(None, ["springset"], 1, scratch_folder("springstudy-test-"))["springset"]
    result = stage.run("GCN-250", "springset", "smoke", data, tmp_path / "run", run="GCN-250_16k",
                       metrics_path=tmp_path / "m.json", figure_path=tmp_path / "f.png",
                       history_path=tmp_path / "h.csv", params=params)
    assert result.config.lr == 0.002 and result.config.max_steps == 3      # the run's keys for the profile
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics == stage.run_metrics("GCN-250", "springset", result.result.summary)
    assert metrics["steps"] == 3 and metrics["best_val_loss"] == min(h["val_loss"] for h in result.result.history)
    history = pd.read_csv(tmp_path / "h.csv")
    assert list(history["step"]) == [h["step"] for h in result.result.history]
    assert (tmp_path / "f.png").stat().st_size > 1000 and (tmp_path / "run" / "best.pt").is_file()
    assert "the run stopped by max steps" in stage.reading(result)
