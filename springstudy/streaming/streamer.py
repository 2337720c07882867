"""``Streamer``: the fused plan of a model's family, or the module path, run block by block."""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from springstudy.streaming.buffers import DEFAULT_MAX_BLOCK
from springstudy.streaming.compiled import CompiledPlan
from springstudy.streaming.fused import FusedPlan
from springstudy.streaming.gated import CompiledGatedStackPlan, GatedStackPlan
from springstudy.streaming.module_path import ModuleStream
from springstudy.streaming.recurrent import RecurrentPlan
from springstudy.streaming.tcn import CompiledTCNPlan, TCNPlan


def fused_plan(model: nn.Module, cond: Optional[torch.Tensor],
               max_block: int) -> Optional[FusedPlan | CompiledPlan]:
    """The fused plan of a study model, or None when the model is not one the plans know."""
    from springstudy.models.gcn import GCN
    from springstudy.models.recurrent import RecurrentNet
    from springstudy.models.tcn import TCN
    from springstudy.models.wavenet import WaveNet

    plans: dict[type, tuple[type, ...]] = {TCN: (CompiledTCNPlan, TCNPlan),
                                           WaveNet: (CompiledGatedStackPlan, GatedStackPlan),
                                           GCN: (CompiledGatedStackPlan, GatedStackPlan),
                                           RecurrentNet: (RecurrentPlan,)}
    for cls, candidates in plans.items():
        if isinstance(model, cls):
            for plan in candidates:  # the first that takes the model (float32 and numba for compiled)
                try:
                    return plan(model, cond, max_block)
                except (TypeError, AttributeError, ImportError):
                    continue
            return None  # something no plan can fold: the module path handles it
    return None


class Streamer:
    """Process a signal block by block; output equals ``model(whole_signal)``.

    ``Streamer(model, cond=None, max_block=4096, fast=True)`` copies the model (later changes to
    ``model`` are not seen) and puts the copy in eval mode. ``process(block)`` takes (1, 1, n)
    for any n >= 1 and returns a new (1, 1, n) tensor; ``reset()`` returns to silence (all
    histories zero, recurrent states empty). ``fast=False`` uses the module path (the model's own
    forward with stateful convolutions); ``path`` says which one runs. Both paths take blocks
    of any real dtype (cast to the model's, as ``model(x.to(dtype))``), and a NaN or infinite
    sample spreads to the same outputs as in ``model(x)``: NaN in, NaN out, no error.
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor] = None,
                 max_block: int = DEFAULT_MAX_BLOCK, fast: bool = True) -> None:
        self.model = copy.deepcopy(model).eval()
        self.cond = cond
        with torch.inference_mode():
            plan = fused_plan(self.model, cond, max_block) if fast else None
            if plan is None:
                self.runner = ModuleStream(self.model, cond, max_block)
                self.streams = self.runner.streams
                self.path = "module"
            else:
                self.runner, self.streams, self.path = plan, [], "fused"
        self.dtype = next(self.model.parameters()).dtype

    def reset(self) -> None:
        """Forget the past: the next block is processed as the start of a signal."""
        with torch.inference_mode():
            self.runner.reset()

    def process(self, block: torch.Tensor) -> torch.Tensor:
        """Process the next block (1, 1, n) and return its output (1, 1, n)."""
        if block.dim() != 3 or block.shape[0] != 1 or block.shape[1] != 1 or block.shape[2] < 1:
            raise ValueError(f"a block must be shaped (1, 1, n) with n >= 1, not {tuple(block.shape)}")
        if block.dtype != self.dtype:  # both paths take any real dtype, cast as model(x.to(dtype)) would
            block = block.to(self.dtype)
        with torch.inference_mode():
            if self.path == "module":
                return self.runner(block)
            return self.runner(block.reshape(1, -1)).reshape(1, 1, -1)
