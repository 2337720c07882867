"""Table 3/4 statistics and Figures 8-11 on closed-form signals and tiny real-format fixtures."""

from __future__ import annotations

import math

import h5py
import matplotlib
import numpy as np
import pytest
from datafixtures import WET_GAIN, write_egfxset, write_springset

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from springstudy.config import project_root  # noqa: E402
from springstudy.data import open_dataset  # noqa: E402
from springstudy.data.overview import (  # noqa: E402
    COLUMNS,
    overview_markdown,
    overview_table,
    pick_examples,
    plot_spectrogram_pairs,
    plot_waveform_pairs,
    snr_db,
    write_table,
)
from springstudy.nbtools import unstripped_cells  # noqa: E402
from springstudy.outputs import save_figure  # noqa: E402

SR = 16_000


def _tone_in_noise(amplitude=0.5, sigma=0.01, seconds=2.0, seed=0):
    """A sine over the first half, white noise of std ``sigma`` throughout."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    tone = amplitude * np.sin(2 * np.pi * 440 * t) * (t < seconds / 2)
    return tone, sigma * rng.standard_normal(n)


def test_snr_of_a_tone_in_white_noise_matches_the_closed_form():
    tone, noise = _tone_in_noise()
    expected = 10 * math.log10(np.mean(tone ** 2) / 0.01 ** 2)     # (0.5^2/2)/2 over 1e-4: 27.96 dB
    assert snr_db(tone + noise, SR) == pytest.approx(expected, abs=1.0)
    quieter = snr_db(tone + 10 * noise, SR)                          # 20 dB more noise
    assert quieter == pytest.approx(expected - 20, abs=1.0)


def test_snr_of_noise_alone_is_low_and_of_digital_silence_is_the_floor():
    _, noise = _tone_in_noise()
    assert snr_db(noise, SR) < 0
    tone, _ = _tone_in_noise()
    assert snr_db(tone, SR) > 90                                    # silent frames: floor, not inf
    assert math.isfinite(snr_db(tone, SR))


def test_snr_ignores_an_artificial_fade_out_when_told():
    tone, noise = _tone_in_noise()
    x = tone + noise
    fade = int(0.5 * SR)
    x[-fade:] *= np.linspace(1, 0, fade)                            # SpringSet's 0.5 s fade-out
    plain = snr_db(tone + noise, SR)
    assert snr_db(x, SR, exclude_tail_seconds=0.5) == pytest.approx(plain, abs=1.0)
    assert snr_db(x, SR) > plain + 3                                # the fade fakes a quieter floor


def test_springset_table_matches_numpy_on_the_fixture(tmp_path):
    root = write_springset(tmp_path / "ss")
    table = overview_table(open_dataset(root))
    assert list(table.columns) == COLUMNS
    assert list(table["data"]) == ["train dry", "train wet", "val_test dry", "val_test wet", "Total"]
    assert list(table["items"]) == [6, 6, 4, 4, 20]
    row = table.iloc[0]
    assert row["length_s"] == pytest.approx(6 * 1600 / SR)
    assert row["size_mb"] == pytest.approx((root / "dry_train.h5").stat().st_size / 1e6)
    with h5py.File(root / "dry_train.h5") as f:
        x = f["Xtrain"][:, :, 0]
    assert row["min"] == pytest.approx(x.min(axis=1).mean())
    assert row["max"] == pytest.approx(x.max(axis=1).mean())
    assert row["dc_offset"] == pytest.approx(x.mean(axis=1).mean())
    # wet is exactly WET_GAIN x dry: the level difference is 20 log10(0.5) = -6.02 dB
    assert table.iloc[1]["rms_dbfs"] - row["rms_dbfs"] == pytest.approx(20 * math.log10(WET_GAIN), abs=1e-6)
    assert table.iloc[4]["length_h"] == pytest.approx(20 * 1600 / SR / 3600)
    assert math.isnan(table.iloc[4]["snr_db"])


def test_egfxset_table_pools_as_the_thesis_or_splits_by_position(tmp_path):
    pairs = open_dataset(write_egfxset(tmp_path / "eg"))
    thesis = overview_table(pairs)
    assert list(thesis["data"]) == ["all dry", "all wet", "Total"]
    assert list(thesis["items"]) == [6, 6, 12]
    by_position = overview_table(pairs, by="subset")
    assert list(by_position["subset"])[:4] == ["Bridge", "Bridge", "Neck", "Neck"]
    with pytest.raises(ValueError, match="by must be"):
        overview_table(pairs, by="string")


def test_tables_are_written_as_csv_and_markdown(tmp_path):
    table = overview_table(open_dataset(write_springset(tmp_path / "ss")))
    csv_path, md_path = write_table(table, tmp_path / "tables", "table3_springset")
    assert csv_path.read_text().splitlines()[0] == ",".join(COLUMNS)
    md = md_path.read_text()
    assert md.startswith("| Data | Items | Length |") and "| Total | 20 |" in md
    assert overview_markdown(table) == md


def test_figures_have_one_panel_per_item_and_save_as_png(tmp_path):
    pairs = open_dataset(write_springset(tmp_path / "ss"))
    picks = pick_examples(pairs, 3, seed=4)
    assert picks == pick_examples(pairs, 3, seed=4) and len(set(picks)) == 3
    wave = plot_waveform_pairs(pairs, picks, title="Fig 8")
    spec = plot_spectrogram_pairs(pairs, picks)
    try:
        assert len(wave.axes) == 3
        assert [ax.get_title(loc="left") for ax in wave.axes] == [pairs.items[i].id for i in picks]
        assert len(spec.axes) == 6 + 1                          # 2 x 3 panels and the colour bar
        path = save_figure(spec, tmp_path / "figures" / "fig09.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        plt.close(wave)
        plt.close(spec)


def test_overview_notebook_is_stripped_and_parameterised():
    import nbformat

    path = project_root() / "notebooks" / "01_dataset_overview.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"]
    assert "data_dir = None" in code[0].source and "tables_dir" in code[0].source
    assert unstripped_cells(path) == []
