"""The calibration stage (springstudy.stages.calibration) on a smoke set of the realistic tank."""

from __future__ import annotations

import json

from springstudy.data.synth import synthesize
from springstudy.data.tank import TankParams
from springstudy.stages import calibration as stage
from springstudy.stages.common import scratch_folder


def test_the_stage_writes_the_table_beside_the_real_device_its_metrics_and_figure(tmp_path) -> None:
    data = synthesize("springset", "smoke", scratch_folder("springstudy-test-") / "springset", seed=1,
                      tank=TankParams.preset("realistic"), progress=False)
    result = stage.run(data, draws=3, seed=1, tables_dir=tmp_path / "tables", metrics_dir=tmp_path / "metrics",
                       figures_dir=tmp_path / "figures")
    assert [p.name for p in result.written] == ["calibration.csv", "calibration.md", "calibration.json",
                                                "calibration.png"]
    assert all(p.is_file() for p in result.written)
    assert "4EB2C1B" in result.table_markdown.read_text()
    assert json.loads((tmp_path / "metrics" / "calibration.json").read_text())
