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

import argparse
import csv
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io import wavfile
from tqdm.auto import tqdm

from springstudy import __version__
from springstudy.io import atomic_folder
from springstudy.data import formats
from springstudy.data.notes import NoteSpec, random_notes, render_note
from springstudy.data.tank import SpringTank, TankParams

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


class SynthError(ValueError):
    """The synthetic dataset cannot be written as asked (bad preset, occupied folder, clipping)."""


def _tank_report(tank: SpringTank, seed: int, fmt: str, preset: str) -> dict[str, Any]:
    report = tank.describe()
    report.update({"seed": seed, "format": fmt, "preset": preset, "springstudy_version": __version__})
    return report


def _write_notes_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _render(specs: list[NoteSpec], tank: SpringTank, n_samples: int, fade: float, seed: int,
            first_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Dry notes and their wet tank outputs, (len(specs), n_samples) each, faded alike."""
    fs = tank.params.sample_rate
    dry = np.stack([render_note(s, fs, n_samples, fade) for s in specs])
    # One noise seed per item, derived from the dataset seed, so items do not share noise.
    wet = np.stack([tank.process(d, noise_seed=seed + first_index + i) for i, d in enumerate(dry)]) \
        if tank.params.noise_floor_db is not None else tank.process(dry)
    if fade > 0:
        n_fade = int(round(fade * fs))
        wet[:, -n_fade:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, n_fade)))
    return dry, wet


def _springset(tmp: Path, preset: str, seed: int, tank: SpringTank, progress: bool) -> list[dict[str, Any]]:
    sizes = PRESETS["springset"][preset]
    n_total = sizes["train"] + sizes["val_test"]
    specs = random_notes(n_total, seed)
    dry = np.empty((n_total, formats.SPRINGSET_LENGTH))
    wet = np.empty_like(dry)
    with tqdm(total=n_total, desc="springset", unit="note", disable=not progress) as bar:
        for start in range(0, n_total, BATCH):
            chunk = specs[start:start + BATCH]
            dry[start:start + len(chunk)], wet[start:start + len(chunk)] = _render(
                chunk, tank, formats.SPRINGSET_LENGTH, formats.SPRINGSET_FADE_SECONDS, seed, start)
            bar.update(len(chunk))
    n_train = sizes["train"]
    formats.write_springset(tmp, {"train": (dry[:n_train], wet[:n_train]),
                                  "val_test": (dry[n_train:], wet[n_train:])})
    rows = []
    for i, spec in enumerate(specs):
        subset, index = ("train", i) if i < n_train else ("val_test", i - n_train)
        rows.append({"id": f"springset/{subset}/{index}", "subset": subset, "index": index,
                     "frequency_hz": round(spec.frequency, 4), **spec.to_dict()})
    return rows


def _egfxset(tmp: Path, preset: str, seed: int, tank: SpringTank, progress: bool) -> list[dict[str, Any]]:
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
    rows = []
    with tqdm(total=len(items), desc="egfxset", unit="note", disable=not progress) as bar:
        for start in range(0, len(items), BATCH):
            chunk = specs[start:start + BATCH]
            dry, wet = _render(chunk, tank, n_samples, EGFXSET_FADE_SECONDS, seed, start)
            for k, spec in enumerate(chunk):
                pos, string, fret = items[start + k]
                name = formats.egfxset_name(string, fret)
                formats.write_egfxset_pair(tmp, pos, name, dry[k], wet[k])
                rows.append({"id": f"egfxset/{pos}/{Path(name).stem}", "position": pos, "file": name,
                             "string": string, "fret": fret, "frequency_hz": round(spec.frequency, 4),
                             **spec.to_dict()})
            bar.update(len(chunk))
    return rows


def synthesize(format: str, preset: str, out: str | Path, seed: int | None = None,
               tank: TankParams | None = None, progress: bool = True, overwrite: bool = False) -> Path:
    """Render the synthetic dataset in ``format`` (``springset`` or ``egfxset``) into ``out``.

    ``tank`` gives the tank parameters; its ``sample_rate`` is replaced by the format's rate
    (16 kHz SpringSet, 48 kHz EGFxSet). Same seed, same bytes. Returns ``out``.
    """
    if format not in PRESETS:
        raise SynthError(f"unknown format {format!r}; choose springset or egfxset")
    if preset not in PRESETS[format]:
        raise SynthError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS[format])}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise SynthError(f"{out}: folder exists and is not empty (use overwrite to replace it)")
    seed = DEFAULT_SEED if seed is None else int(seed)
    rate = formats.SPRINGSET_RATE if format == "springset" else formats.EGFXSET_RATE
    params = replace(tank or TankParams(), sample_rate=rate)
    spring = SpringTank(params)

    with atomic_folder(out) as tmp:
        build = _springset if format == "springset" else _egfxset
        rows = build(tmp, preset, seed, spring, progress)
        _write_notes_csv(tmp / "notes.csv", rows)
        # scipy's writer, not libsndfile's: the latter stamps float WAVs with the time (PEAK chunk).
        wavfile.write(tmp / "tank_ir.wav", rate, spring.impulse_response.astype(np.float32))
        report = _tank_report(spring, seed, format, preset)
        report["items"] = len(rows)
        # No render time in the file: same seed, same bytes.
        (tmp / "tank.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return out


def synthesize_from_cli(args: argparse.Namespace) -> None:
    """Handler of ``springstudy data synth`` (see ``springstudy data synth --help``)."""
    from springstudy.cli import UserError
    from springstudy.config import ConfigError, load_params

    values: dict[str, Any] = {}
    seed = args.seed
    try:
        if args.params:
            params = load_params(args.params)
            values.update(params.get("data", {}).get("tank", {}) or {})
            seed = seed if seed is not None else params.get("seed")
        if args.rt60 is not None:
            values["rt60"] = args.rt60
        if args.drive is not None:
            values["drive"] = args.drive
        tank = TankParams.from_dict(values)
        started = time.perf_counter()
        out = synthesize(args.format, args.preset, args.out, seed=seed, tank=tank, overwrite=args.overwrite)
    except (ConfigError, SynthError, ValueError) as err:
        raise UserError(str(err)) from err
    report = json.loads((out / "tank.json").read_text())
    print(f"wrote {report['items']} {args.format} pairs to {out} in {time.perf_counter() - started:.1f} s "
          f"(true RT60 T30 {report['rt60_t30_s']['broadband']:.2f} s)")
