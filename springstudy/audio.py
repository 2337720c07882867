"""Listening material for the report: test items (dry, target, each model) and impulse responses
as 16-bit WAV files, with one gain per item so that the systems can be compared by ear.

:func:`write_examples` is called by the ``evaluate`` stage, :func:`write_irs` by the ``ir``
stage; :func:`read_index` reads what they wrote back for the report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from springstudy.outputs import write_bytes_atomic

#: Peak of the loudest clip of an item after the common gain (−1 dBFS).
PEAK = 10 ** (-1 / 20)
#: Name of the index file each audio folder holds.
INDEX = "index.json"


def slug(name: str) -> str:
    """A file-name-safe form of a system's name: ``"Linear IR" -> "linear_ir"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def write_wav(path: str | Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    """Write mono ``samples`` (clipped to [-1, 1]) as a WAV file of ``subtype``, atomically."""
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0), rate, subtype=subtype, format="WAV")
    write_bytes_atomic(Path(path), buffer.getvalue())
    return Path(path)


def _gain(clips: list[np.ndarray]) -> float:
    peak = max((float(np.max(np.abs(c))) for c in clips if c.size and np.all(np.isfinite(c))), default=0.0)
    return PEAK / peak if peak > 0 else 1.0


def write_examples(folder: str | Path, sample_rate: int, dry: np.ndarray, target: np.ndarray,
                   predictions: Mapping[str, Mapping[int, np.ndarray]], indices: list[int],
                   ids: list[str]) -> dict[str, Any]:
    """Write, per test item in ``indices``, ``item<k>_dry.wav`` (its own gain) and the target and
    every system's prediction (``item<k>_<system>.wav``, one common gain: their levels compare),
    plus ``index.json`` listing them. ``dry``/``target`` are (items, samples) arrays; a system's
    non-finite prediction is left out and said in the index. Returns the index."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"sample_rate": int(sample_rate), "items": []}
    for k in indices:
        clips = {"target": np.asarray(target[k], dtype=np.float64)}
        skipped = []
        for system, by_item in predictions.items():
            if k in by_item:
                p = np.asarray(by_item[k], dtype=np.float64).reshape(-1)
                if np.all(np.isfinite(p)):
                    clips[system] = p
                else:
                    skipped.append(system)
        gain = _gain(list(clips.values()))
        entry = {"index": int(k), "id": ids[k], "dry": f"item{k}_dry.wav", "gain_db": 20 * np.log10(gain),
                 "systems": {}, "not_finite": skipped}
        d = np.asarray(dry[k], dtype=np.float64)
        write_wav(folder / entry["dry"], d * _gain([d]), sample_rate)
        for system, clip in clips.items():
            name = f"item{k}_{slug(system)}.wav"
            write_wav(folder / name, clip * gain, sample_rate)
            entry["systems"][system] = name
        index["items"].append(entry)
    write_bytes_atomic(folder / INDEX, (json.dumps(index, indent=2) + "\n").encode())
    return index


def write_irs(folder: str | Path, sample_rate: int, irs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Write each system's impulse response (``<system>.wav``), each peak-normalised to −1 dBFS
    (an IR's level is in the RT60 table, its sound is its colour and decay), and ``index.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"sample_rate": int(sample_rate), "systems": {}, "not_finite": []}
    for system, ir in irs.items():
        ir = np.asarray(ir, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(ir)):
            index["not_finite"].append(system)
            continue
        name = f"{slug(system)}.wav"
        write_wav(folder / name, ir * _gain([ir]), sample_rate)
        index["systems"][system] = name
    write_bytes_atomic(folder / INDEX, (json.dumps(index, indent=2) + "\n").encode())
    return index


def read_index(folder: str | Path) -> dict[str, Any] | None:
    """The ``index.json`` of an audio folder, or None if the folder has none."""
    path = Path(folder) / INDEX
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["INDEX", "PEAK", "read_index", "slug", "write_examples", "write_irs", "write_wav"]
