"""Bring your own device: a standard re-amping signal, and the dry/wet pair layout it gives.

1. :func:`reamp_signal` (``springstudy data reamp-signal``) writes a standard input file: a
   sync marker (a short chirp), exponential sine sweeps, noise bursts, impulses and played
   (plucked-string) notes, and the sync marker again at the end. Play it through your spring
   reverb and record the output, at the same sample rate, as long or longer than the input.
2. Put the two files in one folder as ``dry.wav`` (the signal as sent) and ``wet.wav`` (the
   recording): the **pair layout**. Set ``data.sources.<format>`` in params.yaml to that folder.
3. The ``data`` stage reads the pair (:func:`read_pair`): sample rates compared (to each other
   and to the format's rate), NaN and clipping refused, the wet level checked, the latency found
   by cross-correlating the sync marker and removed. With a ``loopback.wav`` beside them (the
   signal recorded with a cable in place of the device) the latency is the interface's alone;
   without one it also takes out the device's own onset delay (a spring's transit time). It cuts the aligned pair into the format's
   items, in time order, and writes them in that format's layout (:func:`pair_to_layout`): for
   SpringSet the first half of the items is the training subset and the rest the val/test
   subset, so validation and test audio comes after all training audio in time.

Every problem is a :class:`~springstudy.data.DatasetError` naming the file and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from springstudy.data import formats
from springstudy.data import DatasetError

DRY_FILE = "dry.wav"
WET_FILE = "wet.wav"
#: Optional: the signal recorded through the same interface with a cable in place of the device.
#: The latency is then the interface's alone, and the device's own onset delay (a spring's transit
#: time, tens of ms) stays in the wet; without it, the delay removed includes that onset delay.
LOOPBACK_FILE = "loopback.wav"
#: Length of the sync chirp (s) and its band (Hz, the top capped at 0.45 × the rate).
SYNC_SECONDS = 0.25
SYNC_BAND = (200.0, 6000.0)
#: Largest latency searched for (s): interfaces and plugins add up to a few hundred ms.
MAX_LATENCY_SECONDS = 1.0
#: A sample at or above this magnitude counts as clipped; more than CLIP_LIMIT of them is refused.
CLIP_LEVEL = 0.999
CLIP_LIMIT = 10
#: A wet recording quieter than this (RMS, dBFS) is refused: the device was not in the chain.
MIN_WET_DBFS = -70.0


def _chirp(rate: int) -> np.ndarray:
    from scipy.signal import chirp

    t = np.arange(int(SYNC_SECONDS * rate)) / rate
    top = min(SYNC_BAND[1], 0.45 * rate)
    window = np.hanning(t.size)
    return 0.5 * chirp(t, SYNC_BAND[0], t[-1], top, method="logarithmic") * window


def _sweep(rate: int, seconds: float, level: float) -> np.ndarray:
    from scipy.signal import chirp

    t = np.arange(int(seconds * rate)) / rate
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return level * chirp(t, 20.0, t[-1], 0.45 * rate, method="logarithmic") * fade


@dataclass(frozen=True)
class ReampSignal:
    """The re-amping signal and where its parts lie (seconds from the start)."""

    samples: np.ndarray
    sample_rate: int
    sections: dict[str, tuple[float, float]]


def reamp_signal(sample_rate: int = formats.EGFXSET_RATE, seed: int = 0, notes: int = 24) -> ReampSignal:
    """The standard input: sync chirp, 2 sine sweeps, 6 noise bursts, 8 impulses, ``notes``
    plucked notes (seeded), sync chirp; 1.5 s of silence after each part for the reverb's tail.
    Peak −1 dBFS."""
    from springstudy.data.notes import random_notes, render_note

    rng = np.random.default_rng(seed)
    gap = np.zeros(int(1.5 * sample_rate))
    parts: list[tuple[str, np.ndarray]] = [("sync", _chirp(sample_rate)), ("", gap)]
    for _ in range(2):
        parts += [("sweeps", _sweep(sample_rate, 5.0, 0.5)), ("", gap)]
    for level in (0.05, 0.1, 0.2, 0.05, 0.1, 0.2):
        burst = level * rng.standard_normal(int(0.5 * sample_rate)) * np.hanning(int(0.5 * sample_rate)) ** 0.2
        parts += [("noise", burst), ("", gap)]
    for level in (0.25, 0.5, 0.9, 0.5, 0.25, 0.5, 0.9, 0.5):
        click = np.zeros(int(0.01 * sample_rate))
        click[0] = level
        parts += [("impulses", click), ("", gap)]
    for spec in random_notes(notes, seed):
        parts += [("notes", render_note(spec, sample_rate, int(2.0 * sample_rate), fade_seconds=0.3))]
    parts += [("", gap), ("sync_end", _chirp(sample_rate)), ("", gap)]
    sections: dict[str, tuple[float, float]] = {}
    position = 0
    for name, part in parts:
        if name:
            start, end = sections.get(name, (position / sample_rate, 0.0))
            sections[name] = (start, (position + part.size) / sample_rate)
        position += part.size
    samples = np.concatenate([p for _, p in parts])
    samples *= 10 ** (-1 / 20) / np.max(np.abs(samples))
    return ReampSignal(samples, int(sample_rate), sections)


def write_reamp_signal(path: str | Path, sample_rate: int = formats.EGFXSET_RATE, seed: int = 0) -> ReampSignal:
    """Write :func:`reamp_signal` as a 24-bit mono WAV at ``path`` (atomically: an interrupted
    write leaves no half file to record through)."""
    from springstudy.audio import write_wav

    signal = reamp_signal(sample_rate, seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, signal.samples, sample_rate, subtype="PCM_24")
    return signal


@dataclass(frozen=True)
class Pair:
    """A dry/wet recording, aligned: the latency removed, both the same length."""

    dry: np.ndarray
    wet: np.ndarray
    sample_rate: int
    latency: int               # samples removed from the start of the wet
    loopback: bool             # whether the latency came from loopback.wav (the interface's alone)
    gain_db: float             # wet level over dry level (RMS, dB)
    folder: Path


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if not path.is_file():
        raise DatasetError(f"{path}: missing (the pair layout needs {DRY_FILE} and {WET_FILE} in one folder)")
    try:
        samples, rate = sf.read(path, dtype="float64", always_2d=True)
    except Exception as exc:           # soundfile raises its own error type for any unreadable file
        raise DatasetError(f"{path}: not a readable audio file ({exc})") from exc
    if samples.shape[1] != 1:
        raise DatasetError(f"{path}: {samples.shape[1]} channels; record the device's output in mono")
    samples = samples[:, 0]
    if samples.size == 0:
        raise DatasetError(f"{path}: empty")
    if not np.all(np.isfinite(samples)):
        raise DatasetError(f"{path}: {int(np.sum(~np.isfinite(samples)))} samples are NaN or infinite")
    clipped = int(np.sum(np.abs(samples) >= CLIP_LEVEL))
    if clipped > CLIP_LIMIT:
        raise DatasetError(f"{path}: {clipped} samples at full scale (clipped); record again at a lower level")
    return samples, int(rate)


def find_latency(dry: np.ndarray, wet: np.ndarray, sample_rate: int,
                 max_latency: float = MAX_LATENCY_SECONDS) -> int:
    """Samples by which ``wet`` lags ``dry``: the peak of their cross-correlation over the
    sync marker at the start (the first 2 s of the dry against 2 s + ``max_latency`` of the wet)."""
    from scipy.signal import correlate

    span = int(2.0 * sample_rate)
    most = int(max_latency * sample_rate)
    a = dry[:span]
    b = wet[:span + most]
    corr = correlate(b, a, mode="full", method="fft")[a.size - 1:]      # lags 0 .. len(b) - 1
    corr = corr[:most + 1]
    return int(np.argmax(np.abs(corr)))


def read_pair(folder: str | Path, sample_rate: int | None = None) -> Pair:
    """Read, check and align the pair in ``folder`` (see the module doc)."""
    folder = Path(folder)
    dry, dry_rate = _read(folder / DRY_FILE)
    wet, wet_rate = _read(folder / WET_FILE)
    if dry_rate != wet_rate:
        raise DatasetError(f"{folder}: {DRY_FILE} is at {dry_rate} Hz but {WET_FILE} at {wet_rate} Hz; record at "
                           "the rate of the signal you played")
    if sample_rate is not None and dry_rate != sample_rate:
        raise DatasetError(f"{folder}: the pair is at {dry_rate} Hz, but this slot's layout is at {sample_rate} Hz "
                           f"(write the re-amping signal with --rate {sample_rate}, or use the other format's slot)")
    wet_dbfs = 20 * np.log10(np.sqrt(np.mean(wet ** 2)) + 1e-20)
    if wet_dbfs < MIN_WET_DBFS:
        raise DatasetError(f"{folder / WET_FILE}: level {wet_dbfs:.0f} dBFS RMS is below {MIN_WET_DBFS:.0f} dBFS; "
                           "was the device in the chain?")
    loopback_path = folder / LOOPBACK_FILE
    if loopback_path.is_file():
        loopback, loopback_rate = _read(loopback_path)
        if loopback_rate != dry_rate:
            raise DatasetError(f"{loopback_path}: at {loopback_rate} Hz, the pair at {dry_rate} Hz")
        latency = find_latency(dry, loopback, dry_rate)
    else:
        latency = find_latency(dry, wet, dry_rate)
    wet = wet[latency:]
    if wet.size < dry.size:
        raise DatasetError(f"{folder / WET_FILE}: {wet.size / dry_rate:.2f} s after the {latency}-sample latency, "
                           f"shorter than {DRY_FILE} ({dry.size / dry_rate:.2f} s); record until the signal's end")
    wet = wet[:dry.size]
    gain_db = float(20 * np.log10(np.sqrt(np.mean(wet ** 2)) / np.sqrt(np.mean(dry ** 2))))
    return Pair(dry, wet, dry_rate, latency, loopback_path.is_file(), gain_db, folder)


def is_pair_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds the pair layout (``dry.wav`` and ``wet.wav``)."""
    folder = Path(folder)
    return (folder / DRY_FILE).is_file() or (folder / WET_FILE).is_file()


def pair_items(pair: Pair, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The aligned pair cut into consecutive items of ``length`` samples, in time order
    (the remainder at the end dropped): two (items, length) arrays."""
    n = pair.dry.size // length
    if n < 4:
        raise DatasetError(f"{pair.folder}: {pair.dry.size / pair.sample_rate:.1f} s gives {n} item(s) of "
                           f"{length / pair.sample_rate:g} s; the study needs at least 4 (record longer)")
    return pair.dry[:n * length].reshape(n, length), pair.wet[:n * length].reshape(n, length)


def pair_to_layout(folder: str | Path, out: str | Path, format: str) -> dict[str, Any]:
    """Write the pair in ``folder`` into ``out`` (an empty folder the caller made) in ``format``'s
    layout, items in time order; returns what was found (latency, gain, items)."""
    rate = formats.SPRINGSET_RATE if format == "springset" else formats.EGFXSET_RATE
    pair = read_pair(folder, rate)
    out = Path(out)
    peak = max(np.max(np.abs(pair.dry)), np.max(np.abs(pair.wet)))
    scale = min(1.0, 0.999 / peak)              # one gain for both sides: the device's gain is kept
    if format == "springset":
        dry, wet = pair_items(pair, formats.SPRINGSET_LENGTH)
        n_train = dry.shape[0] // 2
        formats.write_springset(out, {"train": (scale * dry[:n_train], scale * wet[:n_train]),
                                      "val_test": (scale * dry[n_train:], scale * wet[n_train:])})
    else:
        dry, wet = pair_items(pair, int(formats.EGFXSET_SECONDS * rate))
        names = [(p, formats.egfxset_name(s, f)) for p in formats.EGFXSET_POSITIONS
                 for s in formats.EGFXSET_STRINGS for f in formats.EGFXSET_FRETS]
        if dry.shape[0] > len(names):
            raise DatasetError(f"{folder}: {dry.shape[0]} items of 5 s do not fit the EGFxSet layout's "
                               f"{len(names)} names; shorten the recording")
        for k in range(dry.shape[0]):
            formats.write_egfxset_pair(out, names[k][0], names[k][1], scale * dry[k], scale * wet[k])
    return {"latency_samples": pair.latency, "latency_ms": 1000 * pair.latency / rate,
            "latency_from": "loopback.wav (the interface alone)" if pair.loopback else
            "the wet recording (the interface and the device's own onset delay)", "gain_db": pair.gain_db,
            "items": int(dry.shape[0]), "sample_rate": rate}


__all__ = ["DRY_FILE", "LOOPBACK_FILE", "Pair", "ReampSignal", "WET_FILE", "find_latency", "is_pair_folder", "pair_items",
           "pair_to_layout", "read_pair", "reamp_signal", "write_reamp_signal"]
