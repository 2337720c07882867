"""Scoring on whole test items: the split's tensors, a model or baseline as a predictor, per-item metrics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from springstudy.baselines import (CLOSED_FORM_BASELINES, LINEAR_IR_REGULARISATION, LinearIR, Naive,
                                   NoiseCeiling, Predictor, Silence)
from springstudy.errors import SpringStudyError
from springstudy.metrics import DEFAULT_PRE_EMPHASIS, compute_all
from springstudy.train import TrainConfig


#: The study's seed when none is given (params.yaml's ``seed``; the trainer's default).
DEFAULT_SEED = TrainConfig.seed
#: Items scored per forward pass (whole items; only groups the work).
DEFAULT_BATCH_SIZE = 4
#: Test items drawn for Fig 15 (the thesis shows a few predictions per model).
DEFAULT_EXAMPLES = 3
#: Baselines recomputed beside the models in Tables 9-10 (cheap, deterministic references).
REFERENCE_BASELINES = ("Naive", "Silence", "Linear IR")


class EvaluationError(SpringStudyError, ValueError):
    """Evaluation cannot run as asked (no runs, runs on different test splits, bad data)."""


# --- scoring --------------------------------------------------------------------------------

@dataclass
class Scored:
    """Per-item metrics of one predictor on one split, and its predictions of chosen items."""

    items: pd.DataFrame
    examples: dict[int, np.ndarray] = field(default_factory=dict)


@torch.no_grad()
def score_predictor(predict: Predictor, split: Any, name: str, params: int | None, kind: str = "model",
                    pre_emphasis: float = DEFAULT_PRE_EMPHASIS, batch_size: int = DEFAULT_BATCH_SIZE,
                    keep: Iterable[int] = (), progress: bool = False) -> Scored:
    """Score ``predict`` on every item of ``split`` (whole items), one row per item.

    ``predict(dry, indices)`` maps a batch (B, 1, T) to predictions (B, 1, T). Items go in
    batches of ``batch_size``, the last one partial: every item is scored exactly once.
    Columns: model, kind, params, item, index and every metric of :func:`compute_all`.
    Predictions of the item indices in ``keep`` are returned (for Fig 15).
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    n = split.dry.shape[0]
    keep = set(int(i) for i in keep)
    per_metric: dict[str, list[np.ndarray]] = {}
    examples: dict[int, np.ndarray] = {}
    for start in tqdm(range(0, n, batch_size), desc=name, unit="batch", disable=not progress):
        indices = list(range(start, min(start + batch_size, n)))
        dry, wet = split.dry[indices], split.wet[indices]
        pred = predict(dry, indices)
        if pred.shape != wet.shape:
            raise EvaluationError(f"{name}: prediction of shape {tuple(pred.shape)} for a target of {tuple(wet.shape)}")
        pred = pred.detach().cpu()
        for metric, values in compute_all(pred, wet, pre_emphasis, reduction="none").items():
            per_metric.setdefault(metric, []).append(values)
        for k, i in enumerate(indices):
            if i in keep:
                examples[i] = pred[k, 0].double().numpy()
    items = pd.DataFrame({"model": name, "kind": kind, "params": params, "item": list(split.ids),
                          "index": np.arange(n)})
    for metric, chunks in per_metric.items():
        items[metric] = np.concatenate(chunks)
    return Scored(items=items, examples=examples)


def model_predictor(model: torch.nn.Module, device: str | torch.device = "cpu",
                    knobs: torch.Tensor | None = None) -> Predictor:
    """A predictor from a trained model: whole items through ``model`` in eval mode (a
    knob-conditioned model with each item's row of ``knobs``, the split's settings)."""
    from springstudy.models.conditioned import apply_model

    device = torch.device(device)
    model = model.to(device).eval()

    def predict(dry: torch.Tensor, indices: Sequence[int]) -> torch.Tensor:
        rows = None if knobs is None else knobs[torch.as_tensor(list(indices))]
        return apply_model(model, dry.to(device), rows).cpu()

    return predict


def build_baselines(names: Iterable[str], train: Any, sample_rate: int, seed: int = DEFAULT_SEED,
                    noise_amplitude: float | None = None, ir_seconds: float | None = None,
                    ir_regularisation: float = LINEAR_IR_REGULARISATION, ir_method: str = "lstsq") -> dict[str, Any]:
    """The closed-form baselines ``names`` (from :data:`~springstudy.baselines.CLOSED_FORM_BASELINES`),
    fitted or levelled on the training split ``train`` where they need it.

    Noise ceiling: ``noise_amplitude`` or, if None, matched to the training targets' power.
    Linear IR: ``ir_seconds`` of impulse response (None: the item length), Tikhonov floor
    ``ir_regularisation``, fitted by ``ir_method`` (:meth:`~springstudy.baselines.LinearIR.fit`).
    """
    out: dict[str, Any] = {}
    for name in names:
        if name == "Naive":
            out[name] = Naive()
        elif name == "Silence":
            out[name] = Silence()
        elif name == "Noise ceiling":
            out[name] = NoiseCeiling.matched_to(train.wet, seed) if noise_amplitude is None \
                else NoiseCeiling(noise_amplitude, seed)
        elif name == "Linear IR":
            length = None if ir_seconds is None else min(int(round(ir_seconds * sample_rate)), train.dry.shape[-1])
            out[name] = LinearIR.fit(train.dry, train.wet, length, ir_regularisation, sample_rate, method=ir_method)
        else:
            raise EvaluationError(f"unknown baseline {name!r}; closed-form baselines: {', '.join(CLOSED_FORM_BASELINES)}")
    return out


def pick_examples(n_items: int, n_examples: int, seed: int) -> list[int]:
    """``n_examples`` test item indices (sorted) drawn without replacement from the seed."""
    k = min(n_examples, n_items)
    return sorted(int(i) for i in np.random.default_rng(seed).choice(n_items, size=k, replace=False))
