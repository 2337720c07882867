"""Dry/wet pairs of the two real spring-reverb datasets, as torch Datasets.

* :class:`SpringSetPairs` reads the SpringSet layout (Martinez Ramirez, Benetos and Reiss,
  ICASSP 2020; Zenodo record 3746119): four HDF5 files, float64 arrays shaped (N, T, 1) at
  16 kHz, dry and wet paired by row. Items are ``springset/<subset>/<row>``.
* :class:`EGFxSetPairs` reads the EGFxSet layout (Pedroza, Meza and Roman, ISMIR LBD 2022;
  Zenodo record 7044411): ``Clean/<Position>/<s>-<f>.wav`` and
  ``Spring Reverb/<Position>/<s>-<f>.wav``, 48 kHz 24-bit mono, paired by position and file
  name (never by listing order). Items are ``egfxset/<Position>/<s>-<f>``.

Both return ``(dry, wet)`` float32 tensors shaped (1, T) (thesis §3.2; the on-disk constants
live in :mod:`springstudy.data.formats`). Structure is checked when a dataset is opened (files,
keys, shapes, counts, lengths, sample rates, truncation); sample values (NaN, Inf) are checked
whenever an item is read, or for all items at once with ``verify()``. Every problem raises
:class:`springstudy.data.DatasetError` with the offending file in the message.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from springstudy.data import DatasetError
from springstudy.data.formats import (
    EGFXSET_DRY_DIR,
    EGFXSET_OPEN_STRING_MIDI,
    EGFXSET_POSITIONS,
    EGFXSET_RATE,
    EGFXSET_WET_DIR,
    SPRINGSET_RATE,
    SPRINGSET_SUBSETS,
    SpringSetSubset,
)

LAYOUTS = ("springset", "egfxset")
#: HDF5 attribute names a writer might use for the sample rate (the real files carry none).
_RATE_ATTRS = ("sample_rate", "samplerate", "fs", "sr")


@dataclass(frozen=True)
class PairItem:
    """One dry/wet pair and where it lives: enough to trace any number back to a file and row."""

    id: str                 #: "springset/train/17" or "egfxset/Bridge/6-0"
    subset: str             #: SpringSet subset ("train", "val_test") or EGFxSet pickup position
    name: str               #: row number (SpringSet) or file stem (EGFxSet)
    dry_path: Path
    wet_path: Path
    length: int             #: samples, equal for dry and wet
    index: int | None = None    #: row in the HDF5 arrays (SpringSet only)
    string: int | None = None   #: guitar string 1-6 (EGFxSet only)
    fret: int | None = None     #: fret 0-22 (EGFxSet only)
    midi: int | None = None     #: MIDI note of string and fret in standard tuning (EGFxSet only)

    def source(self, signal: str) -> str:
        """Human-readable origin of the dry or wet signal, e.g. ``.../dry_train.h5[17]``."""
        path = self.dry_path if signal == "dry" else self.wet_path
        return f"{path}[{self.index}]" if self.index is not None else str(path)


class SpringPairs(Dataset):
    """Base of the dataset classes: a fixed, ordered list of :class:`PairItem`.

    ``pairs[i]`` is ``(dry, wet)``, float32 tensors shaped (1, T). ``load(i)`` returns the
    raw samples as 1-D numpy arrays (float64 by default) for statistics.
    """

    layout: str = ""

    def __init__(self, root: Path, items: Sequence[PairItem], sample_rate: int,
                 preload: bool = False) -> None:
        self.root = Path(root)
        self.items: tuple[PairItem, ...] = tuple(items)
        self.sample_rate = int(sample_rate)
        self._index = {item.id: i for i, item in enumerate(self.items)}
        self._cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        if preload:
            self._cache = [self._read(i, np.float32) for i in range(len(self.items))]

    # --- the torch Dataset protocol --------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        dry, wet = self.load(i, np.float32)
        return torch.from_numpy(dry)[None], torch.from_numpy(wet)[None]

    # --- metadata ---------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        """Item ids in dataset order."""
        return [item.id for item in self.items]

    @property
    def subsets(self) -> tuple[str, ...]:
        """Subset names (SpringSet subsets or EGFxSet positions) in the order they appear."""
        return tuple(dict.fromkeys(item.subset for item in self.items))

    def index_of(self, item_id: str) -> int:
        """Position of ``item_id`` in the dataset; DatasetError if it is not there."""
        try:
            return self._index[item_id]
        except KeyError:
            raise DatasetError(f"{self.root}: no item {item_id!r} in this {self.layout} dataset") from None

    def metadata(self) -> list[dict[str, Any]]:
        """One dict per item (id, subset, name, files, length, seconds, and layout extras)."""
        rows = []
        for item in self.items:
            row = {k: v for k, v in vars(item).items() if v is not None}
            row["dry_path"], row["wet_path"] = str(item.dry_path), str(item.wet_path)
            row["seconds"] = item.length / self.sample_rate
            rows.append(row)
        return rows

    # --- samples ----------------------------------------------------------------------------
    def load(self, i: int, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
        """Dry and wet samples of item ``i`` as 1-D arrays; DatasetError on NaN or Inf."""
        if not 0 <= i < len(self.items):
            raise IndexError(f"item {i} out of range for {len(self.items)} items")
        if self._cache is not None:
            dry, wet = self._cache[i]
            return dry.astype(dtype, copy=True), wet.astype(dtype, copy=True)
        return self._read(i, dtype)

    def verify(self) -> None:
        """Read every item once, so a NaN, Inf or unreadable sample fails now, not mid-training."""
        for i in range(len(self.items)):
            self.load(i)

    def _read(self, i: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        item = self.items[i]
        dry, wet = self._read_raw(item)
        out = []
        for signal, x in (("dry", dry), ("wet", wet)):
            if x.shape[0] != item.length:
                raise DatasetError(f"{item.source(signal)}: read {x.shape[0]} samples, expected "
                                   f"{item.length} (truncated file?)")
            bad = ~np.isfinite(x)
            if bad.any():
                kinds = " and ".join(k for k, m in (("NaN", np.isnan(x)), ("Inf", np.isinf(x))) if m.any())
                raise DatasetError(f"{item.source(signal)}: {int(bad.sum())} {kinds} samples "
                                   f"(first at sample {int(np.argmax(bad))}) in item {item.id}")
            out.append(np.ascontiguousarray(x, dtype=dtype))
        return out[0], out[1]

    def _read_raw(self, item: PairItem) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.root)!r}: {len(self)} pairs at "
                f"{self.sample_rate} Hz, subsets {', '.join(self.subsets)})")


# ---------------------------------------------------------------------------------------------
# SpringSet (HDF5)
# ---------------------------------------------------------------------------------------------
class SpringSetPairs(SpringPairs):
    """SpringSet: HDF5 files ``dry_/wet_train.h5`` (``Xtrain``/``Ytrain_0``) and
    ``dry_/wet_val_test.h5`` (``Xvalidation``/``Yvalidation_0``), float64 (N, T, 1) at 16 kHz.

    Source: Martinez Ramirez et al., "Modeling plate and spring reverberation using a
    DSP-informed deep neural network", ICASSP 2020 (data: Zenodo 3746119, folder ``spring/``).
    Rows are read lazily, one item at a time; HDF5 handles are opened per process so the
    dataset can be used by DataLoader workers. ``preload=True`` reads everything (as float32).
    """

    layout = "springset"

    def __init__(self, root: str | Path, preload: bool = False) -> None:
        root = Path(root)
        self._handles: dict[Path, Any] = {}
        self._pid = os.getpid()
        items: list[PairItem] = []
        self._keys: dict[Path, str] = {}
        for subset in SPRINGSET_SUBSETS:
            items.extend(self._scan_subset(root, subset))
        super().__init__(root, items, SPRINGSET_RATE, preload=preload)

    def _scan_subset(self, root: Path, subset: SpringSetSubset) -> list[PairItem]:
        shapes = {}
        for file, key in ((subset.dry_file, subset.dry_key), (subset.wet_file, subset.wet_key)):
            path = root / file
            shapes[file] = _h5_shape(path, key)
            self._keys[path] = key
        (n_dry, t_dry), (n_wet, t_wet) = shapes[subset.dry_file], shapes[subset.wet_file]
        dry_path, wet_path = root / subset.dry_file, root / subset.wet_file
        if n_dry != n_wet:
            raise DatasetError(f"{wet_path}: {n_wet} wet items but {dry_path} has {n_dry} dry items "
                               f"(dry/wet count mismatch)")
        if t_dry != t_wet:
            raise DatasetError(f"{wet_path}: items are {t_wet} samples long but {dry_path} items are "
                               f"{t_dry} (dry/wet length mismatch)")
        return [PairItem(id=f"springset/{subset.name}/{i}", subset=subset.name, name=str(i),
                         dry_path=dry_path, wet_path=wet_path, length=t_dry, index=i)
                for i in range(n_dry)]

    def _handle(self, path: Path) -> Any:
        import h5py

        if self._pid != os.getpid():        # a forked DataLoader worker: never share handles
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(path)
        if handle is None:
            handle = self._handles[path] = _h5_open(path, h5py)
        return handle

    def _read_raw(self, item: PairItem) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for path in (item.dry_path, item.wet_path):
            try:
                out.append(np.asarray(self._handle(path)[self._keys[path]][item.index, :, 0]))
            except DatasetError:
                raise
            except Exception as err:  # h5py raises OSError/KeyError/ValueError on damaged files
                raise DatasetError(f"{path}[{item.index}]: cannot read item {item.id} ({err})") from err
        return out[0], out[1]

    def close(self) -> None:
        """Close the open HDF5 handles (they reopen on the next read)."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = {}              # h5py handles do not pickle; reopen in the worker
        return state


def _h5_open(path: Path, h5py: Any) -> Any:
    if not path.exists():
        raise DatasetError(f"{path}: missing file")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: empty file (0 bytes)")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DatasetError(f"{path}: cannot open as HDF5, the file is truncated or corrupt ({err})") from err


def _h5_shape(path: Path, key: str) -> tuple[int, int]:
    """(N, T) of dataset ``key`` in ``path``, after checking key, shape, dtype and sample rate."""
    import h5py

    with _h5_open(path, h5py) as f:
        if key not in f:
            found = ", ".join(sorted(f.keys())) or "none"
            raise DatasetError(f"{path}: no dataset {key!r} (wrong h5 key; found: {found})")
        ds = f[key]
        if not isinstance(ds, h5py.Dataset):
            raise DatasetError(f"{path}: {key!r} is a group, not an array")
        if ds.ndim != 3 or ds.shape[2] != 1:
            raise DatasetError(f"{path}: {key!r} has shape {ds.shape}, expected (N, T, 1)")
        if ds.dtype.kind != "f":
            raise DatasetError(f"{path}: {key!r} has dtype {ds.dtype}, expected floating point (float64)")
        if ds.shape[0] == 0 or ds.shape[1] == 0:
            raise DatasetError(f"{path}: {key!r} is empty (shape {ds.shape})")
        for attrs in (f.attrs, ds.attrs):
            for name in _RATE_ATTRS:
                if name in attrs and int(attrs[name]) != SPRINGSET_RATE:
                    raise DatasetError(f"{path}: wrong sample rate {int(attrs[name])} Hz in attribute "
                                       f"{name!r}, SpringSet is {SPRINGSET_RATE} Hz")
        return int(ds.shape[0]), int(ds.shape[1])


# ---------------------------------------------------------------------------------------------
# EGFxSet (WAV folders)
# ---------------------------------------------------------------------------------------------
class EGFxSetPairs(SpringPairs):
    """EGFxSet: ``Clean/<Position>/<name>.wav`` paired with ``Spring Reverb/<Position>/<name>.wav``.

    Source: Pedroza, Meza and Roman, "EGFxSet: Electric guitar tones processed through real
    effects of distortion, modulation, delay and reverb", ISMIR LBD 2022 (Zenodo 7044411).
    Pairs are matched by position and file name; a file without its partner, a position
    folder on one side only, a length, channel or sample-rate mismatch is a DatasetError.
    A position absent on both sides is allowed (a smaller synthetic set may omit it).
    """

    layout = "egfxset"

    def __init__(self, root: str | Path, preload: bool = False) -> None:
        root = Path(root)
        dry_root, wet_root = root / EGFXSET_DRY_DIR, root / EGFXSET_WET_DIR
        for folder in (dry_root, wet_root):
            if not folder.is_dir():
                raise DatasetError(f"{folder}: missing folder (EGFxSet needs {EGFXSET_DRY_DIR}/ and "
                                   f"{EGFXSET_WET_DIR}/)")
        for folder in (dry_root, wet_root):
            for sub in folder.iterdir():
                if sub.is_dir() and not _hidden(sub) and sub.name not in EGFXSET_POSITIONS:
                    raise DatasetError(f"{sub}: unexpected folder; pickup positions are "
                                       f"{', '.join(EGFXSET_POSITIONS)}")
        items: list[PairItem] = []
        for position in EGFXSET_POSITIONS:
            items.extend(_scan_position(dry_root / position, wet_root / position, position))
        if not items:
            raise DatasetError(f"{root}: no WAV pairs under {EGFXSET_DRY_DIR}/<Position>/")
        super().__init__(root, items, EGFXSET_RATE, preload=preload)

    def _read_raw(self, item: PairItem) -> tuple[np.ndarray, np.ndarray]:
        return _wav_read(item.dry_path), _wav_read(item.wet_path)


def _hidden(path: Path) -> bool:
    return path.name.startswith((".", "__"))


def _wavs(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() == ".wav" and not _hidden(p)}


def _natural_key(name: str) -> tuple:
    """Sort "6-10" after "6-9": digits compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", name) if part)


def _scan_position(dry_dir: Path, wet_dir: Path, position: str) -> list[PairItem]:
    if not dry_dir.is_dir() and not wet_dir.is_dir():
        return []
    for have, lack in ((dry_dir, wet_dir), (wet_dir, dry_dir)):
        if have.is_dir() and not lack.is_dir():
            raise DatasetError(f"{lack}: missing folder, but {have} exists (dry/wet positions must match)")
    dry, wet = _wavs(dry_dir), _wavs(wet_dir)
    for have, lack, folder in ((dry, wet, wet_dir), (wet, dry, dry_dir)):
        orphans = sorted(set(have) - set(lack), key=_natural_key)
        if orphans:
            shown = ", ".join(str(have[n]) for n in orphans[:3]) + (" ..." if len(orphans) > 3 else "")
            raise DatasetError(f"{shown}: no partner {orphans[0]}.wav in {folder} "
                               f"({len(orphans)} unpaired file(s))")
    items = []
    for name in sorted(dry, key=_natural_key):
        n_dry, n_wet = _wav_frames(dry[name]), _wav_frames(wet[name])
        if n_dry != n_wet:
            raise DatasetError(f"{wet[name]}: {n_wet} samples but {dry[name]} has {n_dry} "
                               f"(dry/wet length mismatch)")
        string = fret = midi = None
        match = re.fullmatch(r"(\d+)-(\d+)", name)
        if match:
            string, fret = int(match[1]), int(match[2])
            if string in EGFXSET_OPEN_STRING_MIDI:
                midi = EGFXSET_OPEN_STRING_MIDI[string] + fret
        items.append(PairItem(id=f"egfxset/{position}/{name}", subset=position, name=name,
                              dry_path=dry[name], wet_path=wet[name], length=n_dry,
                              string=string, fret=fret, midi=midi))
    return items


def _wav_frames(path: Path) -> int:
    """Frames of a mono 48 kHz WAV, after checking it is complete, mono and at the right rate."""
    import soundfile as sf

    size = path.stat().st_size
    if size == 0:
        raise DatasetError(f"{path}: empty file (0 bytes)")
    _check_riff_complete(path, size)
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DatasetError(f"{path}: cannot read WAV header ({err})") from err
    if info.samplerate != EGFXSET_RATE:
        raise DatasetError(f"{path}: wrong sample rate {info.samplerate} Hz, EGFxSet is {EGFXSET_RATE} Hz")
    if info.channels != 1:
        raise DatasetError(f"{path}: {info.channels} channels, EGFxSet files are mono")
    if info.frames == 0:
        raise DatasetError(f"{path}: empty file (no samples)")
    return int(info.frames)


def _check_riff_complete(path: Path, size: int) -> None:
    """Raise if a RIFF/WAVE file is cut short (libsndfile silently reads what is there)."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12:
            raise DatasetError(f"{path}: truncated WAV ({size} bytes, no complete header)")
        magic, riff_size, wave = struct.unpack("<4sI4s", head)
        if magic == b"RF64":                # 64-bit sizes live in a ds64 chunk; let libsndfile judge
            return
        if magic != b"RIFF" or wave != b"WAVE":
            raise DatasetError(f"{path}: not a RIFF/WAVE file")
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk == b"data":
                if pos + 8 + chunk_size > size:
                    raise DatasetError(f"{path}: truncated WAV (data chunk declares {chunk_size} bytes, "
                                       f"{size - pos - 8} present)")
                return
            pos += 8 + chunk_size + (chunk_size & 1)
        raise DatasetError(f"{path}: truncated WAV (no complete data chunk)")


def _wav_read(path: Path) -> np.ndarray:
    import soundfile as sf

    try:
        data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    except FileNotFoundError as err:
        raise DatasetError(f"{path}: missing file") from err
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DatasetError(f"{path}: cannot read WAV ({err})") from err
    return data[:, 0]


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------
def _resolve(path: str | Path) -> tuple[str, Path]:
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: expected a dataset folder, got a file")
    h5_names = [name for s in SPRINGSET_SUBSETS for name in (s.dry_file, s.wet_file)]
    for root in (path, path / "spring"):    # the archive's own folder name, if kept
        if any((root / name).exists() for name in h5_names):
            return "springset", root
    if (path / EGFXSET_DRY_DIR).is_dir() or (path / EGFXSET_WET_DIR).is_dir():
        return "egfxset", path
    raise DatasetError(f"{path}: not a SpringSet folder (no {', '.join(h5_names)}) nor an EGFxSet "
                       f"folder (no {EGFXSET_DRY_DIR}/ or {EGFXSET_WET_DIR}/)")


def detect_layout(path: str | Path) -> str:
    """``"springset"`` or ``"egfxset"``: which real layout the folder ``path`` holds."""
    return _resolve(path)[0]


def open_dataset(path: str | Path, *, preload: bool = False, verify: bool = False) -> SpringPairs:
    """Open the dataset in ``path`` (layout detected) and return its dry/wet pairs.

    ``preload`` reads every item into memory (float32); ``verify`` reads every item once to
    check for NaN/Inf samples up front (otherwise each item is checked when it is read).
    Raises :class:`springstudy.data.DatasetError` naming the file for any data problem.
    """
    layout, root = _resolve(path)
    cls = SpringSetPairs if layout == "springset" else EGFxSetPairs
    pairs = cls(root, preload=preload)
    if verify and not preload:              # preload has already read (and checked) everything
        pairs.verify()
    return pairs

