"""Tiny real-format datasets for the data tests, written independently of the package's writers.

SpringSet: four HDF5 files with the real keys, float64 arrays shaped (N, T, 1).
EGFxSet: ``Clean/<Position>/<s>-<f>.wav`` and ``Spring Reverb/<Position>/<s>-<f>.wav``,
48 kHz PCM_24 mono. Every wet signal is exactly ``WET_GAIN`` times its dry signal (up to 24-bit
rounding), so pairing and gain handling can be checked against a known answer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import soundfile as sf

WET_GAIN = 0.5
SPRINGSET_KEYS = {
    "train": ("dry_train.h5", "Xtrain", "wet_train.h5", "Ytrain_0"),
    "val_test": ("dry_val_test.h5", "Xvalidation", "wet_val_test.h5", "Yvalidation_0"),
}


def note(length: int, sample_rate: int, freq: float, seed: int, dc: float = 0.0) -> np.ndarray:
    """A decaying tone plus a little noise: a stand-in for a plucked note, peak below 0.9."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / sample_rate
    x = 0.8 * np.sin(2 * np.pi * freq * t) * np.exp(-3.0 * t) + 1e-3 * rng.standard_normal(length)
    return x + dc


def springset_arrays(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    dry = np.stack([note(length, 16_000, 110.0 * (1 + i % 7), seed * 1000 + i, dc=1e-4) for i in range(n)])
    return dry[..., None], (WET_GAIN * dry)[..., None]


def write_h5(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)


def write_springset(root: Path, n_train: int = 6, n_val: int = 4, length: int = 1600, seed: int = 0) -> Path:
    """A SpringSet-layout folder: (n_train, length, 1) and (n_val, length, 1) float64 arrays."""
    root.mkdir(parents=True, exist_ok=True)
    for k, (subset, n) in enumerate((("train", n_train), ("val_test", n_val))):
        dry_file, dry_key, wet_file, wet_key = SPRINGSET_KEYS[subset]
        dry, wet = springset_arrays(n, length, seed + 17 * k)
        write_h5(root / dry_file, dry_key, dry)
        write_h5(root / wet_file, wet_key, wet)
    return root


def egfx_signal(name: str, position: str, length: int) -> np.ndarray:
    """A dry note whose content depends on the file name and position (so a mispairing shows)."""
    string, fret = (int(v) for v in name.split("-"))
    seed = int(hashlib.md5(f"{position}/{name}".encode()).hexdigest()[:8], 16)
    freq = 440.0 * 2 ** ((40 + 5 * (6 - string) + fret - 69) / 12)
    return note(length, 48_000, freq, seed)


def write_wav(path: Path, data: np.ndarray, rate: int = 48_000, subtype: str = "PCM_24") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate, subtype=subtype)


def write_egfxset(root: Path, positions=("Bridge", "Neck"), names=("6-10", "6-2", "1-0"),
                  length: int = 4800) -> Path:
    """An EGFxSet-layout folder; wet files are written in the reverse order of the dry ones."""
    for position in positions:
        for name in names:
            write_wav(root / "Clean" / position / f"{name}.wav", egfx_signal(name, position, length))
        for name in reversed(names):
            write_wav(root / "Spring Reverb" / position / f"{name}.wav",
                      WET_GAIN * egfx_signal(name, position, length))
    return root
