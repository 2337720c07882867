"""The study's data: the two real spring-reverb datasets, their splits and transforms.

``open_dataset(path)`` reads either real layout (SpringSet HDF5 files or EGFxSet WAV folders,
see :mod:`springstudy.data.formats`) and returns dry/wet pairs; every problem with the data is
a :class:`DatasetError` naming the file. Splits (thesis §3.3.2, 50/25/25) live in
:mod:`springstudy.data.splits`, training/evaluation transforms in
:mod:`springstudy.data.transforms`, the verified Zenodo download in
:mod:`springstudy.data.download` and the Table 3/4 overview in :mod:`springstudy.data.overview`.

(``download`` is deliberately not re-exported: it is also the submodule's name.)

This module stays light: the public names are imported on first use (PEP 562), so importing
``springstudy.data.formats`` (as the synthetic tank's writers do) does not pull in torch or h5py.
"""

from __future__ import annotations

import importlib
from typing import Any

from springstudy.errors import SpringStudyError


class DatasetError(SpringStudyError, ValueError):
    """A dataset on disk is missing, malformed or inconsistent; the message names the file."""


#: Public name -> module that defines it (imported lazily on first attribute access).
_EXPORTS = {
    "open_dataset": "datasets",
    "SpringPairs": "datasets",
    "SpringSetPairs": "datasets",
    "EGFxSetPairs": "datasets",
    "PairItem": "datasets",
    "detect_layout": "datasets",
    "SPLIT_NAMES": "splits",
    "THESIS_FRACTIONS": "splits",
    "make_splits": "splits",
    "write_split_file": "splits",
    "read_split_file": "splits",
    "split_indices": "splits",
    "RemoveDC": "transforms",
    "NormalisePair": "transforms",
    "RandomCrop": "transforms",
    "Compose": "transforms",
    "TransformedPairs": "transforms",
    "training_pairs": "transforms",
    "evaluation_pairs": "transforms",
    "DownloadError": "download",
    "KNOB_NAMES": "knobs",
    "KnobRanges": "knobs",
    "knob_design": "knobs",
    "read_knobs": "knobs",
    "knob_matrix": "knobs",
}

__all__ = ["DatasetError", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
