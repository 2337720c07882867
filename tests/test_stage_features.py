"""The features stage (springstudy.stages.features): the descriptor tables and figures of a smoke
set, and the pitch checks its reading states, against closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from springstudy.stages import features as stage
from springstudy.stages.common import dataset_sources, scratch_folder


def test_semitones_and_the_pitch_checks_on_constructed_tables() -> None:
    assert stage.semitones(880.0, 440.0) == pytest.approx(12.0)
    assert stage.semitones(440.0 * 2 ** (1 / 12), 440.0) == pytest.approx(1.0)
    notes = pd.DataFrame({"id": ["a", "b", "c", "d"], "frequency_hz": [110.0, 220.0, 330.0, 440.0]})
    f0 = [110.0 * 2 ** (0.2 / 12), 440.0, 330.0 * 2 ** (0.7 / 12), 440.0]   # b an octave up, c 0.7 st off
    table = pd.DataFrame({"item_id": list("abcd") * 2, "side": ["x"] * 4 + ["y"] * 4,
                          "pitch_yin_f0_median": f0 + [1.0] * 4})
    assert stage.pitch_accuracy(table, notes) == {"within_half_semitone": 0.5, "octave_slips": 0.25}
    preliminary = table.rename(columns={"pitch_yin_f0_median": "pyin_f0_median"}).assign(
        pyin_f0_median=[f * 2 ** (0.3 / 12) for f in f0] + [2.0] * 4)
    assert stage.pitch_agreement(preliminary, table) == {"x": 1.0, "y": 0.0}
    assert (stage.tonality(0.9), stage.tonality(0.012)) == ("tone-like", "noise-like")


def test_the_stage_writes_the_descriptor_table_figures_and_summary(tmp_path) -> None:
    data = dataset_sources(None, ["springset"], 3, scratch_folder("springstudy-test-"))["springset"]
    result = stage.run(data, features_dir=tmp_path / "features", figures_dir=tmp_path / "figures",
                       tables_dir=tmp_path / "tables", frame_seconds=0.064, hop_seconds=0.032, workers=1,
                       preliminary=False)
    assert len(result.table) == 2 * len(result.pairs)              # one row per item and side
    assert (tmp_path / "features" / "springset_features.csv").is_file()
    assert (tmp_path / "figures" / "springset_descriptors.png").stat().st_size > 1000
    assert all(p.is_file() for p in result.written) and result.preliminary is None
    text, claims = stage.reading(result)
    assert f"{int(claims['holds'].sum())} of {len(claims)} thesis observations hold" in text
    assert np.isfinite(result.bass.share)
