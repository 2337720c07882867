"""The ``features`` stage (thesis §3.2.3, Figs 12-13): the Essentia descriptors of one dataset,
dry against wet, the share of bass notes, and the preliminary loudness/pitch/noise analysis.

:func:`run` computes and writes the descriptor table (CSV and its settings as JSON), the two
descriptor figures and the summary table, and (``preliminary``) the LUFS/pYIN/noise table and
its summary; it returns them with the bass-share estimate. :func:`pitch_accuracy`,
:func:`pitch_agreement` and :func:`reading` are what notebook ``02_features`` says of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from springstudy.data import detect_layout, open_dataset
from springstudy.features import (DESCRIPTORS, BassShare, FeatureParams, bass_share_from_table, check_thesis_claims,
                                  descriptor_summary, descriptor_table, dry_wet_reading, group_column,
                                  plot_descriptors, table_meta, true_bass_share, write_descriptor_table,
                                  write_summary)
from springstudy.outputs import save_figure

#: Half a semitone, in semitones: a pitch estimate this close to another names the same note.
HALF_SEMITONE = 0.5


@dataclass
class FeaturesStage:
    """What :func:`run` computed and wrote."""

    data: Path
    layout: str
    pairs: Any
    params: FeatureParams
    table: pd.DataFrame
    by: str
    summary: pd.DataFrame
    bass: BassShare
    true_bass: float | None
    preliminary: pd.DataFrame | None = None
    preliminary_summary: pd.DataFrame | None = None
    written: list[Path] = field(default_factory=list)


def run(data: Path, *, features_dir: Path, figures_dir: Path, tables_dir: Path, frame_seconds: float,
        hop_seconds: float, split_file: Path | None = None, workers: int | None = None,
        preliminary: bool = True) -> FeaturesStage:
    """Describe the dataset at ``data`` (see the module doc); files go to ``features_dir``
    (tables), ``figures_dir`` and ``tables_dir`` (summaries)."""
    params = FeatureParams(frame_seconds=frame_seconds, hop_seconds=hop_seconds)
    layout = detect_layout(data)
    pairs = open_dataset(data)
    table = descriptor_table(data, "essentia", params, workers=workers, split_file=split_file)
    written = list(write_descriptor_table(table, features_dir / f"{layout}_features.csv",
                                          table_meta(data, "essentia", params, split_file)))
    by = group_column(table)
    fig = plot_descriptors(table, by, title=f"{layout}: Essentia descriptors per {by} (x dry, y wet)")
    written.append(save_figure(fig, figures_dir / f"{layout}_descriptors.png", close=True))
    fig_std = plot_descriptors(table, by, title=f"{layout}: within-file standard deviation per {by}", statistic="std")
    written.append(save_figure(fig_std, figures_dir / f"{layout}_descriptors_std.png", close=True))
    summary = descriptor_summary(table, by)
    written += list(write_summary(summary, tables_dir, f"{layout}_descriptors", [d.value_column for d in DESCRIPTORS]))
    result = FeaturesStage(Path(data), layout, pairs, params, table, by, summary, bass_share_from_table(table),
                           true_bass_share(data), written=written)
    if preliminary:
        result.preliminary = descriptor_table(data, "preliminary", params, workers=workers, split_file=split_file)
        result.written += list(write_descriptor_table(result.preliminary, features_dir / f"{layout}_preliminary.csv",
                                                      table_meta(data, "preliminary", params, split_file)))
        result.preliminary_summary = descriptor_summary(result.preliminary, by)
        result.written += list(write_summary(result.preliminary_summary, tables_dir, f"{layout}_preliminary"))
    return result


def semitones(f: Any, reference: Any) -> Any:
    """The interval from ``reference`` to ``f`` in semitones: 12·log2(f / reference)."""
    return 12 * np.log2(np.asarray(f, dtype=np.float64) / np.asarray(reference, dtype=np.float64))


def pitch_accuracy(table: pd.DataFrame, notes: pd.DataFrame) -> dict[str, float]:
    """How well the dry PitchYin f0 names the generated notes (``notes.csv``: ``id``,
    ``frequency_hz``): the share of items within half a semitone, and the share an octave off."""
    dry_f0 = table[table["side"] == "x"].set_index("item_id")["pitch_yin_f0_median"]
    error = pd.Series(semitones(dry_f0, notes.set_index("id").loc[dry_f0.index, "frequency_hz"]), index=dry_f0.index)
    return {"within_half_semitone": float((error.abs() < HALF_SEMITONE).mean()),
            "octave_slips": float(((error.abs() - 12).abs() < HALF_SEMITONE).mean())}


def pitch_agreement(preliminary: pd.DataFrame, table: pd.DataFrame) -> dict[str, float]:
    """Per side, the share of files on which pYIN and PitchYin agree within half a semitone."""
    both = preliminary.merge(table[["item_id", "side", "pitch_yin_f0_median"]], on=["item_id", "side"])
    agree = pd.Series(np.abs(semitones(both["pyin_f0_median"], both["pitch_yin_f0_median"])) < HALF_SEMITONE,
                      index=both.index)
    return {side: float(part.mean()) for side, part in agree.groupby(both["side"])}


def tonality(flatness: float) -> str:
    """Essentia's FlatnessDB read in words: above 0.5 ``tone-like``, else ``noise-like``."""
    return "tone-like" if flatness > 0.5 else "noise-like"


def reading(result: FeaturesStage) -> tuple[str, pd.DataFrame]:
    """The reading (Markdown): what the spring does to each descriptor, how many of the thesis's
    observations hold here, and the dry and wet tonality; and the table of the thesis's claims."""
    claims = check_thesis_claims(result.table)
    held = claims[claims["holds"]]["claim"].tolist()
    failed = claims[~claims["holds"]]["claim"].tolist()
    flatness = result.table.groupby("side")["flatness_db_mean"].mean()
    lines = [f"On this {result.layout} data {len(held)} of {len(claims)} thesis observations hold"
             + (f"; these do not: {'; '.join(failed)}." if failed else ".")]
    lines.append(f"Mean FlatnessDB is {flatness['x']:.3f} dry and {flatness['y']:.3f} wet on Essentia's scale "
                 f"(1 = pure tone, about 0.01 = white noise): on average the dry files are {tonality(flatness['x'])} "
                 f"and the wet files {tonality(flatness['y'])}.")
    text = "\n".join(f"- {s}" for s in dry_wet_reading(result.table)) + "\n\n" + " ".join(lines)
    return text, claims


__all__ = ["FeaturesStage", "HALF_SEMITONE", "pitch_accuracy", "pitch_agreement", "reading", "run", "semitones",
           "tonality"]
