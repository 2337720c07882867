"""The ``overview`` stage (thesis §3.2, Tables 3-4, Figs 8-11): the datasets described, and the
split files every training stage reads.

:func:`run` writes, per dataset, its overview table (items, lengths, levels, DC offsets, SNR
per subset and signal), the waveforms and spectrograms of ``n_examples`` seeded pairs, and, with
``splits_dir``, the seeded 50/25/25 split file ``<splits_dir>/<dataset>.json`` (SpringSet by
``split_method``; EGFxSet always at random). :func:`reading` is what notebook
``01_dataset_overview`` says of the levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from springstudy.data import open_dataset
from springstudy.data.overview import (overview_table, pick_examples, plot_spectrogram_pairs, plot_waveform_pairs,
                                       write_table)
from springstudy.data.splits import make_splits, write_split_file
from springstudy.outputs import save_figure

#: File stem and title of each dataset's overview table (thesis Tables 3 and 4).
TABLES = {"springset": ("table3_springset_overview", "Table 3 · SpringSet"),
          "egfxset": ("table4_egfxset_overview", "Table 4 · EGFxSet")}
#: File stems of each dataset's waveform and spectrogram figures (thesis Figs 8-11).
FIGURES = {"springset": ("fig08_springset_waveforms", "fig09_springset_spectrograms"),
           "egfxset": ("fig10_egfxset_waveforms", "fig11_egfxset_spectrograms")}
#: One 16-bit quantisation step, the thesis's yardstick for DC offsets.
LSB16 = 2.0 ** -15


@dataclass
class OverviewStage:
    """What :func:`run` measured and wrote."""

    pairs: dict[str, Any]
    overview: dict[str, pd.DataFrame]
    tables: dict[str, Path]
    examples: dict[str, list[int]]
    splits: dict[str, dict[str, Any]]
    written: list[Path] = field(default_factory=list)

    def split_counts(self) -> pd.DataFrame:
        """Items per split and dataset (one row per dataset, labelled with its split method)."""
        return pd.DataFrame({f"{name} ({record['method']})": record["counts"]
                             for name, record in self.splits.items()}).T


def run(sources: Mapping[str, Path], *, seed: int, n_examples: int, split_method: str, tables_dir: Path,
        figures_dir: Path, splits_dir: Path | None = None) -> OverviewStage:
    """Describe every dataset in ``sources`` and draw its split (see the module doc)."""
    pairs = {name: open_dataset(path) for name, path in sources.items()}
    result = OverviewStage(pairs, {}, {}, {}, {})
    for name, p in pairs.items():
        result.overview[name] = overview_table(p)
        csv_path, md_path = write_table(result.overview[name], tables_dir, TABLES[name][0])
        result.tables[name] = md_path
        result.written += [csv_path, md_path]
    for name, p in pairs.items():
        result.examples[name] = pick_examples(p, n_examples, seed)
        wave_stem, spec_stem = FIGURES[name]
        wave = plot_waveform_pairs(p, result.examples[name], title=f"{name}: dry (input) and wet (target)")
        result.written.append(save_figure(wave, figures_dir / f"{wave_stem}.png", close=True))
        spec = plot_spectrogram_pairs(p, result.examples[name], title=f"{name}: dry (top) and wet (bottom)")
        result.written.append(save_figure(spec, figures_dir / f"{spec_stem}.png", close=True))
    for name, p in pairs.items():
        method = split_method if name == "springset" else "random"
        result.splits[name] = make_splits(p, seed, method=method)
        if splits_dir is not None:
            result.written.append(write_split_file(splits_dir / f"{name}.json", result.splits[name]))
    return result


def level_lines(name: str, table: pd.DataFrame) -> list[str]:
    """Per subset of one overview table (Markdown bullets): the wet target's RMS level against the
    dry input's, the mean peaks, the largest mean DC offset (also in 16-bit steps) and the SNR
    lower bounds."""
    stats = table[table["signal"] != "dry+wet"].set_index(["subset", "signal"])
    lines = []
    for subset in dict.fromkeys(stats.index.get_level_values(0)):
        dry, wet = stats.loc[(subset, "dry")], stats.loc[(subset, "wet")]
        dc = max(abs(dry["dc_offset"]), abs(wet["dc_offset"]))
        lines.append(
            f"* **{name} {subset}**: the wet target sits {wet['rms_dbfs'] - dry['rms_dbfs']:+.1f} dB "
            f"from the dry input (RMS); peaks average {dry['max']:.3f} dry and {wet['max']:.3f} wet; "
            f"the largest mean DC offset is {dc:.1e} ({dc / LSB16:.1g} of a 16-bit step); "
            f"SNR lower bounds {dry['snr_db']:.1f} dB dry and {wet['snr_db']:.1f} dB wet.")
    return lines


def reading(result: OverviewStage) -> str:
    """The levels of every dataset and subset (Markdown, see :func:`level_lines`)."""
    return "\n".join(line for name, table in result.overview.items() for line in level_lines(name, table))


__all__ = ["FIGURES", "LSB16", "OverviewStage", "TABLES", "level_lines", "reading", "run"]
