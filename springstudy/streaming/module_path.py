"""The module path: the model's own forward with stateful causal convolutions and recurrent layers (the reference)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.models.causal import CausalConv1d
from springstudy.streaming.buffers import MirroredRingBuffer
from springstudy.streaming.fused import tap_major


# --------------------------------------------------------------------------------------------
# Module path: the model's own forward with stateful submodules (the reference).


class CausalConvStream:
    """Stateful forward for one ``CausalConv1d``: history in a ``MirroredRingBuffer``.

    A block of n outputs needs only the k taps ``window[j*d : j*d + n]``: they are gathered as
    one strided view into a (k*C_in, n) matrix and multiplied by the (C_out, k*C_in) weights.
    """

    def __init__(self, conv: CausalConv1d, max_block: int) -> None:
        self.conv = conv
        self.max_block = max_block
        self.kernel_size, self.dilation = conv.kernel_size[0], conv.dilation[0]
        self.weight_taps = tap_major(conv.weight.detach())
        self.bias = None if conv.bias is None else conv.bias.detach().reshape(-1, 1)
        self.reset()

    def reset(self) -> None:
        weight = self.conv.weight
        self.ring = MirroredRingBuffer(self.conv.in_channels,
                                       self.conv.history_length + self.max_block,
                                       weight.dtype, weight.device)

    def _grow(self, n: int) -> None:
        # Rare: a block longer than any before. Keep the history, resize the ring.
        history = self.ring.window(self.conv.history_length).clone()
        self.max_block = max(n, 2 * self.max_block)
        self.reset()
        self.ring.write(history)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        if n > self.max_block:
            self._grow(n)
        self.ring.write(x)
        columns = self.ring.taps(self.kernel_size, self.dilation, n).reshape(-1, n)
        if self.bias is None:
            return torch.mm(self.weight_taps, columns).unsqueeze(0)
        return torch.addmm(self.bias, self.weight_taps, columns).unsqueeze(0)


class RecurrentStream:
    """Stateful forward for one ``nn.LSTM``/``nn.GRU``: carries (h, c) / h between blocks."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        self.rnn = rnn
        self.state = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, x: torch.Tensor, hx: Optional[torch.Tensor] = None):
        output, self.state = type(self.rnn).forward(self.rnn, x, self.state)
        return output, self.state


class ModuleStream:
    """The module path: the model's forward with ring-buffered convolutions and carried states."""

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        self.model, self.cond = model, cond
        self.streams: list[CausalConvStream | RecurrentStream] = []
        for module in model.modules():
            if isinstance(module, CausalConv1d) and module.history_length > 0:
                stream = CausalConvStream(module, max_block)
            elif isinstance(module, (nn.LSTM, nn.GRU)):
                stream = RecurrentStream(module)
            elif isinstance(module, (nn.Conv1d, nn.RNNBase)) and not _is_pointwise(module):
                raise TypeError(f"cannot stream {type(module).__name__} {module}: only "
                                "CausalConv1d, 1x1 Conv1d, LSTM and GRU carry time")
            else:
                continue
            # The instance attribute shadows the class's forward in this copy only.
            module.forward = stream
            self.streams.append(stream)

    def reset(self) -> None:
        for stream in self.streams:
            stream.reset()

    def __call__(self, block: torch.Tensor) -> torch.Tensor:
        return self.model(block) if self.cond is None else self.model(block, self.cond)


def _is_pointwise(module: nn.Module) -> bool:
    """A Conv1d of kernel 1 and stride 1 has no memory."""
    return (isinstance(module, nn.Conv1d) and module.kernel_size == (1,)
            and module.stride == (1,) and module.padding in ((0,), "valid"))
