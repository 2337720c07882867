"""The efficiency stage (springstudy.stages.efficiency) on one small model: files and reading."""

from __future__ import annotations

from springstudy import efficiency as eff
from springstudy.environment import collect
from springstudy.stages import efficiency as stage


def test_the_stage_writes_table11_its_details_and_figures(tmp_path, one_thread) -> None:
    settings = eff.EfficiencySettings(models=("GCN-250",), rates=(16_000,), blocks=(512,), offline_seconds=0.25,
                                      streaming_seconds=0.25, repeats=1, threads=(1,), memory=False)
    result = stage.run(settings, tables_dir=tmp_path / "tables", figures_dir=tmp_path / "figures",
                       machine=collect())
    assert {"block", "params"} <= set(result.written)                        # the two figures
    assert all(p.is_file() for p in result.written.values())
    assert result.result.info["parameters"]["offline_seconds"] == 0.25        # the run records its settings
    assert "GCN-250" in stage.table11_markdown(result)
    assert "Machine:" in stage.reading(result)
