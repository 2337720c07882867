"""The ``ir`` stage (thesis §4.3, Figs 16-19): every model's impulse response by one sine sweep,
its decay times beside the device's, per sample rate.

:func:`run` does the stage's whole job and returns what it measured and wrote; notebook
``07_ir_rt60`` shows it, and ``springstudy ir`` measures one model with the same
:func:`measure_model`. Per rate (the first rate keeps the thesis's figure names, 48 kHz adds
``_48k``):

1. **The device's reference IR** (:func:`references_for`): a file (a synthetic dataset's
   ``tank_ir.wav`` is the tank's true IR), ``linear`` (the Linear IR baseline's estimate from
   the dataset's training pairs, for real data), ``auto`` (the first if the dataset has one), or,
   with neither a reference nor a dataset, a linear (drive 0) synthetic tank built here. Where the
   true IR is known and a dataset is given, the Linear IR estimate is measured too, as one more
   system: it shows how well the notes alone determine the decay.
2. **The measurement chain checked**: a tank built here is itself measured by sweep, and its
   normalised error against its true IR is recorded (:attr:`IRStage.tank_checks`).
3. **Every model** (:func:`measure_model`): the sweep-measured IR and the stability check.
4. **The RT60 table** of every system (T20, T30, T60, broadband and per octave band) against the
   device, written to ``table_path``, and Figs 16-19 written under ``figures_dir``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from springstudy.acoustics import DEVICE, SystemAcoustics, analyse_ir, rt60_table_by_rate, write_rt60_table
from springstudy.acoustics.reference import LINEAR, DeviceReference, device_reference
from springstudy.acoustics.stability import StabilityResult, check_stability
from springstudy.acoustics.sweep import IRMeasurement, SweepSpec, measure_ir, model_processor
from springstudy.data.tank import SpringTank, TankParams
from springstudy.errors import SpringStudyError
from springstudy.outputs import save_figure

#: The second rate the stage measures (EGFxSet); its figures carry the suffix ``_48k``.
RATE_48K = 48_000

#: How a figure's title names the device's reference, by its kind.
REFERENCE_TITLES = {"true": "true IR", "estimate": "Linear IR ESTIMATE from the training pairs",
                    "file": "IR read from a file"}

#: Figure stems of Figs 16-19, in the order the stage draws them.
FIGURE_STEMS = ("fig18_rt60", "fig16_ir", "fig17_waterfall", "fig19_energy_decay")


class IRStageError(SpringStudyError, ValueError):
    """The ir stage's settings do not fit together (a missing reference, a clash of rates)."""


@dataclass
class RatePart:
    """What the stage measures at one sample rate."""

    rate: int
    suffix: str
    models: list[str]
    checkpoints_dir: Path | None = None
    checkpoint_pattern: str = "{model}.pt"
    device_ir: str | Path | None = None
    data_dir: Path | None = None
    split_file: Path | None = None

    @property
    def label(self) -> str:
        """``16 kHz``, ``48 kHz``."""
        return rate_label(self.rate)


@dataclass
class TankCheck:
    """A tank built here, measured by sweep against its true IR."""

    error_db: float
    tail_level_db: float


@dataclass
class IRStage:
    """What :func:`run` measured and wrote."""

    spec: SweepSpec
    parts: dict[int, RatePart]
    references: dict[int, DeviceReference]
    linear_estimates: dict[int, DeviceReference]
    tank_checks: dict[int, TankCheck]
    measured: dict[int, dict[str, IRMeasurement]]
    stability: dict[int, dict[str, StabilityResult]]
    systems: dict[int, list[SystemAcoustics]]
    table: pd.DataFrame
    figures: dict[str, Path] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    @property
    def estimated_rates(self) -> list[int]:
        """Rates whose device reference is the Linear IR estimate, not a true IR."""
        return [rate for rate, reference in self.references.items() if reference.is_estimate]

    def models_frame(self) -> pd.DataFrame:
        """Per rate and model: harmonics, tail level, stability (one row each)."""
        columns = ["rate", "model", "harmonics re linear IR (dB)", "tail at the IR's end (dB)", "stable", "reason"]
        return pd.DataFrame([{"rate": rate_label(rate), "model": name,
                              "harmonics re linear IR (dB)": m.harmonic_level_db,
                              "tail at the IR's end (dB)": m.tail_level_db,
                              "stable": self.stability[rate][name].stable, "reason": self.stability[rate][name].reason}
                             for rate in self.parts for name, m in self.measured[rate].items()],
                            columns=columns).set_index(["rate", "model"])

    def t30_lines(self) -> list[str]:
        """One line per rate and system: its broadband RT60 from T30, and its error against the device."""
        t30 = self.table[(self.table["band"] == "broadband") & (self.table["method"] == "t30")]
        lines = []
        for row in t30.itertuples():
            value = "refused" if np.isnan(row.rt60_s) else f"{row.rt60_s:.3f} s"
            error = "" if row.system == DEVICE or np.isnan(row.error_pct) else f" ({row.error_pct:+.0f}% re device)"
            note = (" (device reference: Linear IR estimate)" if row.system == DEVICE and row.reference == "estimate"
                    else "")
            lines.append(f"{rate_label(row.sample_rate)} {row.system}: RT60 from T30 {value}{error}{note}")
        return lines


def rate_label(rate: int) -> str:
    """A sample rate as people say it: ``16 kHz``."""
    return f"{rate / 1000:g} kHz"


def rate_parts(sample_rate: int, models: Sequence[str], models_48k: Sequence[str] = (), *,
               checkpoints_dir: Path | None = None, checkpoint_pattern: str = "{model}.pt",
               device_ir: str | Path | None = None, data_dir: Path | None = None, split_file: Path | None = None,
               checkpoints_dir_48k: Path | None = None, checkpoint_pattern_48k: str | None = None,
               device_ir_48k: str | Path | None = None, data_dir_48k: Path | None = None,
               split_file_48k: Path | None = None) -> dict[int, RatePart]:
    """The stage's rates: ``sample_rate`` with the thesis's figure names, and 48 kHz when
    ``models_48k`` is not empty."""
    parts = {sample_rate: RatePart(sample_rate, "", list(models), checkpoints_dir, checkpoint_pattern, device_ir,
                                   data_dir, split_file)}
    if models_48k:
        if sample_rate == RATE_48K:
            raise IRStageError("sample_rate is already 48000: list the 48 kHz models in `models`, or measure "
                               "another rate first")
        parts[RATE_48K] = RatePart(RATE_48K, "_48k", list(models_48k), checkpoints_dir_48k,
                                   checkpoint_pattern_48k or checkpoint_pattern, device_ir_48k, data_dir_48k,
                                   split_file_48k)
    return parts


def references_for(parts: dict[int, RatePart], *, seed: int, tank_rt60: float, split_method: str = "random",
                   linear_ir_seconds: float | None = None, linear_ir_regularisation: float = 1e-6
                   ) -> tuple[dict[int, DeviceReference], dict[int, DeviceReference], dict[int, SpringTank]]:
    """Per rate: the device's reference IR, the Linear IR estimate where the truth is known and a
    dataset is given, and the tanks built here (see the module doc)."""
    estimate = dict(seed=seed, split_method=split_method, ir_seconds=linear_ir_seconds,
                    regularisation=linear_ir_regularisation)
    references, tanks = {}, {}
    for rate, part in parts.items():
        if part.device_ir is not None:
            references[rate] = device_reference(part.device_ir, rate, data=part.data_dir,
                                                split_file=part.split_file, **estimate)
        elif part.data_dir is None:
            tanks[rate] = SpringTank(TankParams(sample_rate=rate, rt60=tank_rt60, drive=0.0, seed=seed))
            references[rate] = DeviceReference(ir=tanks[rate].impulse_response, sample_rate=rate, kind="true",
                                               source=f"a linear (drive 0) synthetic tank built here, "
                                                      f"T30 {tank_rt60:g} s")
        else:
            raise IRStageError(f"with a dataset at {part.label} ({part.data_dir}), give the device's reference: "
                               f"device_ir{part.suffix} = {LINEAR!r} (estimated from its training pairs) or a "
                               f".wav/.npy path")
    linear_estimates = {rate: device_reference(LINEAR, rate, data=part.data_dir, split_file=part.split_file,
                                               **estimate)
                        for rate, part in parts.items()
                        if part.data_dir is not None and not references[rate].is_estimate}
    return references, linear_estimates, tanks


def check_tank(tank: SpringTank, rate: int, spec: SweepSpec) -> TankCheck:
    """Measure a tank by sweep and compare with its true IR: the measurement chain's own error."""
    device = tank.impulse_response
    check = measure_ir(tank.process, rate, spec)
    n = min(device.size, check.ir.size)
    error_db = 10 * np.log10(np.sum((check.ir[:n] - device[:n]) ** 2) / np.sum(device[:n] ** 2))
    return TankCheck(float(error_db), float(check.tail_level_db))


def measure_model(model: Any, rate: int, spec: SweepSpec, block_size: int | None = None,
                  stability_seconds: float = 10.0) -> tuple[IRMeasurement, StabilityResult]:
    """A model's sweep-measured IR (whole signal, or exact streaming blocks of ``block_size``) and
    its stability check (an impulse and ``stability_seconds`` of silence)."""
    process = model_processor(model, block_size=block_size)
    return measure_ir(process, rate, spec), check_stability(process, rate, silence=stability_seconds)


def load_part_model(part: RatePart, name: str, seed: int) -> Any:
    """The model ``name`` of one rate: its checkpoint under ``checkpoints_dir``, or untrained with
    ``seed`` when there is no such folder."""
    from springstudy.models import build
    from springstudy.models.checkpoint import load_checkpoint

    if part.checkpoints_dir is None:
        return build(name, seed=seed)
    path = Path(part.checkpoints_dir) / part.checkpoint_pattern.format(model=name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint of {name} at {part.label}")
    return load_checkpoint(path)


def draw_figures(result: IRStage) -> dict[str, Any]:
    """Figs 16-19 of every rate (matplotlib figures), keyed by file stem, titled with the device's reference."""
    from springstudy.acoustics import plots

    figures = {}
    for rate, part in result.parts.items():
        rows = result.table[result.table["sample_rate"] == rate]
        systems = result.systems[rate]
        drawn = {"fig18_rt60": plots.plot_rt60(rows, method="t30"), "fig16_ir": plots.plot_impulse_responses(systems),
                 "fig17_waterfall": plots.plot_waterfalls(systems), "fig19_energy_decay": plots.plot_energy_decay(systems)}
        for stem in FIGURE_STEMS:
            drawn[stem].suptitle(f"{part.label}; device reference: {REFERENCE_TITLES[result.references[rate].kind]}",
                                 fontsize="small")
            figures[f"{stem}{part.suffix}"] = drawn[stem]
    return figures


def run(parts: dict[int, RatePart], spec: SweepSpec, *, seed: int, table_path: str | Path,
        figures_dir: str | Path, tank_rt60: float = 0.5, split_method: str = "random",
        linear_ir_seconds: float | None = None, linear_ir_regularisation: float = 1e-6,
        block_size: int | None = None, stability_seconds: float = 10.0, figure_dpi: int = 120,
        audio_dir: str | Path | None = None) -> IRStage:
    """The whole ir stage: references, the chain check, every model, the RT60 table and Figs 16-19.

    Writes ``table_path`` (the RT60 table of both rates) and ``<figures_dir>/fig16_ir.png`` ...
    (``_48k`` for the second rate), and every system's IR as audio under ``audio_dir`` (default
    ``<table_path>/../../audio``: ``ir_<rate>/``, :func:`springstudy.audio.write_irs`); returns
    everything measured, the PNGs' bytes and the paths written.
    """
    from springstudy.audio import write_irs

    for rate in parts:
        spec.check(rate)
    references, linear_estimates, tanks = references_for(
        parts, seed=seed, tank_rt60=tank_rt60, split_method=split_method, linear_ir_seconds=linear_ir_seconds,
        linear_ir_regularisation=linear_ir_regularisation)
    tank_checks = {rate: check_tank(tank, rate, spec) for rate, tank in tanks.items()}
    measured: dict[int, dict[str, IRMeasurement]] = {rate: {} for rate in parts}
    stability: dict[int, dict[str, StabilityResult]] = {rate: {} for rate in parts}
    for rate, part in parts.items():
        for name in part.models:
            model = load_part_model(part, name, seed)
            measured[rate][name], stability[rate][name] = measure_model(model, rate, spec, block_size,
                                                                        stability_seconds)
    systems = {rate: [analyse_ir(DEVICE, references[rate].ir, rate)]
               + ([analyse_ir("Linear IR", linear_estimates[rate].ir, rate)] if rate in linear_estimates else [])
               + [analyse_ir(name, m.ir, rate) for name, m in measured[rate].items()] for rate in parts}
    table = rt60_table_by_rate({rate: (systems[rate], references[rate].kind) for rate in parts})
    result = IRStage(spec, parts, references, linear_estimates, tank_checks, measured, stability, systems, table)
    table_path = Path(table_path)
    write_rt60_table(table, table_path)
    result.written.append(table_path)
    audio_root = Path(audio_dir) if audio_dir is not None else table_path.parent.parent / "audio"
    for rate in parts:
        irs = {DEVICE: references[rate].ir}
        if rate in linear_estimates:
            irs["Linear IR"] = linear_estimates[rate].ir
        irs.update({name: m.ir for name, m in measured[rate].items()})
        folder = audio_root / f"ir_{rate // 1000}k"
        write_irs(folder, rate, irs)
        result.written += sorted(folder.iterdir())
    for stem, figure in draw_figures(result).items():
        result.figures[stem] = save_figure(figure, Path(figures_dir) / f"{stem}.png", dpi=figure_dpi, close=True)
        result.written.append(result.figures[stem])
    return result


__all__ = ["FIGURE_STEMS", "IRStage", "IRStageError", "RATE_48K", "REFERENCE_TITLES", "RatePart", "TankCheck",
           "check_tank", "draw_figures", "load_part_model", "measure_model", "rate_label", "rate_parts",
           "references_for", "run"]
