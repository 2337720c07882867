"""The ``knobs`` stage: do models follow the tank's knobs, and does a model's decay follow the decay knob?

No public spring-reverb dataset has knob labels; the synthetic tank knows its own settings and
its true RT60 at each. :func:`run` does the stage's whole job; notebook ``11_knobs`` shows it.

1. **Data.** A SpringSet-format dataset rendered with knobs (``springstudy data synth --knobs``:
   every item at its own setting of a seeded Latin hypercube over the ranges), split at random
   50/25/25: the test items' settings were never seen in training. A second test set sits at the
   **edges**: the 16 corners of the ranges (every knob at its low or high end), notes drawn
   afresh (:func:`edge_split`).
2. **Models.** Each conditioned model and the unconditioned model of its family it is paired
   with (``pairs``), trained on the same training items with the same settings (the recurrent
   ones on crops, ``recurrent``); the unconditioned model sees the audio only.
3. **Scores.** ESR and MR-STFT per test item, means with bootstrap intervals per model and set,
   and per pair the paired difference (conditioned minus partner) on the same items.
4. **Decay.** For a sweep of the decay knob (the other knobs at the middle of their ranges),
   each model's impulse response by sine sweep and its T30, against the tank's true T30 at that
   setting (:func:`decay_sweep`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from springstudy.data.knobs import KNOB_NAMES, KnobRanges
from springstudy.data.tensors import SplitTensors, load_split_tensors
from springstudy.evaluate.knobs import (METRICS, TEST_SETS, decay_following, pair_differences, reading,
                                        results_markdown, rt60_markdown)
from springstudy.evaluate.stats import summarise
from springstudy.outputs import save_figure, write_bytes_atomic, write_csv_atomic, write_json_atomic



@dataclass
class KnobStudy:
    """What the knobs stage measured and wrote."""

    results: pd.DataFrame         # per model and test set: mean and interval of each metric
    differences: pd.DataFrame     # per pair and test set: conditioned minus partner, paired
    items: pd.DataFrame           # per model, test set and item: knob values and metrics
    rt60: pd.DataFrame            # per model and decay setting: the model's T30 and the tank's
    written: dict[str, Path] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict, repr=False)


def dataset_tank(data: Path) -> tuple[Any, KnobRanges]:
    """The tank (TankParams) and the knob ranges a conditioned dataset was rendered with (its tank.json)."""
    from springstudy.data.tank import TankParams

    report = json.loads((Path(data) / "tank.json").read_text())
    return TankParams.from_dict(report["params"]), KnobRanges.from_dict(report["knobs"]["ranges"])


def corner_settings(ranges: KnobRanges) -> np.ndarray:
    """The 2^K corners of the knob ranges (every knob at its low or high end), (16, 4)."""
    return np.array([[ranges.ranges[name][end] for name, end in zip(KNOB_NAMES, ends)]
                     for ends in itertools.product((0, 1), repeat=len(KNOB_NAMES))], dtype=float)


def edge_split(data: Path, ranges: KnobRanges, seed: int) -> SplitTensors:
    """Test items at the corners of the ranges, rendered as the dataset's items were (the
    dataset's tank, item length and normalisation), their notes drawn from ``seed`` + 1."""
    from springstudy.data.synth import render_conditioned
    from springstudy.data.transforms import NormalisePair, RemoveDC

    tank, _ = dataset_tank(data)
    settings = corner_settings(ranges)
    dry, wet, _ = render_conditioned(settings, tank, seed + 1, ranges=ranges)
    pairs = [NormalisePair()(*RemoveDC()(torch.from_numpy(d[None]).float(), torch.from_numpy(w[None]).float()))
             for d, w in zip(dry, wet)]
    return SplitTensors(torch.stack([d for d, _ in pairs]), torch.stack([w for _, w in pairs]),
                        [f"corner/{i}" for i in range(len(settings))],
                        torch.tensor(ranges.normalise(settings), dtype=torch.float32))


def is_recurrent(name: str) -> bool:
    """Whether the named model is recurrent (unbounded receptive field)."""
    from springstudy.models import build

    return math.isinf(build(name).receptive_field)


def train_models(names: Sequence[str], splits: dict[str, SplitTensors], sample_rate: int, runs_dir: Path,
                 settings: Mapping[str, Any], recurrent: Mapping[str, Any], seed: int,
                 pre_emphasis: float, progress: bool = True) -> dict[str, torch.nn.Module]:
    """Train each model on the same splits into ``runs_dir/<model>`` (``recurrent`` overrides
    ``settings`` for the recurrent models); returns the best checkpoints' models."""
    from springstudy.train import TrainConfig, train

    models = {}
    for name in names:
        values = {**settings, **(recurrent if is_recurrent(name) else {})}
        config = TrainConfig.from_dict({"model": name, "out": str(Path(runs_dir) / name), "seed": seed,
                                        "tensorboard": False, "pre_emphasis": pre_emphasis, **values},
                                       source=f"knobs.train ({name})")
        result = train(config, splits={"train": splits["train"], "validation": splits["validation"]},
                       sample_rate=sample_rate, progress=progress, overwrite=True)
        models[name] = result.model.eval()
    return models


def score_models(models: Mapping[str, torch.nn.Module], sets: Mapping[str, SplitTensors], ranges: KnobRanges,
                 pre_emphasis: float) -> pd.DataFrame:
    """ESR and MR-STFT of every model on every item of every test set, with the items' knob values."""
    from springstudy.evaluate.scoring import model_predictor, score_predictor
    from springstudy.models import is_conditioned

    frames = []
    for set_name, split in sets.items():
        knob_values = ranges.from_unit(split.knobs.double().numpy())
        for name, model in models.items():
            scored = score_predictor(model_predictor(model, knobs=split.knobs), split, name,
                                     model.num_parameters, "conditioned" if is_conditioned(model) else "unconditioned",
                                     pre_emphasis=pre_emphasis)
            items = scored.items.assign(set=set_name)
            for j, knob in enumerate(KNOB_NAMES):
                items[knob] = knob_values[:, j]
            frames.append(items)
    return pd.concat(frames, ignore_index=True)


def decay_sweep(models: Mapping[str, torch.nn.Module], data: Path, ranges: KnobRanges, sample_rate: int,
                points: int, sweep_seconds: float, tail_seconds: float, progress: bool = True) -> pd.DataFrame:
    """For ``points`` settings of the decay knob across its range (tone, dwell and mix at the
    middle of theirs), each model's T30 by sine sweep and the tank's true T30 at that setting.
    An unconditioned model has one response whatever the knobs: it is measured once."""
    from springstudy.acoustics import analyse_ir
    from springstudy.acoustics.sweep import SweepSpec, measure_ir, model_processor
    from springstudy.data.knobs import tank_at
    from springstudy.data.tank import SpringTank
    from springstudy.models import is_conditioned

    base, _ = dataset_tank(data)
    unit = np.full((points, len(KNOB_NAMES)), 0.5)
    unit[:, KNOB_NAMES.index("decay")] = np.linspace(0.0, 1.0, points)
    settings = ranges.from_unit(unit)
    truth = [SpringTank(tank_at(base, s)).rt60("t30")["broadband"] for s in settings]
    spec = SweepSpec(duration=sweep_seconds, tail=tail_seconds)
    rows, measured = [], {}
    jobs = [(name, i) for name, model in models.items() for i in (range(points) if is_conditioned(model) else [None])]
    for name, i in tqdm(jobs, desc="decay sweep", unit="IR", disable=not progress):
        model = models[name]
        knobs = None if i is None else torch.tensor(unit[i:i + 1], dtype=torch.float32)
        ir = measure_ir(model_processor(model, cond=knobs), sample_rate, spec).ir
        estimate = analyse_ir(name, ir, sample_rate, bands=()).estimates[("broadband", "t30")]
        measured[(name, i)] = estimate
    for name, model in models.items():
        for i in range(points):
            estimate = measured[(name, i if is_conditioned(model) else None)]
            rows.append({"model": name, "kind": "conditioned" if is_conditioned(model) else "unconditioned",
                         "decay_knob": settings[i, 0], "true_rt60_s": truth[i], "model_rt60_s": estimate.rt60_s,
                         "error_pct": 100.0 * (estimate.rt60_s / truth[i] - 1.0) if estimate.ok else math.nan,
                         "note": "" if estimate.ok else estimate.reason})
    return pd.DataFrame(rows)


def plot_error_by_knob(items: pd.DataFrame, metric: str = "esr") -> Any:
    """Per-item ``metric`` on the unseen settings against each knob's value, one panel per knob."""
    import matplotlib.pyplot as plt

    inside = items[items["set"] == "inside"]
    fig, axes = plt.subplots(1, len(KNOB_NAMES), figsize=(14, 3.4), sharey=True)
    for ax, knob in zip(axes, KNOB_NAMES):
        for name, frame in inside.groupby("model", sort=False):
            style = "o" if frame["kind"].iloc[0] == "conditioned" else "x"
            ax.scatter(frame[knob], frame[metric], marker=style, s=18, label=name, alpha=0.8)
        ax.set_xlabel({"decay": "decay (RT60, s)", "tone": "tone (low-pass, Hz)", "dwell": "dwell (drive)",
                       "mix": "mix (wet share)"}[knob])
        if knob == "tone":
            ax.set_xscale("log")
    axes[0].set_ylabel(metric.upper() + " per test item")
    axes[0].set_yscale("log")
    axes[-1].legend(fontsize="small", loc="best")
    fig.suptitle(f"{metric.upper()} on settings never seen in training, against each knob "
                 "(o conditioned, x unconditioned)", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_rt60(rt60: pd.DataFrame) -> Any:
    """Each model's sine-sweep T30 against the tank's true T30, across the decay knob."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    truth = rt60.drop_duplicates("decay_knob")
    lo, hi = float(truth["true_rt60_s"].min()), float(truth["true_rt60_s"].max())
    ax.plot([lo, hi], [lo, hi], color="0.4", linestyle="--", label="the tank (truth)")
    for name, frame in rt60.groupby("model", sort=False):
        style = "-o" if frame["kind"].iloc[0] == "conditioned" else ":x"
        ax.plot(frame["true_rt60_s"], frame["model_rt60_s"], style, label=name)
    ax.set_xlabel("tank's true RT60 (T30) at the decay setting, s")
    ax.set_ylabel("model's RT60 (T30, sine sweep), s")
    ax.set_title("Does the model's decay follow the decay knob?", fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def run(data: Path, *, runs_dir: Path, tables_dir: Path, figures_dir: Path, metrics_path: Path | None,
        pairs: Mapping[str, str], train: Mapping[str, Any], recurrent: Mapping[str, Any], seed: int,
        decay_points: int, sweep_seconds: float, tail_seconds: float, pre_emphasis: float = 0.85,
        n_resamples: int = 10_000, confidence: float = 0.95, progress: bool = True) -> KnobStudy:
    """The whole knobs stage (see the module doc) on the conditioned dataset ``data``.

    Writes ``knobs_results.csv``/``.md``, ``knobs_items.csv`` and ``knobs_rt60.csv`` under
    ``tables_dir``, ``knobs_error_by_knob.png`` and ``knobs_rt60.png`` under ``figures_dir``,
    and a metrics JSON at ``metrics_path``; returns everything measured.
    """
    from springstudy.data.knobs import read_knobs

    data = Path(data)
    read_knobs(data)                          # a clear error if the dataset has no (good) knobs
    _, ranges = dataset_tank(data)
    splits, sample_rate, _ = load_split_tensors(data, None, seed, names=("train", "validation", "test"))
    sets = {"inside": splits["test"], "edges": edge_split(data, ranges, seed)}
    names = list(dict.fromkeys([*pairs, *pairs.values()]))
    torch.manual_seed(seed)
    models = train_models(names, splits, sample_rate, Path(runs_dir), train, recurrent, seed, pre_emphasis, progress)
    items = score_models(models, sets, ranges, pre_emphasis)
    results = summarise(items, METRICS, n_resamples, confidence, seed, group=("model", "set"))
    differences = pair_differences(items, pairs, n_resamples, confidence, seed)
    rt60 = decay_sweep(models, data, ranges, sample_rate, decay_points, sweep_seconds, tail_seconds, progress)

    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    written = {"results": write_csv_atomic(tables_dir / "knobs_results.csv", results),
               "differences": write_csv_atomic(tables_dir / "knobs_differences.csv", differences),
               "items": write_csv_atomic(tables_dir / "knobs_items.csv", items),
               "rt60": write_csv_atomic(tables_dir / "knobs_rt60.csv", rt60)}
    write_bytes_atomic(tables_dir / "knobs_results.md", (results_markdown(results, differences, confidence) + "\n").encode())
    written["results_md"] = tables_dir / "knobs_results.md"
    figures = {"knobs_error_by_knob": plot_error_by_knob(items), "knobs_rt60": plot_rt60(rt60)}
    for stem, fig in figures.items():
        written[stem] = save_figure(fig, figures_dir / f"{stem}.png")
    if metrics_path is not None:
        record = {f"{r.model}/{r.set}/{m}": float(getattr(r, m)) for r in results.itertuples() for m in METRICS}
        record.update({f"{r.model}/decay_{r.decay_knob:.2f}s/rt60_error_pct": float(r.error_pct)
                       for r in rt60.itertuples() if r.kind == "conditioned" and np.isfinite(r.error_pct)})
        write_json_atomic(metrics_path, record)
        written["metrics"] = Path(metrics_path)
    return KnobStudy(results, differences, items, rt60, written, figures)


__all__ = ["METRICS", "TEST_SETS", "KnobStudy", "corner_settings", "dataset_tank", "decay_following", "decay_sweep", "edge_split",
           "is_recurrent", "pair_differences", "plot_error_by_knob", "plot_rt60", "reading", "results_markdown",
           "rt60_markdown", "run", "score_models", "train_models"]
