"""The training data: the split's tensors, the epoch order and the random crops (uniform or energy-weighted)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from springstudy.data.tensors import SplitTensors, load_split_tensors
from springstudy.train.settings import CROP_SAMPLINGS, TrainConfig, TrainingError


# --- data -----------------------------------------------------------------------------------

def load_splits(config: TrainConfig) -> tuple[dict[str, SplitTensors], int, dict[str, Any]]:
    """Open ``config.data``, split it (split file or seeded 50/25/25), and preload train and
    validation with DC removal and pair normalisation (one gain for dry and wet)."""
    from springstudy.data import DatasetError

    if config.data is None:
        raise TrainingError("no data: give TrainConfig.data (a dataset folder) or pass splits to train()")
    try:
        return load_split_tensors(config.data, config.split_file, config.seed, config.split_method)
    except DatasetError as err:
        raise TrainingError(str(err)) from err


def knobs_of(split: SplitTensors, items: Any) -> torch.Tensor | None:
    """The knob settings (len(items), K) of ``items`` of ``split``; None for data without knobs."""
    return None if split.knobs is None else split.knobs[torch.as_tensor(items)]


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order training items are visited in during ``epoch`` (a function of seed and epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)
#: Share of the uniform distribution mixed into energy-weighted crop offsets (crop_sampling "energy").
ENERGY_FLOOR = 0.1


def _check_sampling(sampling: str) -> None:
    if sampling not in CROP_SAMPLINGS:
        raise TrainingError(f"crop_sampling must be uniform or energy, not {sampling!r}")


def crop_offsets(wet: torch.Tensor, length: int, sampling: str = "uniform") -> np.ndarray | None:
    """Probability of each crop offset of one (C, T) item: None for uniform; for ``"energy"``
    proportional to the wet energy in the window, mixed with ``ENERGY_FLOOR`` of uniform."""
    _check_sampling(sampling)
    if sampling == "uniform":
        return None
    power = wet.double().pow(2).sum(0).numpy()
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    window = cumulative[length:] - cumulative[:-length]
    uniform = np.full(window.shape, 1.0 / window.size)
    if window.sum() <= 0:
        return uniform
    return (1.0 - ENERGY_FLOOR) * window / window.sum() + ENERGY_FLOOR * uniform


def crop_batch(split: SplitTensors, items: np.ndarray, length: int | None, seed: int,
               epoch: int, context: int = 0, sampling: str = "uniform") -> tuple[torch.Tensor, torch.Tensor]:
    """Dry and wet crops of ``items``, each at an offset drawn from ``default_rng([seed, epoch, item])``.

    With ``context`` > 0 the dry crop starts ``context`` samples earlier (zeros before the
    item's start, as the item is heard from silence), so the model sees the input history
    that produced the wet crop; the wet crop keeps ``length`` samples. The offsets do not
    depend on ``context``. ``sampling="energy"`` draws offsets in proportion to the wet energy
    of the window (:func:`crop_offsets`): a note that rings for 1 s of a 5 s item then fills most
    crops, where uniform offsets land four times in five in its near-silent tail.
    """
    n = split.dry.shape[-1]
    if length is None or length >= n:
        return split.dry[items], split.wet[items]
    starts = []
    for i in items:
        rng = np.random.default_rng([seed, epoch, int(i)])
        p = crop_offsets(split.wet[int(i)], length, sampling)
        starts.append(int(rng.integers(0, n - length + 1)) if p is None else int(rng.choice(p.size, p=p)))
    wet = torch.stack([split.wet[i, :, s:s + length] for i, s in zip(items, starts)])
    if context <= 0:
        dry = torch.stack([split.dry[i, :, s:s + length] for i, s in zip(items, starts)])
        return dry, wet
    dry = split.dry.new_zeros((len(items), split.dry.shape[1], context + length))
    for row, (i, s) in enumerate(zip(items, starts)):
        first = max(0, s - context)
        dry[row, :, context - (s - first):] = split.dry[i, :, first:s + length]
    return dry, wet
