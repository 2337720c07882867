"""Splits preloaded as tensors: what training and evaluation both read.

One rule for both (so evaluation sees exactly what training saw): open the dataset, take the
split from a split file (checked against the dataset) or draw the seeded thesis split, and give
every item ``RemoveDC`` then ``NormalisePair`` (one gain for dry and wet), whole and uncropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from springstudy.data import DatasetError, open_dataset
from springstudy.data.knobs import KNOBS_FILE, knob_matrix
from springstudy.data.splits import make_splits, read_split_file, split_indices
from springstudy.data.transforms import NormalisePair, RemoveDC


@dataclass
class SplitTensors:
    """One split preloaded as float32 tensors (N, 1, T), with item ids and, for a dataset
    rendered with knobs, each item's normalised knob setting (N, 4) in [0, 1]
    (:func:`springstudy.data.knobs.knob_matrix`; None otherwise)."""

    dry: torch.Tensor
    wet: torch.Tensor
    ids: list[str]
    knobs: torch.Tensor | None = None


def load_split_tensors(data: str | Path, split_file: str | Path | None, seed: int, split_method: str = "random",
                       names: Sequence[str] = ("train", "validation"),
                       ) -> tuple[dict[str, SplitTensors], int, dict[str, Any]]:
    """The named splits of ``data`` as :class:`SplitTensors`, the sample rate and the split record.

    Raises :class:`~springstudy.data.DatasetError` naming the folder for an empty split or items
    of different lengths (and whatever the loader finds wrong with the files, ``knobs.csv``
    included when the dataset has one).
    """
    pairs = open_dataset(data)
    record = read_split_file(split_file, pairs) if split_file else make_splits(pairs, seed, split_method)
    indices = split_indices(pairs, record)
    out = {}
    for name in names:
        if not indices[name]:
            raise DatasetError(f"{data}: the {name} split is empty")
        dry, wet = [], []
        for i in indices[name]:
            d, w = RemoveDC()(*pairs[i])
            d, w = NormalisePair()(d, w)
            dry.append(d)
            wet.append(w)
        lengths = {x.shape[-1] for x in dry}
        if len(lengths) > 1:
            raise DatasetError(f"{data}: {name} items of different lengths {sorted(lengths)}; crop or pad first")
        ids = [pairs.ids[i] for i in indices[name]]
        knobs = None
        if (pairs.root / KNOBS_FILE).is_file():
            knobs = torch.tensor(knob_matrix(pairs.root, ids)[0], dtype=torch.float32)
        out[name] = SplitTensors(torch.stack(dry).float(), torch.stack(wet).float(), ids, knobs)
    return out, int(pairs.sample_rate), record
