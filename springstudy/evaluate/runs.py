"""Trained runs: finding their checkpoints, the data they were trained on, their test split checked, scored."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from springstudy.baselines import BASELINES
from springstudy.evaluate.scoring import (DEFAULT_BATCH_SIZE, EvaluationError, Scored, model_predictor,
                                          score_predictor)
from springstudy.metrics import DEFAULT_PRE_EMPHASIS


# --- runs -----------------------------------------------------------------------------------

def find_runs(paths: Iterable[str | Path], models: Iterable[str] | None = None) -> dict[str, Path]:
    """Run folders holding ``best.pt``, by model name, in the thesis's model order.

    Each path is a run folder (it holds ``best.pt``) or a folder of run folders (e.g.
    ``runs/<profile>/<format>``, one level down). The label is the checkpoint's model name; a
    second run of the same model is labelled ``<model> (<folder>)``. ``models`` keeps only
    runs of those model names.
    """
    from springstudy.models import list_models

    found: list[tuple[str, Path]] = []
    for path in map(Path, paths):
        if (path / "best.pt").is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = sorted(p for p in path.iterdir() if (p / "best.pt").is_file())
        else:
            raise EvaluationError(f"{path}: no such run folder")
        if not candidates:
            raise EvaluationError(f"{path}: no best.pt in it or in any folder directly below it")
        for run in candidates:
            found.append((_checkpoint_model_name(run / "best.pt"), run))
    wanted = None if models is None else {m.lower() for m in models}
    order = {name.lower(): k for k, name in enumerate(list_models())}
    found = [(m, r) for m, r in found if wanted is None or m.lower() in wanted or r.name.lower() in wanted]
    found.sort(key=lambda mr: (order.get(mr[0].lower(), len(order)), mr[0], str(mr[1])))
    runs: dict[str, Path] = {}
    for model, run in found:
        label = model if model not in runs else f"{model} ({run.name})"
        runs[label] = run
    return runs


def _checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for an unreadable file
        raise EvaluationError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(ckpt, dict) or "model_name" not in ckpt or "model_state" not in ckpt:
        raise EvaluationError(f"{path}: not a springstudy checkpoint (needs model_name and model_state)")
    return ckpt


def _checkpoint_model_name(path: Path) -> str:
    return str(_checkpoint(path)["model_name"])


def run_data_source(run: Path) -> dict[str, Any]:
    """Where a run's data and split came from: ``data``, ``split_file``, ``seed``,
    ``split_method`` (from its checkpoint's config) and its own ``split.json`` if written."""
    ckpt = _checkpoint(run / "best.pt")
    config = ckpt.get("config") or {}
    return {"data": config.get("data"), "split_file": config.get("split_file"), "seed": config.get("seed"),
            "split_method": config.get("split_method", "random"), "sample_rate": ckpt.get("sample_rate"),
            "split_json": str(run / "split.json") if (run / "split.json").is_file() else None}


def check_test_split(runs: Mapping[str, Path], record: Mapping[str, Any]) -> None:
    """Raise :class:`EvaluationError` if a run's own ``split.json`` holds a different test set
    than ``record``: a model scored on items it trained on would look better than it is."""
    test = list(record["splits"]["test"])
    for label, run in runs.items():
        path = Path(run) / "split.json"
        if path.is_file():
            own = json.loads(path.read_text())["splits"]["test"]
            if list(own) != test:
                raise EvaluationError(f"{label}: {path} holds a different test split than the one evaluated "
                                      f"({len(own)} vs {len(test)} items); give the split file it was trained with")


def score_runs(runs: Mapping[str, Path], split: Any, sample_rate: int | None = None,
               pre_emphasis: float = DEFAULT_PRE_EMPHASIS, batch_size: int = DEFAULT_BATCH_SIZE,
               keep: Iterable[int] = (), device: str = "cpu", progress: bool = False) -> dict[str, Scored]:
    """Score each run's ``best.pt`` on ``split``; a checkpoint trained at another sample rate is an error."""
    from springstudy.models import load_checkpoint

    keep = list(keep)
    scored = {}
    for label, run in runs.items():
        ckpt_rate = _checkpoint(run / "best.pt").get("sample_rate")
        if sample_rate is not None and ckpt_rate is not None and int(ckpt_rate) != int(sample_rate):
            raise EvaluationError(f"{run}: trained at {ckpt_rate} Hz, but the test data is at {sample_rate} Hz")
        model = load_checkpoint(run / "best.pt")
        kind = "baseline" if label.split(" (")[0] in BASELINES else "model"
        scored[label] = score_predictor(model_predictor(model, device), split, label, model.num_parameters, kind,
                                        pre_emphasis, batch_size, keep, progress)
    return scored


# --- what the command line needs (springstudy.cli.evaluate) --------------------------------

def resolve_in_project(value: str | None) -> Path | None:
    """A path as given, or relative to the project root if it only exists there."""
    if value is None:
        return None
    path = Path(value)
    if path.exists() or path.is_absolute():
        return path
    try:
        from springstudy.config import project_root

        candidate = project_root() / path
    except Exception:  # noqa: BLE001 - no project root: keep the path as given
        return path
    return candidate if candidate.exists() else path


def common_source(runs: Mapping[str, Path]) -> dict[str, Any]:
    """The data and split all ``runs`` were trained with; an error if they differ."""
    sources = {label: run_data_source(run) for label, run in runs.items()}
    keys = ("data", "split_file", "seed", "split_method")
    first_label, first = next(iter(sources.items()))
    for label, source in sources.items():
        differing = [k for k in keys if source[k] != first[k]]
        if differing:
            raise EvaluationError(f"runs {first_label} and {label} were trained with different "
                                  f"{', '.join(differing)}; evaluate them separately or give --data and --split-file")
    split_jsons = {s["split_json"] for s in sources.values()} - {None}
    test_sets = {tuple(json.loads(Path(p).read_text())["splits"]["test"]) for p in split_jsons}
    if len(test_sets) > 1:
        raise EvaluationError("the runs' split.json files hold different test sets; give --split-file")
    return {**first, "split_json": sorted(split_jsons)[0] if split_jsons else None}
