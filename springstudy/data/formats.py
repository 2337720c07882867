"""On-disk layouts of the real datasets, written once and shared by writers and loaders.

SpringSet (Martinez Ramirez et al. 2019/2020, Zenodo record 3746119, folder ``spring/`` of
``plate-spring.zip``): 16 kHz, 2 s notes (32000 samples) with a 0.5 s fade-out, stored as HDF5
float64 arrays shaped (N, 32000, 1).

EGFxSet (Pedroza, Meza and Roman 2022, Zenodo record 7044411, ``Clean.zip`` and
``Spring-Reverb.zip``): 48 kHz 24-bit mono WAV files, about 5 s per note, one folder per pickup
position; 6 strings x 23 frets (0-22) x 5 positions = 690 pairs, named ``<string>-<fret>.wav``.
Dry and wet are paired by position and file name, never by listing order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# --- SpringSet -------------------------------------------------------------------------------
SPRINGSET_RATE = 16_000
SPRINGSET_LENGTH = 32_000           # samples per item (2 s)
SPRINGSET_FADE_SECONDS = 0.5
SPRINGSET_DTYPE = "float64"


@dataclass(frozen=True)
class SpringSetSubset:
    """One SpringSet subset: the dry and wet HDF5 files and the dataset key inside each."""

    name: str
    dry_file: str
    dry_key: str
    wet_file: str
    wet_key: str


#: The real archive's two subsets, in the order the thesis lists them.
SPRINGSET_SUBSETS = (
    SpringSetSubset("train", "dry_train.h5", "Xtrain", "wet_train.h5", "Ytrain_0"),
    SpringSetSubset("val_test", "dry_val_test.h5", "Xvalidation", "wet_val_test.h5", "Yvalidation_0"),
)
#: Items per subset in the real SpringSet.
SPRINGSET_SIZES = {"train": 1122, "val_test": 64}

# --- EGFxSet ---------------------------------------------------------------------------------
EGFXSET_RATE = 48_000
EGFXSET_SUBTYPE = "PCM_24"
EGFXSET_DRY_DIR = "Clean"
EGFXSET_WET_DIR = "Spring Reverb"
EGFXSET_POSITIONS = ("Bridge", "Bridge-Middle", "Middle", "Middle-Neck", "Neck")
EGFXSET_STRINGS = (1, 2, 3, 4, 5, 6)    # 1 = high E ... 6 = low E
EGFXSET_FRETS = tuple(range(23))        # 0 (open) ... 22
EGFXSET_SECONDS = 5.0
#: MIDI note of each open string in standard tuning (string 1 = E4 ... string 6 = E2).
EGFXSET_OPEN_STRING_MIDI = {1: 64, 2: 59, 3: 55, 4: 50, 5: 45, 6: 40}


def egfxset_name(string: int, fret: int) -> str:
    """File name of one EGFxSet note, e.g. ``egfxset_name(6, 0) == "6-0.wav"``."""
    return f"{string}-{fret}.wav"


# --- writers ---------------------------------------------------------------------------------
# Both write into a folder the caller has just created (synth.py builds in a temporary folder
# and renames it into place, so a dataset on disk is always whole).

def write_springset(folder: str | Path, subsets: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write SpringSet's four HDF5 files into ``folder``.

    ``subsets`` maps ``"train"`` and ``"val_test"`` to ``(dry, wet)`` arrays shaped (N, 32000);
    each is stored as float64 (N, 32000, 1) under the real archive's keys.
    """
    import h5py  # imported here: the layout constants above must stay cheap to import

    folder = Path(folder)
    for subset in SPRINGSET_SUBSETS:
        dry, wet = subsets[subset.name]
        for file_name, key, array in ((subset.dry_file, subset.dry_key, dry), (subset.wet_file, subset.wet_key, wet)):
            array = np.asarray(array, dtype=SPRINGSET_DTYPE)
            if array.ndim != 2 or array.shape[1] != SPRINGSET_LENGTH:
                raise ValueError(f"{file_name}: expected (N, {SPRINGSET_LENGTH}) samples, got {array.shape}")
            with h5py.File(folder / file_name, "w") as handle:
                handle.create_dataset(key, data=array[:, :, None])


def write_egfxset_pair(folder: str | Path, position: str, name: str, dry: np.ndarray, wet: np.ndarray) -> None:
    """Write one EGFxSet pair: ``Clean/<position>/<name>`` and ``Spring Reverb/<position>/<name>``,
    48 kHz mono 24-bit PCM. Samples must lie in [-1, 1): PCM would clip them silently."""
    import soundfile as sf

    if position not in EGFXSET_POSITIONS:
        raise ValueError(f"unknown EGFxSet position {position!r}; expected one of {EGFXSET_POSITIONS}")
    for sub, samples in ((EGFXSET_DRY_DIR, dry), (EGFXSET_WET_DIR, wet)):
        peak = float(np.max(np.abs(samples)))
        if peak >= 1.0:
            raise ValueError(f"{sub}/{position}/{name}: peak {peak:.3f} would clip in 24-bit PCM; "
                             "lower the tank's output_gain_db (or the notes' level)")
        path = Path(folder) / sub / position / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.asarray(samples, dtype=np.float64), EGFXSET_RATE, subtype=EGFXSET_SUBTYPE)
