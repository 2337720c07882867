"""The overview stage (springstudy.stages.overview): Tables 3-4, Figs 8-11 and the split files,
on smoke sets the synthetic tank renders."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from springstudy.data import open_dataset
from springstudy.stages import overview as stage
from springstudy.stages.common import dataset_sources, scratch_folder


def test_the_level_reading_is_the_tables_closed_form() -> None:
    table = pd.DataFrame([
        {"subset": "train", "signal": "dry", "rms_dbfs": -20.0, "max": 0.9, "dc_offset": 2.0 ** -16, "snr_db": 60.0},
        {"subset": "train", "signal": "wet", "rms_dbfs": -14.0, "max": 1.0, "dc_offset": -1e-6, "snr_db": 50.0},
        {"subset": "train", "signal": "dry+wet", "rms_dbfs": 0.0, "max": 0.0, "dc_offset": 0.0, "snr_db": 0.0}])
    (line,) = stage.level_lines("springset", table)
    assert "sits +6.0 dB from the dry input" in line
    assert "DC offset is 1.5e-05 (0.5 of a 16-bit step)" in line
    assert "SNR lower bounds 60.0 dB dry and 50.0 dB wet" in line


def test_the_stage_describes_both_datasets_and_writes_their_splits(tmp_path) -> None:
    sources = dataset_sources(None, ["springset", "egfxset"], 2, scratch_folder("springstudy-test-"))
    result = stage.run(sources, seed=2, n_examples=2, split_method="random", tables_dir=tmp_path / "tables",
                       figures_dir=tmp_path / "figures", splits_dir=tmp_path / "splits")
    for name in ("springset", "egfxset"):
        assert (tmp_path / "tables" / f"{stage.TABLES[name][0]}.csv").is_file()
        for stem in stage.FIGURES[name]:
            assert (tmp_path / "figures" / f"{stem}.png").stat().st_size > 1000
        record = json.loads((tmp_path / "splits" / f"{name}.json").read_text())
        n = len(open_dataset(sources[name]))
        assert sum(record["counts"].values()) == n
        assert record["counts"]["train"] == pytest.approx(n / 2, abs=1)      # thesis Table 7: 50/25/25
    assert result.split_counts().shape == (2, 3)
    assert all(p.is_file() for p in result.written)
    # One reading line per subset that has both signals described.
    described = sum(len({s for s, g in t.groupby("subset") if {"dry", "wet"} <= set(g["signal"])})
                    for t in result.overview.values())
    assert stage.reading(result).count("* **") == described >= 2
