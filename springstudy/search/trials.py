"""The real objective: train a candidate to a rung's steps, resuming its run, and the whole search."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from springstudy.outputs import write_json_atomic
from springstudy.search.halving import RungResult, successive_halving
from springstudy.search.ranking import ranking_table
from springstudy.search.sampling import Candidate
from springstudy.search.space import RUNG_METRICS, SearchError, SearchSize, _BUDGET_STOPS


#: A run folder's record of what it was trained for (compared before a run is reused).
RUN_RECORD = "search.json"


# --- the real objective: train, resume, reuse -----------------------------------------------------

def data_fingerprint(splits: Mapping[str, Any]) -> str:
    """SHA-1 of the training and validation tensors and ids: a run folder is reused only on the same data."""
    digest = hashlib.sha1()
    for name in ("train", "validation"):
        split = splits[name]
        digest.update(name.encode())
        digest.update(json.dumps(list(split.ids)).encode())
        for tensor in (split.dry, split.wet):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_config(candidate: Candidate, out: str | Path, steps: int, settings: Mapping[str, Any],
                 seed: int) -> "TrainConfig":  # noqa: F821
    """The :class:`springstudy.train.TrainConfig` of ``candidate`` trained to ``steps``."""
    from springstudy.train import TrainConfig

    return TrainConfig.from_dict({**settings, "model": candidate.model, "out": str(out), "max_steps": int(steps),
                                  "lr": candidate.lr, "batch_size": candidate.batch_size, "seed": int(seed),
                                  "model_overrides": dict(candidate.overrides)})


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


def _run_record(candidate: Candidate, config: Any, fingerprint: str) -> dict[str, Any]:
    # Everything that decides the run's numbers; not its length, folder, threads or device.
    settings = {k: v for k, v in dataclasses.asdict(config).items()
                if k not in ("max_steps", "out", "threads", "device", "tensorboard", "data", "split_file")}
    return _json_roundtrip({"candidate": candidate.record(), "train": settings, "data_fingerprint": fingerprint})


def val_loss_at(history: Sequence[Mapping[str, Any]], steps: int, metric: str = "last") -> float:
    """Validation loss of a run at ``steps`` from its history: the last validation at or before
    ``steps`` (``metric="last"``) or the best of them (``"best"``, what ``best.pt`` held then)."""
    if metric not in RUNG_METRICS:
        raise SearchError(f"unknown rung metric {metric!r}; choose {' or '.join(RUNG_METRICS)}")
    values = [float(h["val_loss"]) for h in history if h["step"] <= steps]
    values = [v if math.isfinite(v) else math.inf for v in values]
    if not values:
        return math.inf
    return values[-1] if metric == "last" else min(values)


@dataclass
class TrialOutcome:
    """What one rung training of one configuration gave: the rung's validation loss (by the
    rung metric), the best so far, the steps trained, and whether it was read from disk."""

    val_loss: float
    best_val_loss: float
    steps: int
    seconds: float
    reused: bool
    stopped: str | None
    error: str | None = None


def train_to(candidate: Candidate, steps: int, run_dir: str | Path, settings: Mapping[str, Any], seed: int,
             splits: Mapping[str, Any], sample_rate: int, fingerprint: str | None = None,
             metric: str = "last") -> TrialOutcome:
    """Train ``candidate`` in ``run_dir`` up to ``steps`` cumulative steps and return its
    validation loss there (``metric``: see :func:`val_loss_at`).

    A run already in ``run_dir`` for the same configuration, settings and data is reused: read
    if it reached ``steps`` (or stopped early), resumed from ``last.pt`` if not. Anything else
    there is trained over from the start. A diverging run (non-finite loss) gives ``inf``.
    """
    from springstudy.train import TrainingError, load_training_checkpoint, train

    run_dir = Path(run_dir)
    fingerprint = fingerprint or data_fingerprint(splits)
    config = train_config(candidate, run_dir, steps, settings, seed)
    record = _run_record(candidate, config, fingerprint)
    record_path, last = run_dir / RUN_RECORD, run_dir / "last.pt"
    same = record_path.is_file() and last.is_file() and json.loads(record_path.read_text()) == record
    started = time.perf_counter()
    resume = False
    if same:
        state = load_training_checkpoint(last)["train_state"]
        if state["step"] >= steps or state.get("stopped") not in (*_BUDGET_STOPS, None):
            history = state["history"]
            return TrialOutcome(val_loss_at(history, steps, metric), val_loss_at(history, steps, "best"),
                                min(int(state["step"]), int(steps)), 0.0, True, state.get("stopped"))
        resume = True          # the trainer continues a run stopped at its step limit
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(record_path, record)
    try:
        # A run of another configuration in this folder (its record differs) is replaced.
        result = train(config, resume=resume, splits=dict(splits), sample_rate=sample_rate, progress=False,
                       overwrite=not same)
    except TrainingError as err:
        step = int(load_training_checkpoint(last)["train_state"]["step"]) if last.is_file() else 0
        return TrialOutcome(math.inf, math.inf, step, time.perf_counter() - started, False, "error", str(err))
    history = result.history
    return TrialOutcome(val_loss_at(history, steps, metric), val_loss_at(history, steps, "best"),
                        int(result.summary["steps"]), time.perf_counter() - started, False,
                        result.summary["stopped"])


# --- the search ----------------------------------------------------------------------------------

@dataclass
class SearchResult:
    """A finished (or rung-limited) search: configurations, per-rung results, ranking, timing."""

    size: SearchSize
    candidates: list[Candidate]
    rungs: list[RungResult]
    outcomes: dict[tuple[str, int], TrialOutcome]
    seconds: float
    sample_rate: int

    def rung_table(self) -> pd.DataFrame:
        """One row per (configuration, rung): the long form behind the rung figure."""
        by_id = {c.config_id: c for c in self.candidates}
        rows = []
        for r in self.rungs:
            o = self.outcomes[(r.config_id, r.rung)]
            rows.append({"config_id": r.config_id, "family": by_id[r.config_id].family, "rung": r.rung,
                         "rung_steps": r.steps, "steps": o.steps, "val_loss": r.val_loss,
                         "best_val_loss": o.best_val_loss, "promoted": r.promoted,
                         "seconds": round(o.seconds, 3), "reused": o.reused, "error": o.error or ""})
        return pd.DataFrame(rows)

    def ranking(self) -> pd.DataFrame:
        """The ranked table (see :func:`ranking_table`)."""
        return ranking_table(self.candidates, self.rungs, self.outcomes, len(self.size.rungs), self.sample_rate)


def run_search(candidates: Sequence[Candidate], size: SearchSize, splits: Mapping[str, Any], sample_rate: int,
               out: str | Path, seed: int, progress: bool = True) -> SearchResult:
    """Successive halving over ``candidates`` with real training: runs in ``<out>/<config_id>/``,
    grouped by family when ``size.per_family``; a progress bar over the rung trainings."""
    out = Path(out)
    by_id = {c.config_id: c for c in candidates}
    if len(by_id) != len(candidates):
        raise SearchError("configuration ids are not unique")
    fingerprint = data_fingerprint(splits)
    outcomes: dict[tuple[str, int], TrialOutcome] = {}
    rung_of = {steps: r for r, steps in enumerate(size.rungs)}

    def evaluate(config_id: str, steps: int) -> float:
        outcome = train_to(by_id[config_id], steps, out / config_id, size.train, seed, splits, sample_rate,
                           fingerprint, size.metric)
        outcomes[(config_id, rung_of[steps])] = outcome
        return outcome.val_loss

    started = time.perf_counter()
    groups = {c.config_id: (c.family if size.per_family else "all") for c in candidates}
    rungs = successive_halving([c.config_id for c in candidates], size.rungs, evaluate, size.eta, groups,
                               size.min_survivors, size.rungs_to_run, progress=progress,
                               desc=f"search ({size.name})")
    return SearchResult(size, list(candidates), rungs, outcomes, time.perf_counter() - started, int(sample_rate))
