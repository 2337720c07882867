"""The ir stage (springstudy.stages.ir): what notebook 07 shows and DVC tracks, run on a tank
built here, whose true IR is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from springstudy.acoustics import DEVICE
from springstudy.acoustics.sweep import SweepSpec
from springstudy.stages import ir as stage

FS = 16_000
SPEC = SweepSpec(duration=0.5, tail=1.0)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("ir")
    parts = stage.rate_parts(FS, ["WaveNet-10"])
    return stage.run(parts, SPEC, seed=3, table_path=out / "tables" / "rt60.csv", figures_dir=out / "figures",
                     tank_rt60=0.3, stability_seconds=0.5), out


def test_the_sweep_recovers_the_tanks_true_ir(result) -> None:
    result, _ = result
    assert set(result.tank_checks) == {FS}
    assert result.tank_checks[FS].error_db < -40.0           # the chain adds nothing a comparison would see
    assert result.references[FS].kind == "true" and not result.estimated_rates


def test_the_table_holds_every_system_against_the_device(result) -> None:
    result, out = result
    table = pd.read_csv(out / "tables" / "rt60.csv")
    assert set(table["system"]) == {DEVICE, "WaveNet-10"}
    t30 = table[(table["band"] == "broadband") & (table["method"] == "t30")].set_index("system")
    device, model = t30.loc[DEVICE, "rt60_s"], t30.loc["WaveNet-10", "rt60_s"]
    assert np.isfinite(model)                                # the untrained model's short decay is measurable
    assert t30.loc["WaveNet-10", "error_pct"] == pytest.approx(100 * (model - device) / device, abs=1e-3)
    # The device's decay is the tank's: T30 within 5% of what it was built with.
    assert device == pytest.approx(0.3, rel=0.05)
    assert result.models_frame().index.tolist() == [("16 kHz", "WaveNet-10")]
    assert any(line.startswith("16 kHz WaveNet-10: RT60 from T30") for line in result.t30_lines())


def test_the_figures_written_are_the_ones_returned(result) -> None:
    result, out = result
    assert sorted(result.figures) == sorted(stage.FIGURE_STEMS)
    for stem, path in result.figures.items():
        assert path == out / "figures" / f"{stem}.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out / "tables" / "rt60.csv" in result.written


def test_settings_that_do_not_fit_are_refused(tmp_path) -> None:
    with pytest.raises(stage.IRStageError, match="already 48000"):
        stage.rate_parts(48_000, ["GCN-250"], ["GCN-250"])
    parts = stage.rate_parts(FS, ["GCN-250"], data_dir=tmp_path)
    with pytest.raises(stage.IRStageError, match="give the device's reference"):
        stage.references_for(parts, seed=0, tank_rt60=0.3)
    parts = stage.rate_parts(FS, ["GCN-250"], checkpoints_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint of GCN-250 at 16 kHz"):
        stage.load_part_model(parts[FS], "GCN-250", seed=0)
