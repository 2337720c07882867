"""Render the synthetic spring-tank dataset in SpringSet's or EGFxSet's exact on-disk format.

Dry notes come from :mod:`springstudy.data.notes`, wet signals from
:class:`springstudy.data.tank.SpringTank`. Beside the audio the folder holds ``tank.json``
(every tank parameter, the seed, the true RT60 broadband and per octave band), ``tank_ir.wav``
(the true linear impulse response, float32 WAV at the dataset's rate) and ``notes.csv`` (the
generator's own metadata per item: pitch, bass or guitar, velocity, ...).

The dataset is built in a temporary sibling folder and renamed into place at the end, so an
interrupted run never leaves a half-written dataset behind.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io import wavfile
from tqdm.auto import tqdm

from springstudy import __version__
from springstudy.outputs import atomic_folder
from springstudy.data import formats
from springstudy.data.knobs import (KNOB_NAMES, KNOBS_FILE, KnobRanges, knob_design, mix_output, tank_at,
                                    write_knobs_csv)
from springstudy.data.notes import NoteSpec, default_peak, random_notes, render_note
from springstudy.data.tank import SpringTank, TankParams
from springstudy.errors import SpringStudyError

#: Dataset sizes per preset. ``paper`` is the real datasets' size.
PRESETS: dict[str, dict[str, Any]] = {
    "springset": {
        "smoke": {"train": 8, "val_test": 4},
        "quick": {"train": 192, "val_test": 32},
        "paper": dict(formats.SPRINGSET_SIZES),
    },
    "egfxset": {
        "smoke": {"positions": ("Bridge", "Neck"), "strings": (1, 6), "frets": (0,)},
        "quick": {"positions": formats.EGFXSET_POSITIONS, "strings": formats.EGFXSET_STRINGS, "frets": (0, 12)},
        "paper": {"positions": formats.EGFXSET_POSITIONS, "strings": formats.EGFXSET_STRINGS,
                  "frets": formats.EGFXSET_FRETS},
    },
}

#: Pickup position (fraction of the string from the bridge) per EGFxSet pickup selector position.
EGFXSET_PICKUP = {"Bridge": 0.06, "Bridge-Middle": 0.10, "Middle": 0.15, "Middle-Neck": 0.20, "Neck": 0.26}
#: Fade-out at the end of each EGFxSet note (s), so the cut at 5 s does not click.
EGFXSET_FADE_SECONDS = 0.1
#: Default seed of the synthetic data (params.yaml's ``seed`` overrides it in the pipeline).
DEFAULT_SEED = 20231
#: Items rendered and convolved together (bounds memory for the 48 kHz paper preset).
BATCH = 64


class SynthError(SpringStudyError, ValueError):
    """The synthetic dataset cannot be written as asked (bad preset, occupied folder, clipping)."""


def _tank_report(tank: SpringTank, seed: int, fmt: str, preset: str) -> dict[str, Any]:
    report = tank.describe()
    report.update({"seed": seed, "format": fmt, "preset": preset, "springstudy_version": __version__})
    return report


#: Stored samples lie on this grid (2^-23, the step of 24-bit PCM, -138 dB below full scale).
#: A CPU with other SIMD extensions (AVX-512 against AVX2) changes the last bits of numpy's,
#: torch's and OpenBLAS's float64 results (about 1e-14 here); rounding to a grid far coarser than
#: that keeps the stored bytes the same unless a value falls within that distance of a grid
#: boundary (about one sample in 10^7).
GRID = 2.0 ** -23
#: Significant digits of the floats the text files (tank.json, notes.csv) store, for the same reason.
TEXT_DIGITS = 9


def on_grid(samples: np.ndarray) -> np.ndarray:
    """``samples`` rounded to :data:`GRID` (float64): the same bytes whichever SIMD code paths the
    CPU takes (tested: AVX-512 and AVX2, ``tests/test_synth.py``)."""
    return np.round(np.asarray(samples, dtype=np.float64) / GRID) * GRID


def portable(value: Any) -> Any:
    """``value`` with every float rounded to :data:`TEXT_DIGITS` significant digits (dicts,
    lists and tuples walked), so the text it is written as does not depend on the CPU."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.{TEXT_DIGITS}g}")
    return value


def _write_notes_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(portable(row) for row in rows)


#: Peak of each stored SpringSet item, dry and wet separately (the real files are peak-normalised
#: per item, thesis Table 3: min/max about ±1).
SPRINGSET_PEAK = 1.0
#: Peak of each EGFxSet dry file (the real dry files are normalised to full scale, thesis Table 4:
#: mean min/max ±1.000); the largest value 24-bit PCM holds is 1 - 2^-23.
EGFXSET_DRY_PEAK = 0.999
#: Peak of the loudest EGFxSet wet file: the wet keeps the device's gain, one recording level for
#: the whole set, set so that nothing clips (thesis Table 4: mean wet peaks about 0.89).
EGFXSET_WET_MAX_PEAK = 0.99


@dataclass
class _Levels:
    """Energies summed over a dataset's items, for tank.json's measured levels."""

    wet: float = 0.0          # Σ wet² (as the tank put it out, before any normalisation)
    nonlinear: float = 0.0    # Σ (wet − linear(dry) − noise)²: the driver's share
    noise: float = 0.0        # Σ noise²
    samples: int = 0

    def add(self, tank: SpringTank, dry: np.ndarray, wet: np.ndarray, seeds: list[int]) -> None:
        noise = np.stack([tank.noise(d.shape, s) for d, s in zip(dry, seeds)]) if tank.has_noise else 0.0
        self.wet += float(np.sum(wet**2))
        self.nonlinear += float(np.sum((wet - tank.linear(dry) - noise) ** 2))
        self.noise += float(np.sum(np.square(noise)))
        self.samples += int(wet.size)

    def report(self) -> dict[str, float]:
        """Levels in dB (None where a share is zero, e.g. no noise floor: JSON has no infinity)."""
        db = lambda ratio: float(10.0 * np.log10(ratio)) if ratio > 0 else None  # noqa: E731
        return {"wet_rms_dbfs": db(self.wet / self.samples),
                "nonlinear_share": self.nonlinear / self.wet,
                "nonlinear_share_db": db(self.nonlinear / self.wet),
                "noise_rms_dbfs": db(self.noise / self.samples),
                "snr_db": db(self.wet / self.noise) if self.noise > 0 else None}


@dataclass
class _Knobs:
    """A conditioned rendering: one setting per item (rows in item order, columns
    :data:`~springstudy.data.knobs.KNOB_NAMES`) and, filled while rendering, each item's true RT60."""

    ranges: KnobRanges
    settings: np.ndarray
    rt60: dict[int, float]


def _render(specs: list[NoteSpec], tank: SpringTank, n_samples: int, fade: float, seed: int,
            first_index: int, dry_peak: float | None = None,
            levels: _Levels | None = None, knobs: _Knobs | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dry notes and their wet tank outputs, (len(specs), n_samples) each, faded alike.

    ``dry_peak`` normalises each dry note to that peak before it is played into the tank.
    Before the fade, ``levels`` (if given) accumulates the wet, nonlinear and noise energies.
    With ``knobs`` each item goes through the tank at its own setting (:func:`tank_at`), and
    its output is the mix knob's blend of wet and dry.
    """
    fs = tank.params.sample_rate
    dry = np.stack([render_note(s, fs, n_samples, fade, peak=dry_peak) for s in specs])
    # One noise seed per item, derived from the dataset seed, so items do not share noise.
    seeds = [seed + first_index + i for i in range(len(specs))]
    if knobs is not None:
        wet = np.empty_like(dry)
        for i, (d, noise_seed) in enumerate(zip(dry, seeds)):
            setting = knobs.settings[first_index + i]
            item_tank = SpringTank(tank_at(tank.params, setting))
            w = item_tank.process(d, noise_seed=noise_seed)
            if levels is not None:
                levels.add(item_tank, d[None], w[None], [noise_seed])
            knobs.rt60[first_index + i] = float(item_tank.rt60("t30")["broadband"])
            wet[i] = mix_output(d, w, float(setting[KNOB_NAMES.index("mix")]))
    else:
        wet = np.stack([tank.process(d, noise_seed=s) for d, s in zip(dry, seeds)]) \
            if tank.has_noise else tank.process(dry)
        if levels is not None:
            levels.add(tank, dry, wet, seeds)
    if fade > 0:
        n_fade = int(round(fade * fs))
        wet[:, -n_fade:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, n_fade)))
    return dry, wet


def _peak_gains(x: np.ndarray, peak: float) -> np.ndarray:
    """Per row, the gain that brings its peak to ``peak`` (1 for a silent row)."""
    top = np.max(np.abs(x), axis=-1)
    return np.where(top > 0, peak / np.where(top > 0, top, 1.0), 1.0)


def _springset(tmp: Path, preset: str | dict[str, int], seed: int, tank: SpringTank, progress: bool,
               levels: _Levels, knobs: _Knobs | None = None) -> list[dict[str, Any]]:
    """SpringSet's files. As in the real archive, each dry and each wet item is peak-normalised
    separately (to :data:`SPRINGSET_PEAK`); ``dry_gain`` and ``wet_gain`` in notes.csv are the
    gains applied (stored = gain · rendered), so stored/gain is the tank's true input and output."""
    sizes = PRESETS["springset"][preset] if isinstance(preset, str) else preset
    n_total = sizes["train"] + sizes["val_test"]
    specs = random_notes(n_total, seed)
    dry = np.empty((n_total, formats.SPRINGSET_LENGTH))
    wet = np.empty_like(dry)
    with tqdm(total=n_total, desc="springset", unit="note", disable=not progress) as bar:
        for start in range(0, n_total, BATCH):
            chunk = specs[start:start + BATCH]
            dry[start:start + len(chunk)], wet[start:start + len(chunk)] = _render(
                chunk, tank, formats.SPRINGSET_LENGTH, formats.SPRINGSET_FADE_SECONDS, seed, start, levels=levels,
                knobs=knobs)
            bar.update(len(chunk))
    dry_gain, wet_gain = _peak_gains(dry, SPRINGSET_PEAK), _peak_gains(wet, SPRINGSET_PEAK)
    dry *= dry_gain[:, None]
    wet *= wet_gain[:, None]
    wet = on_grid(wet)              # the dry side came out the same on every CPU tried; rounding it
                                    # would turn its notes' quiet tails into LSB noise (brighter)
    n_train = sizes["train"]
    formats.write_springset(tmp, {"train": (dry[:n_train], wet[:n_train]),
                                  "val_test": (dry[n_train:], wet[n_train:])})
    rows = []
    for i, spec in enumerate(specs):
        subset, index = ("train", i) if i < n_train else ("val_test", i - n_train)
        rows.append({"id": f"springset/{subset}/{index}", "subset": subset, "index": index,
                     "frequency_hz": round(spec.frequency, 4), **spec.to_dict(),
                     "dry_gain": float(dry_gain[i]), "wet_gain": float(wet_gain[i])})
    return rows


def _egfxset(tmp: Path, preset: str, seed: int, tank: SpringTank, progress: bool,
             levels: _Levels, knobs: _Knobs | None = None) -> list[dict[str, Any]]:
    """EGFxSet's files, with the real set's level conventions (thesis Table 4): every dry file is
    peak-normalised (:data:`EGFXSET_DRY_PEAK`) and played into the device at that level; the wet
    keeps the device's gain, scaled by one gain for the whole set so that the loudest wet file
    peaks at :data:`EGFXSET_WET_MAX_PEAK`. notes.csv records both gains per file (the dry gain
    relative to the rendered note; the wet gain relative to the tank's output)."""
    layout = PRESETS["egfxset"][preset]
    n_samples = int(round(formats.EGFXSET_SECONDS * formats.EGFXSET_RATE))
    items = [(pos, string, fret) for pos in layout["positions"] for string in layout["strings"]
             for fret in layout["frets"]]
    # Performance details (velocity, pluck, decay, ...) are drawn per file; pitch and pickup
    # position follow from string, fret and pickup selector position.
    drawn = random_notes(len(items), seed, bass_share=0.0)
    specs = [replace(d, midi=float(formats.EGFXSET_OPEN_STRING_MIDI[string] + fret),
                     pickup_position=EGFXSET_PICKUP[pos], decay=d.decay * 1.3)
             for d, (pos, string, fret) in zip(drawn, items)]
    # Pass 1 finds the loudest wet file (the set's one recording level); pass 2 renders the same
    # items again (same seeds, same samples) and writes them: memory stays one batch.
    peak = 0.0
    with tqdm(total=2 * len(items), desc="egfxset", unit="note", disable=not progress) as bar:
        for start in range(0, len(items), BATCH):
            chunk = specs[start:start + BATCH]
            _, wet = _render(chunk, tank, n_samples, EGFXSET_FADE_SECONDS, seed, start, dry_peak=EGFXSET_DRY_PEAK,
                             knobs=knobs)
            peak = max(peak, float(np.max(np.abs(wet))))
            bar.update(len(chunk))
        wet_gain = EGFXSET_WET_MAX_PEAK / peak if peak > 0 else 1.0
        rows = []
        for start in range(0, len(items), BATCH):
            chunk = specs[start:start + BATCH]
            dry, wet = _render(chunk, tank, n_samples, EGFXSET_FADE_SECONDS, seed, start,
                               dry_peak=EGFXSET_DRY_PEAK, levels=levels, knobs=knobs)
            for k, spec in enumerate(chunk):
                pos, string, fret = items[start + k]
                name = formats.egfxset_name(string, fret)
                formats.write_egfxset_pair(tmp, pos, name, dry[k], wet_gain * wet[k])
                rows.append({"id": f"egfxset/{pos}/{Path(name).stem}", "position": pos, "file": name,
                             "string": string, "fret": fret, "frequency_hz": round(spec.frequency, 4),
                             **spec.to_dict(), "dry_gain": EGFXSET_DRY_PEAK / default_peak(spec), "wet_gain": wet_gain})
            bar.update(len(chunk))
    return rows


def synthesize(format: str, preset: str, out: str | Path, seed: int | None = None,
               tank: TankParams | None = None, progress: bool = True, overwrite: bool = False,
               knobs: KnobRanges | None = None, sizes: dict[str, int] | None = None) -> Path:
    """Render the synthetic dataset in ``format`` (``springset`` or ``egfxset``) into ``out``.

    ``tank`` gives the tank parameters; its ``sample_rate`` is replaced by the format's rate
    (16 kHz SpringSet, 48 kHz EGFxSet). With ``knobs`` (the knobs' ranges) every item is
    rendered at its own setting of a seeded Latin-hypercube design (:mod:`springstudy.data.knobs`),
    written to ``knobs.csv`` with the tank's true RT60 per item, the ranges in ``tank.json``.
    ``sizes`` (SpringSet only: ``{"train": n, "val_test": m}``) replaces the preset's item counts.
    Same seed, same bytes. Returns ``out``.
    """
    if format not in PRESETS:
        raise SynthError(f"unknown format {format!r}; choose springset or egfxset")
    if preset not in PRESETS[format]:
        raise SynthError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS[format])}")
    if sizes is not None:
        if format != "springset" or set(sizes) != {"train", "val_test"} or min(sizes.values()) < 1:
            raise SynthError(f"sizes: a SpringSet's {{train: n, val_test: m}} (n, m >= 1), not {sizes!r} for {format}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise SynthError(f"{out}: folder exists and is not empty (use overwrite to replace it)")
    seed = DEFAULT_SEED if seed is None else int(seed)
    rate = formats.SPRINGSET_RATE if format == "springset" else formats.EGFXSET_RATE
    params = replace(tank or TankParams(), sample_rate=rate)
    spring = SpringTank(params)

    with atomic_folder(out) as tmp:
        build = _springset if format == "springset" else _egfxset
        levels = _Levels()
        design = None
        size = sizes if sizes is not None else preset
        if knobs is not None:
            n_items = sum(sizes.values()) if sizes is not None else _item_count(format, preset)
            design = _Knobs(knobs, knob_design(n_items, knobs, seed), {})
        rows = build(tmp, size, seed, spring, progress, levels, design)
        _write_notes_csv(tmp / "notes.csv", rows)
        if design is not None:
            write_knobs_csv(tmp / KNOBS_FILE, [r["id"] for r in rows], design.settings,
                            [design.rt60[i] for i in range(len(rows))])
        # scipy's writer, not libsndfile's: the latter stamps float WAVs with the time (PEAK chunk).
        wavfile.write(tmp / "tank_ir.wav", rate, on_grid(spring.impulse_response).astype(np.float32))
        report = _tank_report(spring, seed, format, preset)
        report["items"] = len(rows)
        if design is not None:
            report["knobs"] = {"names": list(KNOB_NAMES), "ranges": knobs.to_dict(), "file": KNOBS_FILE,
                               "design": "Latin hypercube, centred-discrepancy optimised (scipy.stats.qmc), "
                                         "seeded by the dataset seed; tone on a log scale"}
        # Measured on this dataset's items before normalisation and fade: the wet level, the
        # driver's share of the wet energy (ESR of the true linear response) and the noise floor.
        report["levels"] = levels.report()
        # No render time in the file: same seed, same bytes.
        (tmp / "tank.json").write_text(json.dumps(portable(report), indent=2, sort_keys=True) + "\n")
    return out


def _item_count(format: str, preset: str) -> int:
    """Items of a dataset of this format and preset."""
    if format == "springset":
        return sum(PRESETS["springset"][preset].values())
    layout = PRESETS["egfxset"][preset]
    return len(layout["positions"]) * len(layout["strings"]) * len(layout["frets"])


def render_conditioned(settings: np.ndarray, tank: TankParams, seed: int, seconds: float = 2.0,
                       ranges: KnobRanges | None = None) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Dry notes and the tank's outputs at the given knob settings (one per row), as a
    conditioned SpringSet item is made (each peak-normalised, the end faded), not written
    anywhere: e.g. test items at the edges of the knob ranges. Returns dry, wet (N, T) and each
    setting's true RT60 (T30)."""
    rate = tank.sample_rate
    n_samples = int(round(seconds * rate))
    specs = random_notes(len(settings), seed)
    design = _Knobs(ranges or KnobRanges.from_dict(), np.asarray(settings, dtype=float), {})
    dry, wet = _render(specs, SpringTank(tank), n_samples, formats.SPRINGSET_FADE_SECONDS, seed, 0, knobs=design)
    dry *= _peak_gains(dry, SPRINGSET_PEAK)[:, None]
    wet *= _peak_gains(wet, SPRINGSET_PEAK)[:, None]
    return dry, wet, [design.rt60[i] for i in range(len(settings))]
