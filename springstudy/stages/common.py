"""What the stage notebooks share: paths relative to the project, a scratch folder for outputs
when a notebook runs as it is (nbmake), and the datasets a stage reads (the study's, or smoke
sets rendered by the synthetic tank when no data folder is given)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from springstudy.config import project_root


def in_project(path: str | Path | None, root: Path | None = None) -> Path | None:
    """``path`` as given if absolute, else under the project root (the folder of params.yaml)."""
    if path is None:
        return None
    path = Path(path)
    return path if path.is_absolute() else (root or project_root()) / path


def scratch_folder(prefix: str) -> Path:
    """A new temporary folder: where a notebook run as it is writes, so that running it never
    overwrites the pipeline's outputs (DVC passes the real folders)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def dataset_sources(data_dir: str | Path | None, datasets: Sequence[str], seed: int,
                    scratch: Path) -> dict[str, Path]:
    """Each dataset's folder: ``<data_dir>/<name>``, or with ``data_dir`` None the synthetic tank's
    smoke set of that format rendered under ``scratch/data`` with ``seed``."""
    if data_dir is None:
        from springstudy.data.synth import synthesize

        return {name: synthesize(name, "smoke", scratch / "data" / name, seed=seed, progress=False)
                for name in datasets}
    return {name: in_project(data_dir) / name for name in datasets}


def split_files(splits_dir: str | Path | None, datasets: Sequence[str]) -> dict[str, Path | None]:
    """Each dataset's split file ``<splits_dir>/<name>.json`` (the overview stage writes them), or
    None everywhere without a splits folder (a seeded split is drawn)."""
    return {name: None if splits_dir is None else in_project(splits_dir) / f"{name}.json" for name in datasets}
