"""FLOPs per output sample of a model, counted from the layers its forward runs (see the package doc)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


#: Length (samples) of the probe input the FLOP counter runs the model on.
FLOP_PROBE_LENGTH = 64


# --------------------------------------------------------------------------------------------
# FLOPs per output sample


@dataclass(frozen=True)
class LayerFlops:
    """FLOPs one layer spends per output sample of the model, and how they were counted."""

    name: str
    kind: str
    flops: float
    rule: str


def conv1d_flops(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 groups: int = 1) -> int:
    """FLOPs per output sample of a Conv1d: 2*(C_in/groups)*k*C_out (+ C_out with a bias)."""
    return 2 * (in_channels // groups) * kernel_size * out_channels + (out_channels if bias else 0)


def linear_flops(in_features: int, out_features: int, bias: bool = True) -> int:
    """FLOPs per output row of a Linear layer: 2*in*out (+ out with a bias)."""
    return 2 * in_features * out_features + (out_features if bias else 0)


def recurrent_flops(rnn: nn.RNNBase) -> int:
    """FLOPs per time step of an LSTM (4 gates) or GRU (3 gates), all layers and directions.

    Per layer and gate unit: 2*(in + hidden) for the two products, +1 per bias vector (PyTorch
    keeps b_ih and b_hh), so an LSTM layer costs 8*(in + hidden + 1)*hidden.
    """
    gates = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}[rnn.mode]
    directions = 2 if rnn.bidirectional else 1
    total = 0
    for layer in range(rnn.num_layers):
        inputs = rnn.input_size if layer == 0 else rnn.hidden_size * directions
        per_unit = 2 * (inputs + rnn.hidden_size) + (2 if rnn.bias else 0)
        total += directions * gates * rnn.hidden_size * per_unit
    return total


def layer_flops(model: nn.Module, cond: torch.Tensor | None = None,
                length: int = FLOP_PROBE_LENGTH) -> list[LayerFlops]:
    """FLOPs per output sample of every Conv1d, Linear, LSTM and GRU the forward pass runs.

    The model runs once on a (1, 1, length) probe with forward hooks; a layer's FLOPs are its
    rule times the rows it produced, divided by ``length``. Layers the forward does not call
    are not counted; layers it calls whose result feeds nothing are (the offline graph pays
    for them). A FiLM adaptor runs once per item, so its per-sample share tends to 0.
    """
    counts: list[LayerFlops] = []
    hooks = []

    def hook(name: str) -> Callable:
        def record(module: nn.Module, args: tuple, output: Any) -> None:
            if isinstance(module, nn.Conv1d):
                rule = conv1d_flops(module.in_channels, module.out_channels, module.kernel_size[0],
                                    module.bias is not None, module.groups)
                rows = output.shape[0] * output.shape[-1]
                text = "2*C_in*k*C_out + C_out"
            elif isinstance(module, nn.Linear):
                rule = linear_flops(module.in_features, module.out_features, module.bias is not None)
                rows = output.numel() // module.out_features
                text = "2*in*out + out"
            else:  # LSTM / GRU, batch_first or not: one step per input sample
                rule = recurrent_flops(module)
                sequence = args[0]
                rows = sequence.shape[0] * sequence.shape[1]
                text = f"{module.mode}: gates*(2*(in+hidden)+2)*hidden"
            counts.append(LayerFlops(name, type(module).__name__, rule * rows / length, text))
        return record

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Linear, nn.LSTM, nn.GRU)):
            hooks.append(module.register_forward_hook(hook(name)))
    try:
        probe = torch.zeros(1, 1, length, dtype=next(model.parameters()).dtype)
        with torch.inference_mode():
            model(probe) if cond is None else model(probe, cond)
    finally:
        for handle in hooks:
            handle.remove()
    return counts


def flops_per_sample(model: nn.Module, cond: torch.Tensor | None = None) -> int:
    """Total FLOPs per output sample of ``model`` (see :func:`layer_flops`)."""
    return int(round(sum(layer.flops for layer in layer_flops(model, cond))))
