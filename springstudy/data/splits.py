"""Seeded train/validation/test splits, written once to a split file that later stages read.

The thesis (§3.3.2 and Table 7; §3.2.1 for SpringSet's extra validation split) splits each
dataset 50% train, 25% validation, 25% test at random, but without a seed (one of its known
errors). Here a split is a pure function of the item ids and the seed, written as JSON with
sorted keys, so the same seed gives the same file, byte for byte.

Methods:

* ``random``: the thesis's 50/25/25 over all items, from ``numpy.random.default_rng(seed)``.
* ``original`` (SpringSet only): keep the archive's own ``train`` subset for training and halve
  ``val_test`` into validation and test, alternating rows (even rows -> validation, odd rows ->
  test), deterministic and robust to any ordering (e.g. guitar then bass) inside the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from springstudy.data import DatasetError
from springstudy.outputs import write_json_atomic

SPLIT_NAMES = ("train", "validation", "test")
THESIS_FRACTIONS = (0.5, 0.25, 0.25)
METHODS = ("random", "original")
#: Version of the split-file schema (bump when its meaning changes).
SPLIT_FILE_VERSION = 1


def split_sizes(n: int, fractions: Sequence[float] = THESIS_FRACTIONS) -> tuple[int, int, int]:
    """Item counts per split: largest-remainder rounding, at least one item each when n >= 3.

    >>> split_sizes(1186)
    (593, 297, 296)
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, not {fractions}")
    if n < 3:
        raise DatasetError(f"{n} item(s) cannot be split into train, validation and test")
    exact = [n * f for f in fractions]
    sizes = [math.floor(x) for x in exact]
    for k in sorted(range(3), key=lambda k: (-(exact[k] - sizes[k]), k))[: n - sum(sizes)]:
        sizes[k] += 1
    for k in range(3):      # never an empty split: borrow from the largest
        if sizes[k] == 0 and fractions[k] > 0:
            sizes[k] += 1
            sizes[max(range(3), key=lambda j: sizes[j])] -= 1
    return sizes[0], sizes[1], sizes[2]


def _random_split(ids: Sequence[str], seed: int, fractions: Sequence[float]) -> dict[str, list[str]]:
    n_train, n_val, _ = split_sizes(len(ids), fractions)
    order = np.random.default_rng(seed).permutation(len(ids))
    parts = {"train": order[:n_train], "validation": order[n_train:n_train + n_val],
             "test": order[n_train + n_val:]}
    return {name: [ids[i] for i in sorted(part.tolist())] for name, part in parts.items()}


def _original_split(pairs: Any) -> dict[str, list[str]]:
    if pairs.layout != "springset":
        raise DatasetError(f"{pairs.root}: split 'original' needs SpringSet's own train/val_test files; "
                           f"{pairs.layout} has no original split (use 'random')")
    val_test = [item.id for item in pairs.items if item.subset == "val_test"]
    return {"train": [item.id for item in pairs.items if item.subset == "train"],
            "validation": val_test[0::2], "test": val_test[1::2]}


def make_splits(pairs: Any, seed: int, method: str = "random",
                fractions: Sequence[float] = THESIS_FRACTIONS) -> dict[str, Any]:
    """The split record of ``pairs`` (a :class:`~springstudy.data.datasets.SpringPairs`).

    Returns a JSON-ready dict: layout, method, seed, fractions, counts and ``splits`` (item
    ids per split, in dataset order). No paths or times, so it is reproducible byte for byte.
    """
    if method not in METHODS:
        raise ValueError(f"unknown split method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "random":
        splits = _random_split(pairs.ids, int(seed), fractions)
    else:
        splits = _original_split(pairs)
    return {
        "version": SPLIT_FILE_VERSION,
        "layout": pairs.layout,
        "method": method,
        "seed": int(seed),
        "fractions": [float(f) for f in fractions] if method == "random" else None,
        "items": len(pairs),
        "counts": {name: len(splits[name]) for name in SPLIT_NAMES},
        "splits": {name: splits[name] for name in SPLIT_NAMES},
    }


def write_split_file(path: str | Path, record: dict[str, Any]) -> Path:
    """Write a split record as JSON (sorted keys, atomically); returns the path."""
    _check_record(record, Path(path))
    write_json_atomic(path, record)
    return Path(path)


def read_split_file(path: str | Path, pairs: Any | None = None) -> dict[str, Any]:
    """Read a split file; with ``pairs``, check it covers exactly that dataset's items."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: missing split file")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: not a valid split file ({err})") from err
    _check_record(record, path)
    if pairs is not None:
        if record["layout"] != pairs.layout:
            raise DatasetError(f"{path}: split of a {record['layout']} dataset, but {pairs.root} is {pairs.layout}")
        known = set(pairs.ids)
        listed = [i for name in SPLIT_NAMES for i in record["splits"][name]]
        unknown = [i for i in listed if i not in known]
        if unknown:
            raise DatasetError(f"{path}: {len(unknown)} item(s) not in {pairs.root}, e.g. {unknown[0]!r} "
                               f"(stale split file? write it again)")
        missing = known - set(listed)
        if missing:
            raise DatasetError(f"{path}: {len(missing)} item(s) of {pairs.root} are in no split, e.g. "
                               f"{sorted(missing)[0]!r} (stale split file? write it again)")
    return record


def split_indices(pairs: Any, record: dict[str, Any]) -> dict[str, list[int]]:
    """Dataset indices per split name, for :class:`~springstudy.data.transforms.TransformedPairs`."""
    return {name: [pairs.index_of(i) for i in record["splits"][name]] for name in SPLIT_NAMES}


def _check_record(record: Any, path: Path) -> None:
    if not isinstance(record, dict) or not isinstance(record.get("splits"), dict):
        raise DatasetError(f"{path}: not a split file (no 'splits' mapping)")
    for key in ("layout", "method", "seed"):
        if key not in record:
            raise DatasetError(f"{path}: split file lacks {key!r}")
    seen: dict[str, str] = {}
    for name in SPLIT_NAMES:
        ids = record["splits"].get(name)
        if not isinstance(ids, list):
            raise DatasetError(f"{path}: split file lacks the {name!r} list")
        for item_id in ids:
            if item_id in seen:
                raise DatasetError(f"{path}: item {item_id!r} is in both {seen[item_id]!r} and {name!r}")
            seen[item_id] = name
