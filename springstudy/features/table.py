"""Whole datasets in parallel: one row per item and side, written as CSV with a JSON of its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from springstudy.features.extract import _essentia, essentia_descriptors
from springstudy.features.params import (DESCRIPTORS, FEATURES_DIR, FeatureError, FeatureParams, KEY_COLUMNS,
                                         SIDES, SIDE_SIGNAL)
from springstudy.features.preliminary import preliminary_descriptors, pyin_pitch

if TYPE_CHECKING:
    import pandas as pd


#: Default chunks per worker process: enough for load balancing and a moving progress bar,
#: few enough that the per-task overhead (opening the dataset once per worker) is negligible.
CHUNKS_PER_WORKER = 8


# ---------------------------------------------------------------------------------------------
# Whole datasets, in parallel
# ---------------------------------------------------------------------------------------------
ANALYSES = ("essentia", "preliminary")
_WORKER: dict[str, Any] = {}


def _init_worker(root: str, params: FeatureParams, analysis: str, sides: tuple[str, ...],
                 splits: dict[str, str]) -> None:
    from springstudy.data import open_dataset
    from springstudy.data.formats import SPRINGSET_FADE_SECONDS

    pairs = open_dataset(root)
    _WORKER.update(pairs=pairs, params=params, analysis=analysis, sides=sides, splits=splits,
                   # SpringSet's artificial 0.5 s fade stays out of the noise estimate (as in overview).
                   exclude_tail=SPRINGSET_FADE_SECONDS if pairs.layout == "springset" else 0.0)


def _rows_for(indices: Sequence[int]) -> list[dict[str, Any]]:
    pairs, params, sides = _WORKER["pairs"], _WORKER["params"], _WORKER["sides"]
    rate = pairs.sample_rate
    rows = []
    for i in indices:
        item = pairs.items[i]
        # Essentia computes in float32; the loudness and noise estimates keep the file's float64.
        dry, wet = pairs.load(i, np.float32 if _WORKER["analysis"] == "essentia" else np.float64)
        for side in sides:
            x = dry if side == "x" else wet
            if _WORKER["analysis"] == "essentia":
                values = essentia_descriptors(x, rate, params)
            else:
                values = preliminary_descriptors(x, rate, params, _WORKER["exclude_tail"])
            rows.append({"dataset": pairs.layout, "split": _WORKER["splits"].get(item.id),
                         "subset": item.subset, "item_id": item.id, "side": side, "signal": SIDE_SIGNAL[side],
                         "sample_rate": rate, "seconds": item.length / rate, "_index": i, **values})
    return rows


def _chunks(n: int, workers: int, chunks_per_worker: int) -> list[list[int]]:
    size = max(1, math.ceil(n / (workers * chunks_per_worker)))
    return [list(range(start, min(start + size, n))) for start in range(0, n, size)]


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def descriptor_table(data: str | Path, analysis: str = "essentia", params: FeatureParams = FeatureParams(),
                     workers: int | None = None, split_file: str | Path | None = None,
                     sides: Iterable[str] = SIDES, progress: bool = True,
                     chunks_per_worker: int = CHUNKS_PER_WORKER) -> pd.DataFrame:
    """One row per item and side of the dataset in ``data``, keyed by dataset, split and item id.

    ``analysis`` is ``"essentia"`` (the nine descriptors) or ``"preliminary"`` (LUFS, pYIN,
    noise). ``split_file`` (written by :func:`springstudy.data.write_split_file`) fills the
    ``split`` column, which is empty otherwise. Items are spread over ``workers`` processes in
    chunks (``workers=1`` runs in this process); rows come back in dataset order, and the values
    do not depend on the number of workers.
    """
    import multiprocessing

    import pandas as pd
    from tqdm import tqdm   # plain text bar: works in a terminal, papermill and Jupyter alike

    from springstudy.data import open_dataset, read_split_file

    if analysis not in ANALYSES:
        raise FeatureError(f"unknown analysis {analysis!r}; choose one of {', '.join(ANALYSES)}")
    sides = tuple(sides)
    if not sides or any(s not in SIDES for s in sides):
        raise FeatureError(f"sides must be a non-empty selection of {SIDES}, not {sides}")
    pairs = open_dataset(data)
    splits: dict[str, str] = {}
    if split_file is not None:
        record = read_split_file(split_file, pairs)
        splits = {item_id: name for name, ids in record["splits"].items() for item_id in ids}
    workers = max(1, min(default_workers() if workers is None else int(workers), len(pairs)))
    chunks = _chunks(len(pairs), workers, chunks_per_worker)
    init_args = (str(pairs.root), params, analysis, sides, splits)
    # Import the analysis libraries here, once: forked workers inherit them instead of each
    # paying the import.
    if analysis == "essentia":
        _essentia()
        import scipy.signal  # noqa: F401
    else:
        import pyloudnorm  # noqa: F401

        # pYIN's first call compiles numba code for seconds: do it once here, not in every worker.
        pyin_pitch(np.zeros(params.frame_size(params.pitch_sample_rate) * 2), params.pitch_sample_rate, params)
    rows: list[dict[str, Any]] = []
    with tqdm(total=len(pairs), desc=f"{pairs.layout} {analysis}", unit="item", disable=not progress) as bar:
        if workers == 1:
            _init_worker(*init_args)
            for chunk in chunks:
                rows.extend(_rows_for(chunk))
                bar.update(len(chunk))
        else:
            # fork where available: workers start in milliseconds and inherit the imports.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with multiprocessing.get_context(method).Pool(workers, _init_worker, init_args) as pool:
                for chunk_rows in pool.imap_unordered(_rows_for, chunks):
                    rows.extend(chunk_rows)
                    bar.update(len({r["_index"] for r in chunk_rows}))
    rows.sort(key=lambda r: (r["_index"], SIDES.index(r["side"])))
    table = pd.DataFrame(rows).drop(columns="_index")
    table["split"] = table["split"].astype("string")
    return table


def value_columns(table: pd.DataFrame) -> list[str]:
    """The descriptor columns of a table (everything but the keys)."""
    return [c for c in table.columns if c not in KEY_COLUMNS]


def write_descriptor_table(table: pd.DataFrame, csv_path: str | Path,
                           meta: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``table`` as CSV and, beside it with the same stem, as JSON (``meta`` + ``rows``;
    NaN becomes null). Both atomically; returns the two paths."""
    from springstudy.outputs import json_safe, write_csv_atomic, write_json_atomic

    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    write_csv_atomic(csv_path, table, float_format=None)
    records = [json_safe(row) for row in table.to_dict("records")]
    write_json_atomic(json_path, {"meta": meta or {}, "rows": records})
    return csv_path, json_path


def table_meta(data: str | Path, analysis: str, params: FeatureParams, split_file: str | Path | None) -> dict[str, Any]:
    """What a descriptor table was computed from (stored in its JSON)."""
    meta: dict[str, Any] = {"analysis": analysis, "data": str(data), "params": asdict(params),
                            "split_file": None if split_file is None else str(split_file),
                            "sides": dict(SIDE_SIGNAL), "thesis": "§3.2.3, Figures 12-13"}
    if analysis == "essentia":
        import essentia

        meta["essentia_version"] = essentia.__version__
        meta["descriptors"] = [asdict(d) for d in DESCRIPTORS]
    else:
        from importlib.metadata import version

        meta["librosa_version"] = version("librosa")
        meta["pyloudnorm_version"] = version("pyloudnorm")
    return meta


# ---------------------------------------------------------------------------------------------
# Output paths (the command line is springstudy.cli.features)
# ---------------------------------------------------------------------------------------------
def default_output(layout: str, analysis: str = "essentia") -> Path:
    """``data/features/<dataset>_features.csv`` (or ``_preliminary.csv``) under the project root."""
    from springstudy.config import project_root

    suffix = "features" if analysis == "essentia" else "preliminary"
    return project_root() / FEATURES_DIR / f"{layout}_{suffix}.csv"


def preliminary_path(features_csv: str | Path) -> Path:
    """Where the preliminary table goes beside a descriptor table: ``x_features.csv`` ->
    ``x_preliminary.csv`` (other names get ``_preliminary`` appended to the stem)."""
    path = Path(features_csv)
    stem = path.stem[: -len("_features")] if path.stem.endswith("_features") else path.stem
    return path.with_name(f"{stem}_preliminary{path.suffix or '.csv'}")
