"""Pair transforms for training and evaluation: DC removal, pair normalisation, seeded crops.

A pair transform takes ``(dry, wet, rng)`` -> ``(dry, wet)`` with tensors shaped (1, T); the
``numpy.random.Generator`` is derived from (seed, epoch, item index) by
:class:`TransformedPairs`, so a crop depends on nothing else (not the worker count, not the
order items are drawn in) and a run can be repeated exactly.

Correction to the thesis: its public code peak-normalised dry and wet *separately* per item
(a known error of the thesis code; the text only alludes to it, Fig 15: "despite normalization"), which
throws away the device's gain: the wet level relative to the dry level is part of what a model
of the tank must learn.
:class:`NormalisePair` applies one gain to both signals of a pair, so the wet/dry ratio
survives. DC removal subtracts each signal's own mean: that changes no gain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from springstudy.data.datasets import SpringPairs


class PairTransform(Protocol):
    def __call__(self, dry: torch.Tensor, wet: torch.Tensor,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]: ...


def remove_dc(x: torch.Tensor) -> torch.Tensor:
    """``x`` minus its mean over time (last axis)."""
    return x - x.mean(dim=-1, keepdim=True)


def pair_gain(dry: torch.Tensor, wet: torch.Tensor, peak: float = 0.99, reference: str = "pair") -> float:
    """The one gain that brings the pair's peak to ``peak``.

    ``reference="pair"``: the larger peak of dry and wet (neither clips); ``"dry"``: the dry
    peak only (the gain an inference-time user could apply knowing only the input).
    A silent reference gives gain 1.
    """
    if reference == "pair":
        ref = max(float(dry.abs().max()), float(wet.abs().max()))
    elif reference == "dry":
        ref = float(dry.abs().max())
    else:
        raise ValueError(f"reference must be 'pair' or 'dry', not {reference!r}")
    return peak / ref if ref > 0 else 1.0


class RemoveDC:
    """Subtract each signal's own mean (the DC offset of thesis Tables 3-4)."""

    def __call__(self, dry: torch.Tensor, wet: torch.Tensor,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return remove_dc(dry), remove_dc(wet)

    def __repr__(self) -> str:
        return "RemoveDC()"


class NormalisePair:
    """Scale dry and wet by the SAME gain so the pair peaks at ``peak`` (see :func:`pair_gain`).

    Unlike the thesis's separate peak normalisation, the wet/dry level ratio (the device's
    gain) is kept exactly.
    """

    def __init__(self, peak: float = 0.99, reference: str = "pair") -> None:
        if not 0 < peak:
            raise ValueError(f"peak must be positive, not {peak}")
        pair_gain(torch.zeros(1), torch.zeros(1), peak, reference)     # validate reference now
        self.peak, self.reference = float(peak), reference

    def __call__(self, dry: torch.Tensor, wet: torch.Tensor,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        gain = pair_gain(dry, wet, self.peak, self.reference)
        return dry * gain, wet * gain

    def __repr__(self) -> str:
        return f"NormalisePair(peak={self.peak}, reference={self.reference!r})"


class RandomCrop:
    """A random window of ``length`` samples at the SAME offset in dry and wet (training only).

    Items shorter than ``length`` are zero-padded at the end (both signals alike), so batches
    stack; the offset comes from the ``rng`` handed in, i.e. from the seed.
    """

    def __init__(self, length: int) -> None:
        if length <= 0:
            raise ValueError(f"crop length must be positive, not {length}")
        self.length = int(length)

    def __call__(self, dry: torch.Tensor, wet: torch.Tensor,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if dry.shape[-1] != wet.shape[-1]:
            raise ValueError(f"dry ({dry.shape[-1]}) and wet ({wet.shape[-1]}) lengths differ")
        n = dry.shape[-1]
        if n <= self.length:
            pad = self.length - n
            return (torch.nn.functional.pad(dry, (0, pad)), torch.nn.functional.pad(wet, (0, pad)))
        start = int(rng.integers(0, n - self.length + 1))
        return dry[..., start:start + self.length], wet[..., start:start + self.length]

    def __repr__(self) -> str:
        return f"RandomCrop({self.length})"


class Compose:
    """Apply pair transforms in order."""

    def __init__(self, transforms: Sequence[PairTransform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, dry: torch.Tensor, wet: torch.Tensor,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        for transform in self.transforms:
            dry, wet = transform(dry, wet, rng)
        return dry, wet

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class TransformedPairs(Dataset):
    """A view of some items of a :class:`SpringPairs`, with a seeded pair transform applied.

    Item ``k`` of the view is item ``indices[k]`` of ``pairs``; its transform draws from
    ``numpy.random.default_rng([seed, epoch, indices[k]])``. Call :meth:`set_epoch` at the
    start of each epoch for fresh (and still reproducible) crops.
    """

    def __init__(self, pairs: SpringPairs, indices: Sequence[int] | None = None,
                 transform: PairTransform | Callable | None = None, seed: int = 0) -> None:
        self.pairs = pairs
        self.indices = list(range(len(pairs))) if indices is None else [int(i) for i in indices]
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of this epoch (crop offsets change, reproducibly)."""
        self.epoch = int(epoch)

    @property
    def ids(self) -> list[str]:
        """Item ids of the view, in order."""
        return [self.pairs.items[i].id for i in self.indices]

    @property
    def sample_rate(self) -> int:
        return self.pairs.sample_rate

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.indices[k]
        dry, wet = self.pairs[index]
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            dry, wet = self.transform(dry, wet, rng)
        return dry, wet

    def __repr__(self) -> str:
        return f"TransformedPairs({len(self)} of {len(self.pairs)} pairs, {self.transform!r}, seed={self.seed})"


def training_pairs(pairs: SpringPairs, indices: Sequence[int], crop: int | None, seed: int,
                   peak: float = 0.99) -> TransformedPairs:
    """Training view: DC removal, pair normalisation of the whole item, then a seeded crop.

    Normalising before cropping keeps the gain a property of the item, not of the window, so
    training and evaluation see the same scale for the same item.
    """
    steps: list[PairTransform] = [RemoveDC(), NormalisePair(peak)]
    if crop:
        steps.append(RandomCrop(crop))
    return TransformedPairs(pairs, indices, Compose(steps), seed)


def evaluation_pairs(pairs: SpringPairs, indices: Sequence[int], peak: float = 0.99) -> TransformedPairs:
    """Evaluation view: the same DC removal and pair normalisation, on whole items (no crop)."""
    return TransformedPairs(pairs, indices, Compose([RemoveDC(), NormalisePair(peak)]), seed=0)
