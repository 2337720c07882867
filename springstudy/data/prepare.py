"""The pipeline's ``data`` stage: the dataset of one format, synthetic or real, at one place.

``params.yaml``'s ``data.sources`` names, per format, either ``synthetic`` (render the tank at
the profile's preset), a folder holding the real dataset (as ``springstudy data download``
leaves it), or a folder holding a dry/wet pair recorded through one's own device
(``dry.wav``, ``wet.wav``; :mod:`springstudy.data.pair`). Either way the stage's output is ``data/<profile>/<format>/``, so every later stage
reads the same path. A real dataset is checked in full first (every item read, no NaN, pairs
complete) and then linked in file by file (hard links where the file system allows, else
copies), so the raw download is never edited in place.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from springstudy.data.pair import is_pair_folder, pair_to_layout
from springstudy.data.synth import synthesize
from springstudy.outputs import atomic_folder, write_json_atomic
from springstudy.data.tank import TankParams

SYNTHETIC = "synthetic"


def _link_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)


def prepare(format: str, profile: str, out: str | Path, params: dict[str, Any], progress: bool = True) -> Path:
    """Build ``out`` for ``format`` from ``params`` (``data.sources``, ``data.tank``, ``seed``)."""
    from springstudy.data import DatasetError, detect_layout, open_dataset

    data = params.get("data", {}) or {}
    source = (data.get("sources") or {}).get(format, SYNTHETIC)
    out = Path(out)
    if source == SYNTHETIC:
        tank = TankParams.from_dict(data.get("tank", {}) or {})
        return synthesize(format, profile, out, seed=params.get("seed"), tank=tank, progress=progress,
                          overwrite=True)
    folder = Path(source)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: data.sources.{format} names no folder (download it with "
                           f"`springstudy data download {format} --out {folder}`, or set it to {SYNTHETIC})")
    if is_pair_folder(folder):             # a user's own device: dry.wav and wet.wav (springstudy.data.pair)
        with atomic_folder(out) as tmp:
            found = pair_to_layout(folder, tmp, format)
            write_json_atomic(tmp / "pair.json", found)
        return out
    layout = detect_layout(folder)
    if layout != format:
        raise DatasetError(f"{folder}: holds a {layout} dataset, but data.sources.{format} expects {format}")
    open_dataset(folder, verify=True)
    with atomic_folder(out) as tmp:
        _link_tree(folder, tmp)
    return out
