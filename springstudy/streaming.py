"""Block-by-block (streaming) inference whose output equals the whole-signal forward pass.

``Streamer(model)`` runs a copy of a springstudy model on consecutive blocks of any length
n >= 1. Each causal convolution keeps the last ``(k-1)*d`` input samples it has seen in a
preallocated ring buffer, and each LSTM/GRU keeps its hidden state; nothing is recomputed over
the past. The model's own ``forward`` runs unchanged: only its ``CausalConv1d`` and recurrent
submodules (in the private copy) are given a stateful forward, so the streamed and the offline
computation cannot drift apart. Everything else in the models (1x1 convs, BatchNorm in eval
mode, PReLU, gates, FiLM with a fixed conditioning vector) acts sample by sample.

The ring buffer stores every sample twice (at i and i + L, the "mirrored ring" trick), so the
window a convolution needs (history + new block) is always one slice: a block costs one matrix
product over its n outputs (the k dilated taps gathered by a strided view) and two small
copies, with no per-sample Python loop and no shifting of the (possibly 200k-sample) history.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from springstudy.models.causal import CausalConv1d

#: Block length the ring buffers are first sized for; they grow on a longer block.
DEFAULT_MAX_BLOCK = 4096


class MirroredRingBuffer:
    """History of a (1, C, .) signal in a ring of length L stored twice (2L samples).

    After ``write(x)``, ``window(m)`` is a contiguous view of the last m <= L samples.
    """

    def __init__(self, channels: int, length: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.length = length
        self.data = torch.zeros(1, channels, 2 * length, dtype=dtype, device=device)
        self.position = 0  # where the next sample goes, in [0, L)

    def write(self, x: torch.Tensor) -> None:
        n, length, w = x.shape[-1], self.length, self.position
        first = min(n, length - w)
        self.data[..., w:w + first] = x[..., :first]
        self.data[..., w + length:w + length + first] = x[..., :first]
        if first < n:  # the block wraps around the end of the ring
            rest = n - first
            self.data[..., :rest] = x[..., first:]
            self.data[..., length:length + rest] = x[..., first:]
        self.position = (w + n) % length

    def window(self, m: int) -> torch.Tensor:
        end = self.position + self.length
        return self.data[..., end - m:end]


class CausalConvStream:
    """Stateful forward for one ``CausalConv1d``: history in a ``MirroredRingBuffer``.

    A block of n outputs needs only the k taps ``window[j*d : j*d + n]``: they are gathered as
    one strided view into a (k*C_in, n) matrix and multiplied by the (C_out, k*C_in) weights.
    That is the FLOP bound's work; ``F.conv1d`` over the (history + n)-sample window was 6-10x
    slower at dilation 10,000 on our CPU.
    """

    def __init__(self, conv: CausalConv1d, max_block: int) -> None:
        self.conv = conv
        self.max_block = max_block
        self.kernel_size, self.dilation = conv.kernel_size[0], conv.dilation[0]
        out_channels = conv.out_channels
        # (C_out, C_in, k) -> (C_out, k*C_in), tap-major to match the gathered taps.
        self.weight_taps = conv.weight.detach().permute(0, 2, 1).reshape(out_channels, -1).contiguous()
        self.bias = None if conv.bias is None else conv.bias.detach().reshape(out_channels, 1)
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
        window = self.ring.window(self.conv.history_length + n)  # (1, C_in, (k-1)*d + n)
        _, channel_stride, time_stride = window.stride()
        taps = window.as_strided((self.kernel_size, window.shape[1], n),
                                 (self.dilation * time_stride, channel_stride, time_stride),
                                 window.storage_offset())
        columns = taps.reshape(-1, n)  # (k*C_in, n), one copy of k*C_in*n samples
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


class Streamer:
    """Process a signal block by block; output equals ``model(whole_signal)``.

    ``Streamer(model, cond=None)`` copies the model (later changes to ``model`` are not seen),
    puts the copy in eval mode and gives its causal convolutions and recurrent layers state.
    ``process(block)`` takes (1, 1, n) for any n >= 1 and returns (1, 1, n); ``reset()``
    returns to silence (all histories zero, recurrent states empty).
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor] = None,
                 max_block: int = DEFAULT_MAX_BLOCK) -> None:
        self.model = copy.deepcopy(model).eval()
        self.cond = cond
        self.streams: list[CausalConvStream | RecurrentStream] = []
        with torch.inference_mode():
            for module in self.model.modules():
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
        """Forget the past: the next block is processed as the start of a signal."""
        with torch.inference_mode():
            for stream in self.streams:
                stream.reset()

    def process(self, block: torch.Tensor) -> torch.Tensor:
        """Process the next block (1, 1, n) and return its output (1, 1, n)."""
        if block.dim() != 3 or block.shape[0] != 1 or block.shape[1] != 1 or block.shape[2] < 1:
            raise ValueError(f"a block must be shaped (1, 1, n) with n >= 1, not {tuple(block.shape)}")
        with torch.inference_mode():
            return self.model(block) if self.cond is None else self.model(block, self.cond)


def _is_pointwise(module: nn.Module) -> bool:
    """A Conv1d of kernel 1 and stride 1 has no memory."""
    return (isinstance(module, nn.Conv1d) and module.kernel_size == (1,)
            and module.stride == (1,) and module.padding in ((0,), "valid"))
