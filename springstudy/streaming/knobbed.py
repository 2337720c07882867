"""Streaming a knob-conditioned model (:mod:`springstudy.models.conditioned`) while its knobs move.

A host turns a knob between two blocks; jumping to the new value at once would step the
model's output (a click). :class:`KnobSmoother` ramps each knob from where it is to the new
target over ``smoothing_seconds``, at control rate: the value is held for ``control_block``
samples, then moves by ``(target - start) * control_block / ramp_samples``, so no two
consecutive samples differ by more than that share of the turn, and the ramp ends exactly at the
target. Control blocks count from the start of the stream (not of each block), so the trajectory
does not depend on how the audio is cut into blocks.

:class:`KnobStreamer` feeds each block's trajectory (1, K, n) to the model: the FiLM and
concatenation models through the module path (their own forward with ring-buffered
convolutions and a carried GRU state), the HyperGRU through its ``run`` with the hidden state
carried. Its output equals ``model(whole_signal, whole_trajectory)`` where the trajectory is the
one the smoother produced (:attr:`KnobStreamer.trajectory` keeps it when asked).
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
from torch import nn

from springstudy.models.conditioned import HyperGRU, is_conditioned
from springstudy.streaming.buffers import DEFAULT_MAX_BLOCK
from springstudy.streaming.module_path import ModuleStream

#: Default ramp of a knob turn (s): long enough to be inaudible as a step, short enough to feel immediate.
SMOOTHING_SECONDS = 0.02
#: Default control block (samples): the knob values are updated once per this many samples.
CONTROL_BLOCK = 32


class KnobSmoother:
    """Knob values per sample, ramped at control rate towards the last target set."""

    def __init__(self, initial: Sequence[float], ramp_samples: int, control_block: int = CONTROL_BLOCK) -> None:
        if control_block < 1 or ramp_samples < 0:
            raise ValueError(f"need control_block >= 1 and ramp_samples >= 0, got {control_block} and {ramp_samples}")
        self.control_block = control_block
        self.steps = max(1, math.ceil(ramp_samples / control_block)) if ramp_samples > 0 else 0
        self.reset(initial)

    def reset(self, initial: Sequence[float]) -> None:
        """Start again at sample 0 with the knobs at ``initial`` (no ramp)."""
        self.start = self.current = self.target = torch.as_tensor(initial, dtype=torch.float64).clone()
        self.position = 0            # samples produced so far
        self.step = self.steps       # control steps taken of the current ramp (done)

    def set(self, target: Sequence[float]) -> None:
        """Turn the knobs to ``target``; the ramp starts at the next control block."""
        target = torch.as_tensor(target, dtype=torch.float64)
        if target.shape != self.current.shape:
            raise ValueError(f"expected {self.current.numel()} knob values, got {tuple(target.shape)}")
        if not torch.isfinite(target).all():
            raise ValueError(f"knob values must be finite, got {target.tolist()}")
        self.start, self.target = self.current.clone(), target.clone()
        self.step = 0 if self.steps else self.steps
        if not self.steps:
            self.current = target.clone()

    def next(self, n: int) -> torch.Tensor:
        """The knob values of the next ``n`` samples, (K, n)."""
        out = torch.empty(self.current.numel(), n, dtype=torch.float64)
        written = 0
        while written < n:
            # Samples left in the current control block (blocks count from the stream's start).
            left = self.control_block - self.position % self.control_block
            if self.position % self.control_block == 0 and self.step < self.steps:
                self.step += 1
                share = self.step / self.steps
                self.current = self.target.clone() if self.step == self.steps else \
                    self.start + (self.target - self.start) * share
            take = min(left, n - written)
            out[:, written:written + take] = self.current[:, None]
            written += take
            self.position += take
        return out

    @property
    def max_step(self) -> float:
        """The largest change between consecutive samples the current turn makes, per knob unit."""
        if not self.steps:
            return float(torch.max(torch.abs(self.target - self.start)))
        return float(torch.max(torch.abs(self.target - self.start))) / self.steps


class KnobStreamer:
    """Stream a knob-conditioned model block by block while its knobs move (see the module doc).

    ``KnobStreamer(model, knobs, sample_rate)`` copies the model (eval mode) with the knobs at
    ``knobs`` (K values in [0, 1]); ``set_knobs(values)`` turns them (ramped over
    ``smoothing_seconds``); ``process(block)`` takes (1, 1, n) and returns (1, 1, n).
    """

    def __init__(self, model: nn.Module, knobs: Sequence[float], sample_rate: int,
                 smoothing_seconds: float = SMOOTHING_SECONDS, control_block: int = CONTROL_BLOCK,
                 max_block: int = DEFAULT_MAX_BLOCK, keep_trajectory: bool = False) -> None:
        if not is_conditioned(model):
            raise TypeError(f"{type(model).__name__} takes no knobs: stream it with Streamer")
        self.model = copy.deepcopy(model).eval()
        self.dtype = next(self.model.parameters()).dtype
        self.smoother = KnobSmoother(knobs, int(round(smoothing_seconds * sample_rate)), control_block)
        self.initial = list(knobs)
        self.keep_trajectory = keep_trajectory
        self.pieces: list[torch.Tensor] = []
        if isinstance(self.model, HyperGRU):
            self.runner, self.state = None, None
        else:
            with torch.inference_mode():
                self.runner = ModuleStream(self.model, None, max_block)

    def set_knobs(self, values: Sequence[float]) -> None:
        """Turn the knobs to ``values`` (ramped from where they are)."""
        self.smoother.set(values)

    def reset(self) -> None:
        """Silence and the initial knobs: the next block starts a new signal."""
        self.smoother.reset(self.initial)
        self.pieces = []
        if self.runner is None:
            self.state = None
        else:
            self.runner.reset()

    @property
    def trajectory(self) -> torch.Tensor:
        """The knob values fed so far, (1, K, samples) (with ``keep_trajectory``)."""
        return torch.cat(self.pieces, dim=-1)[None]

    def process(self, block: torch.Tensor) -> torch.Tensor:
        """Process the next block (1, 1, n) with the knobs' trajectory over it; returns (1, 1, n)."""
        if block.dim() != 3 or block.shape[0] != 1 or block.shape[1] != 1 or block.shape[2] < 1:
            raise ValueError(f"a block must be shaped (1, 1, n) with n >= 1, not {tuple(block.shape)}")
        block = block.to(self.dtype)
        knobs = self.smoother.next(block.shape[-1]).to(self.dtype)
        if self.keep_trajectory:
            self.pieces.append(knobs)
        with torch.inference_mode():
            if self.runner is None:
                out, self.state = self.model.run(block, knobs[None], self.state)
                return out
            # The module path: self.model's stateful modules stream (ModuleStream set them up).
            return self.model(block, knobs[None])


__all__ = ["CONTROL_BLOCK", "KnobSmoother", "KnobStreamer", "SMOOTHING_SECONDS"]
