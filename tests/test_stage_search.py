"""The search stage (springstudy.stages.search): the smoke search end to end, and the reading's
rank correlation and step saving against their closed forms."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from springstudy.stages import search as stage
from springstudy.stages.common import dataset_sources, scratch_folder


def test_rung_correlation_and_steps_saved_are_their_closed_forms() -> None:
    rungs = pd.DataFrame({"config_id": list("abcde") + list("abcd"), "rung": [0] * 5 + [1] * 4,
                          "val_loss": [0.1, 0.2, 0.3, 0.4, 0.9, 0.15, 0.25, 0.2, 0.5]})
    n, rho = stage.rung_correlation(rungs)
    # Ranks at rung 0: 1 2 3 4; at rung 1: 1 3 2 4. Spearman: 1 - 6·Σd²/(n(n²-1)) = 1 - 6·2/60.
    assert n == 4 and rho == pytest.approx(1 - 6 * 2 / 60)
    assert stage.rung_correlation(rungs[rungs["config_id"].isin(["a", "b", "e"])]) is None
    assert stage.steps_saved({"steps_trained": 300, "steps_without_pruning": 1200}) == pytest.approx(0.75)


def test_the_smoke_search_ranks_every_configuration_and_writes_its_files(tmp_path, one_thread) -> None:
    scratch = scratch_folder("springstudy-test-")
    data = dataset_sources(None, ["springset"], 6, scratch)["springset"]
    plan = stage.prepare(data, seed=6, size="smoke", scratch=scratch)
    result = stage.run(plan, runs_dir=tmp_path / "runs", seed=6, tables_dir=tmp_path / "tables",
                       figures_dir=tmp_path / "figures", metrics_path=tmp_path / "search.json", progress=False)
    assert sorted(result.ranking["config_id"]) == sorted(c.config_id for c in plan.candidates)
    assert json.loads((tmp_path / "search.json").read_text()) == json.loads(json.dumps(result.metrics))
    assert all(p.is_file() for p in result.written)
    assert f"pruning saved {stage.steps_saved(result.budget):.0%}" in stage.reading(result)
