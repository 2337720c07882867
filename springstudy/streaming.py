"""Block-by-block (streaming) inference whose output equals the whole-signal forward pass.

``Streamer(model)`` runs a springstudy model on consecutive blocks of any length n >= 1 and
returns exactly (within float rounding) what ``model(whole_signal)`` returns for those samples:
every model of the study is causal, so streaming adds no lookahead and the only latency is the
block itself (n / sample rate). Each causal convolution keeps the last ``(k-1)*d`` samples of
its input in a preallocated ring buffer, each LSTM/GRU keeps its state; nothing is recomputed
over the past and no history is ever shifted or re-padded.

Two paths compute the same thing:

- The *fused* path (default, ``fast=True``) for the study's families. The model's eval-mode
  constants are folded once, when the streamer is built: BatchNorm and FiLM (with its fixed
  conditioning vector) into the convolution or output weights, the gate's tanh into a sigmoid
  (``tanh(a) = 2*sigmoid(2a) - 1``: torch's sigmoid is several times faster than its tanh on
  CPU, and the factors 2 and 1/2 are exact in floating point), biases of the 1x1 mixes into a
  row of ones. A block then costs, per layer, one gather of the dilated taps, one matrix
  product, three elementwise passes and one matrix product that writes the layer's output
  straight into the next layer's history, all into preallocated buffers. Dead work of the
  offline graph (the 1x1 mix of a gated stack's last layer, which feeds nothing) is skipped.
  LSTMs run torch's own (oneDNN) kernel with their state carried; GRUs run a compiled
  recurrence (:mod:`springstudy.recurrent_kernels`, numba), as torch's CPU GRU dispatches
  several operators per sample.
- The *module* path (``fast=False``, and any model the fused path does not know): the model's
  own ``forward`` on a private copy whose ``CausalConv1d`` and recurrent submodules are given a
  stateful forward. It is the reference the fused path is tested against.

A long history (a TCN's 80,000 samples) lives in a ring buffer that stores every sample twice
(at i and i + L, the "mirrored ring" trick), so the window a convolution needs (history + new
block) is always one slice; a short one (at most a block) in a linear buffer that moves its
history to the front every few blocks. Either way the k dilated taps are one strided view:
gathering them into a (k*C_in, n) matrix is a single copy and the convolution a single matrix
product over the block, the work the FLOP count describes (``springstudy.efficiency``).
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from springstudy.models.causal import CausalConv1d

#: Block length the ring buffers and work buffers are first sized for; they grow on a longer block.
DEFAULT_MAX_BLOCK = 4096


class MirroredRingBuffer:
    """History of a (C, .) signal in a ring of length L stored twice (``data`` is (1, C, 2L)).

    After ``write(x)``, ``window(m)`` is a contiguous-in-time view of the last m <= L samples.
    A producer may also compute the next n samples straight into ``write_target(n)`` (when they
    do not wrap around the end of the ring) and then ``commit(n)``, which saves a copy.
    """

    def __init__(self, channels: int, length: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.length, self.channels = length, channels
        self.data = torch.zeros(1, channels, 2 * length, dtype=dtype, device=device)
        self.rows = self.data[0]  # (C, 2L) view
        self.position = 0  # where the next sample goes, in [0, L)

    def write(self, x: torch.Tensor) -> None:
        """Append the block ``x`` (..., C, n), n <= L."""
        n, length, w = x.shape[-1], self.length, self.position
        first = min(n, length - w)
        self.data[..., w:w + first] = x[..., :first]
        self.data[..., w + length:w + length + first] = x[..., :first]
        if first < n:  # the block wraps around the end of the ring
            rest = n - first
            self.data[..., :rest] = x[..., first:]
            self.data[..., length:length + rest] = x[..., first:]
        self.position = (w + n) % length

    def write_target(self, n: int) -> Optional[torch.Tensor]:
        """A (C, n) view to compute the next n samples into, or None if they would wrap."""
        w = self.position
        if w + n > self.length:
            return None
        return self.data.as_strided((self.channels, n), (2 * self.length, 1), w)

    def commit(self, target: torch.Tensor, n: int) -> None:
        """Mirror the n samples just computed into ``target = write_target(n)``; advance."""
        w = self.position
        self.data.as_strided((self.channels, n), (2 * self.length, 1), w + self.length).copy_(target)
        self.position = (w + n) % self.length

    def window(self, m: int) -> torch.Tensor:
        """The last m <= L samples, (1, C, m), a view into the ring."""
        end = self.position + self.length
        return self.data[..., end - m:end]

    def taps(self, kernel_size: int, dilation: int, n: int) -> torch.Tensor:
        """The k dilated taps of the last n outputs, (k, C, n): tap j = window[j*d : j*d + n].

        The window spans the history (k-1)*d plus the n newest samples; a view, never a copy.
        """
        start = self.position + self.length - (kernel_size - 1) * dilation - n
        return self.data.as_strided((kernel_size, self.channels, n),
                                    (dilation, 2 * self.length, 1), start)

    def reset(self) -> None:
        self.data.zero_()
        self.position = 0


class ShiftingBuffer:
    """History of a (C, .) signal in one linear buffer with room for several blocks.

    Blocks are written one after the other after the history; when the room runs out, the last
    ``history`` samples move to the front (one copy of at most one block, every few blocks).
    For histories no longer than a block this costs less than a mirrored ring (which copies
    every sample twice) and a producer can always compute straight into ``write_target``. Same
    interface as ``MirroredRingBuffer``.
    """

    def __init__(self, channels: int, history: int, room: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        if room < history + 1:
            raise ValueError("the room for new samples must exceed the history")
        self.channels, self.history, self.room = channels, history, room
        self.size = history + room
        self.data = torch.zeros(1, channels, self.size, dtype=dtype, device=device)
        self.position = history  # where the next sample goes; the history ends here

    def write_target(self, n: int) -> torch.Tensor:
        """A (C, n) view to compute the next n samples into (moves the history if needed)."""
        if self.position + n > self.size:
            if n > self.room - self.history:
                raise ValueError(f"a block of {n} does not fit a room of {self.room}")
            h = self.history
            # position >= room > 2*history here, so source and destination do not overlap.
            self.data[..., :h] = self.data[..., self.position - h:self.position]
            self.position = h
        return self.data.as_strided((self.channels, n), (self.size, 1), self.position)

    def commit(self, target: torch.Tensor, n: int) -> None:
        """The n samples are in ``target = write_target(n)``: advance."""
        self.position += n

    def write(self, x: torch.Tensor) -> None:
        """Append the block ``x`` (..., C, n)."""
        n = x.shape[-1]
        target = self.write_target(n)
        target.copy_(x.reshape(self.channels, n))
        self.commit(target, n)

    def window(self, m: int) -> torch.Tensor:
        """The last m samples (m <= history + the last block), (1, C, m), a view."""
        return self.data[..., self.position - m:self.position]

    def taps(self, kernel_size: int, dilation: int, n: int) -> torch.Tensor:
        """The k dilated taps of the last n outputs, (k, C, n), a view (see MirroredRingBuffer)."""
        return self.data.as_strided((kernel_size, self.channels, n), (dilation, self.size, 1),
                                    self.position - (kernel_size - 1) * dilation - n)

    def reset(self) -> None:
        self.data.zero_()
        self.position = self.history


#: A short history's buffer has room for this many of the longest blocks before it shifts.
SHIFT_ROOM_BLOCKS = 4


def history_buffer(channels: int, history: int, max_block: int, dtype: torch.dtype,
                   device: torch.device) -> MirroredRingBuffer | ShiftingBuffer:
    """The buffer for a convolution input with ``history`` past samples and blocks <= max_block.

    Short histories (<= one block) shift in a linear buffer; long ones (a TCN's 80,000 samples)
    live in a mirrored ring whose length is a multiple of ``max_block``, so blocks of that
    length, or of any divisor of it, never wrap around its end.
    """
    if history <= max_block:
        return ShiftingBuffer(channels, history, SHIFT_ROOM_BLOCKS * max_block, dtype, device)
    length = -(-(history + max_block) // max_block) * max_block
    return MirroredRingBuffer(channels, length, dtype, device)


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


# --------------------------------------------------------------------------------------------
# Fused path: per-family plans with folded constants and preallocated buffers.


def tap_major(weight: torch.Tensor) -> torch.Tensor:
    """Conv weight (C_out, C_in, k) -> (C_out, k*C_in), tap-major like the gathered taps."""
    return weight.permute(0, 2, 1).reshape(weight.shape[0], -1).contiguous()


def batch_norm_affine(bn: nn.Module, channels: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm1d as ``scale * x + shift`` per channel (identity for anything else)."""
    if isinstance(bn, nn.BatchNorm1d):
        if bn.running_var is None:
            raise TypeError("BatchNorm without running statistics cannot be folded")
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        return scale.detach(), shift.detach()
    if isinstance(bn, nn.Identity):
        return torch.ones(channels, dtype=like.dtype), torch.zeros(channels, dtype=like.dtype)
    raise TypeError(f"cannot fold {type(bn).__name__}")


def film_affine(film: Optional[nn.Module], cond: Optional[torch.Tensor], channels: int,
                like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FiLM with a fixed conditioning vector as ``gamma * x + beta`` per channel."""
    if film is None:
        return torch.ones(channels, dtype=like.dtype), torch.zeros(channels, dtype=like.dtype)
    if cond is None or cond.shape[0] != 1:
        raise TypeError("a conditioned model streams with one conditioning vector (1, cond_dim)")
    gamma, beta = torch.chunk(film.adaptor(cond), 2, dim=-1)
    return gamma[0].detach(), beta[0].detach()


class Workspace:
    """Flat preallocated buffers; ``matrix(name, rows, n)`` is a contiguous (rows, n) view.

    Taking the first rows*n elements of a flat buffer keeps every matrix contiguous whatever
    the block length, so BLAS and the elementwise kernels see dense operands.
    """

    def __init__(self, sizes: dict[str, int], max_block: int, dtype: torch.dtype) -> None:
        self.max_block = max_block
        self.flat = {name: torch.zeros(rows * max_block, dtype=dtype) for name, rows in sizes.items()}

    def matrix(self, name: str, rows: int, n: int) -> torch.Tensor:
        return self.flat[name][:rows * n].view(rows, n)


class ConvInput:
    """One causal convolution's input history and its (folded) tap-major weights.

    The weight carries the bias as an extra first column, matched by a row of ones above the
    gathered taps, so the convolution is one ``torch.mm`` into a preallocated output. The ones
    row is row 0 of every convolution's matrix, so convolutions of different sizes can share
    one buffer without overwriting each other's ones.
    """

    def __init__(self, in_channels: int, kernel_size: int, dilation: int, weight: torch.Tensor,
                 bias: torch.Tensor, max_block: int) -> None:
        self.in_channels, self.kernel_size, self.dilation = in_channels, kernel_size, dilation
        self.history = (kernel_size - 1) * dilation
        self.weight = torch.cat([bias.reshape(-1, 1), weight], dim=1).contiguous()  # (C_out, 1 + k*C_in)
        self.ring = history_buffer(in_channels, self.history, max_block, weight.dtype, weight.device)

    @property
    def columns(self) -> int:
        """Rows of the gathered matrix: the row of ones and k*C_in taps."""
        return self.kernel_size * self.in_channels + 1

    def columns_view(self, workspace: Workspace, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(the (1 + k*C_in, n) matrix, its (k, C_in, n) tap part); sets the ones row."""
        columns = workspace.matrix("columns", self.columns, n)
        columns[0].fill_(1.0)
        return columns, columns[1:].view(self.kernel_size, self.in_channels, n)

    def gather(self, taps: torch.Tensor, n: int) -> None:
        """Copy the dilated taps of the n newest samples into ``taps`` (k, C_in, n)."""
        taps.copy_(self.ring.taps(self.kernel_size, self.dilation, n))

    def resize(self, max_block: int) -> None:
        history = self.ring.window(self.history).clone()
        self.ring = history_buffer(self.in_channels, self.history, max_block, self.weight.dtype,
                                   self.weight.device)
        self.ring.write(history)


class FusedPlan:
    """Common frame of the fused plans: rings, workspace, per-block-length views, growth, reset.

    All views a block needs are made once per block length (``views(n)``) and reused: on a
    stream of equal blocks no tensor is allocated except the returned output.
    """

    inputs: list[ConvInput]
    workspace: Workspace
    #: Block lengths whose views are kept (a stream uses one or two; tests use many).
    MAX_CACHED_LENGTHS = 8

    def workspace_sizes(self) -> dict[str, int]:
        raise NotImplementedError

    def make_views(self, n: int) -> dict:
        raise NotImplementedError

    def allocate(self, max_block: int) -> None:
        self.max_block = max_block
        dtype = self.inputs[0].weight.dtype if self.inputs else torch.float32
        self.workspace = Workspace(self.workspace_sizes(), max_block, dtype)
        self.cached: dict[int, dict] = {}
        self.laid_out = 0  # block length the shared ones rows are currently laid out for

    def views(self, n: int) -> dict:
        if n > self.max_block:
            new_max = max(n, 2 * self.max_block)
            for conv in self.inputs:
                conv.resize(new_max)
            self.allocate(new_max)
        views = self.cached.get(n)
        if views is None:
            if len(self.cached) >= self.MAX_CACHED_LENGTHS:
                self.cached.clear()
            views = self.cached[n] = self.make_views(n)
        if self.laid_out != n:  # buffers are shared between lengths: lay out the ones rows
            for row in views["ones"]:
                row.fill_(1.0)
            self.laid_out = n
        return views

    def reset(self) -> None:
        for conv in self.inputs:
            conv.ring.reset()

    def emit(self, ring: MirroredRingBuffer | ShiftingBuffer, n: int, base: torch.Tensor, weight: torch.Tensor,
             rhs: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
        """Write ``base + weight @ rhs`` as the next n samples of ``ring``; return them (a view)."""
        target = ring.write_target(n)
        if target is not None:
            torch.addmm(base, weight, rhs, out=target)
            ring.commit(target, n)
            return target
        ring.write(torch.addmm(base, weight, rhs, out=scratch))
        return ring.window(n)[0]


class TCNPlan(FusedPlan):
    """TCN blocks: conv (BatchNorm and FiLM folded) -> PReLU, plus the 1x1 residual of the input."""

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        self.inputs, self.alphas, self.residuals, self.out_channels = [], [], [], []
        for block in model.blocks:
            conv = block.conv
            c_out = conv.out_channels
            weight = conv.weight.detach()
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros(c_out, dtype=weight.dtype)
            bn_scale, bn_shift = batch_norm_affine(block.bn, c_out, weight)
            gamma, beta = film_affine(block.film, cond, c_out, weight)
            scale, shift = gamma * bn_scale, gamma * bn_shift + beta
            self.inputs.append(ConvInput(conv.in_channels, conv.kernel_size[0], conv.dilation[0],
                                         tap_major(weight) * scale[:, None], bias * scale + shift,
                                         max_block))
            self.alphas.append(block.act.weight.detach())
            self.residuals.append(block.res.weight.detach()[:, :, 0].contiguous())  # (C_out, C_in)
            self.out_channels.append(c_out)
        self.allocate(max_block)

    def workspace_sizes(self) -> dict[str, int]:
        return {"columns": max(c.columns for c in self.inputs),
                "activation": max(self.out_channels),
                "scratch": max(c.in_channels for c in self.inputs)}

    def make_views(self, n: int) -> dict:
        views: dict = {"ones": [], "columns": [], "taps": [], "current": [], "activation": [],
                       "scratch": []}
        for conv, c_out in zip(self.inputs, self.out_channels):
            columns, taps = conv.columns_view(self.workspace, n)
            views["ones"].append(columns[0])
            views["columns"].append(columns)
            views["taps"].append(taps)
            views["current"].append(taps[-1])  # the last tap is the block's own input
            views["activation"].append(self.workspace.matrix("activation", c_out, n))
            views["scratch"].append(self.workspace.matrix("scratch", conv.in_channels, n))
        return views

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        v = self.views(n)
        self.inputs[0].ring.write(x)
        last = len(self.inputs) - 1
        for i, conv in enumerate(self.inputs):
            conv.gather(v["taps"][i], n)
            pre = torch.mm(conv.weight, v["columns"][i], out=v["activation"][i])
            activated = F.prelu(pre, self.alphas[i])
            if i == last:
                return torch.addmm(activated, self.residuals[i], v["current"][i])
            self.emit(self.inputs[i + 1].ring, n, activated, self.residuals[i], v["current"][i],
                      v["scratch"][i + 1])
        raise AssertionError("unreachable")


class GatedStackPlan(FusedPlan):
    """WaveNet / GCN: gated dilated convs with a 1x1 residual mix, all gates mixed to the output.

    Per layer l with input x_l: h = conv(x_l); z = tanh(h_a) * sigmoid(h_b) (FiLM: gamma*z+beta);
    x_{l+1} = R_l z + r_l + x_l; output = sum_l w_l z_l + c. With u = sigmoid(2 h_a) and
    g = sigmoid(h_b), z = 2 (u - 1/2) g: one sigmoid over both halves and two elementwise passes
    give q = u*g - g/2, and the factor 2 (and FiLM) goes into R_l, w_l and the biases. The q's
    of all layers live in one matrix, each followed by a row of ones that carries the mix's
    bias, so the residual mix is one matrix product and the output mix one more.
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        layers = list(model.layers)
        wavenet = hasattr(model, "input_layer")
        final = model.linear_mix if wavenet else model.mix
        dtype = final.weight.dtype
        self.channels = channels = layers[0].channels
        self.stride = channels + 1  # rows per layer in the gate matrix: q_l and a ones row
        self.inputs, self.mixes = [], []
        final_weight = final.weight.detach()[0, :, 0]  # (L*C,)
        final_bias = final.bias.detach().clone() if final.bias is not None else torch.zeros(1, dtype=dtype)
        final_ext = torch.zeros(1, len(layers) * self.stride, dtype=dtype)
        gate_scale = torch.cat([torch.full((channels,), 2.0, dtype=dtype),
                                torch.ones(channels, dtype=dtype)])
        for l, layer in enumerate(layers):
            conv = layer.hidden if wavenet else layer.conv
            mix = layer.residual if wavenet else layer.mix
            weight = conv.weight.detach()
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros(2 * channels, dtype=dtype)
            # tanh(a) = 2*sigmoid(2a) - 1: the tanh half's weights and bias are doubled (exact).
            self.inputs.append(ConvInput(conv.in_channels, conv.kernel_size[0], conv.dilation[0],
                                         tap_major(weight) * gate_scale[:, None], bias * gate_scale,
                                         max_block))
            gamma, beta = film_affine(layer.film, cond, channels, weight)
            z_scale = 2.0 * gamma  # z_film = 2*gamma*q + beta
            w = final_weight[l * channels:(l + 1) * channels]
            final_ext[0, l * self.stride:l * self.stride + channels] = w * z_scale
            final_bias = final_bias + (w * beta).sum()
            mix_weight = mix.weight.detach()[:, :, 0]
            mix_bias = mix.bias.detach() if mix.bias is not None else torch.zeros(channels, dtype=dtype)
            self.mixes.append(torch.cat([mix_weight * z_scale[None, :],
                                         (mix_bias + mix_weight @ beta)[:, None]], dim=1).contiguous())
        final_ext[0, channels] = final_bias[0]  # the output bias rides on layer 0's ones row
        self.final_weight = final_ext
        if wavenet:
            self.input_weight = model.input_layer.weight.detach()[:, :, 0].contiguous()  # (C, 1)
            self.input_bias = model.input_layer.bias.detach().reshape(-1, 1)
        else:
            self.input_weight = None
        self.allocate(max_block)

    def workspace_sizes(self) -> dict[str, int]:
        return {"columns": max(c.columns for c in self.inputs),
                "hidden": 2 * self.channels,
                "gates": len(self.inputs) * self.stride,
                "scratch": self.channels}

    def make_views(self, n: int) -> dict:
        c, stride = self.channels, self.stride
        gates = self.workspace.matrix("gates", len(self.inputs) * self.stride, n)
        hidden = self.workspace.matrix("hidden", 2 * c, n)
        views: dict = {"gates": gates, "hidden": hidden, "u": hidden[:c], "g": hidden[c:],
                       "scratch": self.workspace.matrix("scratch", c, n),
                       "ones": [gates[l * stride + c] for l in range(len(self.inputs))],
                       "columns": [], "taps": [], "q": [], "z": []}
        for l, conv in enumerate(self.inputs):
            columns, taps = conv.columns_view(self.workspace, n)
            views["ones"].append(columns[0])
            views["columns"].append(columns)
            views["taps"].append(taps)
            views["q"].append(gates[l * stride:l * stride + c])
            views["z"].append(gates[l * stride:(l + 1) * stride])
        return views

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        v = self.views(n)
        first = self.inputs[0]
        if self.input_weight is not None:  # WaveNet: 1x1 input projection 1 -> C
            base = self.emit(first.ring, n, self.input_bias, self.input_weight, x, v["scratch"])
        else:  # GCN: the 1-channel input; its residual add broadcasts over the C channels
            first.ring.write(x)
            base = x
        hidden, u, g = v["hidden"], v["u"], v["g"]
        last = len(self.inputs) - 1
        for l, conv in enumerate(self.inputs):
            conv.gather(v["taps"][l], n)
            torch.mm(conv.weight, v["columns"][l], out=hidden)
            hidden.sigmoid_()
            q = torch.mul(u, g, out=v["q"][l])
            q.sub_(g, alpha=0.5)
            if l < last:  # the last layer's mix feeds nothing: skipped
                base = self.emit(self.inputs[l + 1].ring, n, base, self.mixes[l], v["z"][l],
                                 v["scratch"])
        return torch.mm(self.final_weight, v["gates"])


class CompiledGRU:
    """A stacked ``nn.GRU`` (eval, batch-first, unidirectional) run by the compiled recurrence
    of :mod:`springstudy.recurrent_kernels`; the input projection of a block is one matrix
    product. Carries the hidden state of every layer."""

    def __init__(self, rnn: nn.GRU) -> None:
        import numpy as np

        from springstudy.recurrent_kernels import gru_steps

        if rnn.bidirectional or not rnn.batch_first or not rnn.bias or getattr(rnn, "proj_size", 0):
            raise TypeError("the compiled GRU handles batch-first, unidirectional GRUs with biases")
        self.kernel, self.hidden = gru_steps, rnn.hidden_size
        self.layers = []
        for l in range(rnn.num_layers):
            w_ih = getattr(rnn, f"weight_ih_l{l}").detach()
            self.layers.append((w_ih.t().contiguous(), getattr(rnn, f"bias_ih_l{l}").detach().reshape(1, -1),
                                np.ascontiguousarray(getattr(rnn, f"weight_hh_l{l}").detach().numpy().T),
                                getattr(rnn, f"bias_hh_l{l}").detach().numpy().copy()))
        self.dtype = np.dtype(str(w_ih.dtype).replace("torch.", ""))
        self.reset()

    def reset(self) -> None:
        import numpy as np

        self.states = [np.zeros(self.hidden, dtype=self.dtype) for _ in self.layers]

    def __call__(self, sequence: torch.Tensor) -> torch.Tensor:
        """(n, in) -> (n, H), continuing from the carried states."""
        import numpy as np

        for (w_ih_t, b_ih, w_hh_t, b_hh), state in zip(self.layers, self.states):
            projected = torch.addmm(b_ih, sequence, w_ih_t).numpy()  # (n, 3H)
            out = np.empty((projected.shape[0], self.hidden), dtype=self.dtype)
            self.kernel(projected, w_hh_t, b_hh, state, out)
            sequence = torch.from_numpy(out)
        return sequence


class RecurrentPlan(FusedPlan):
    """[causal conv + BatchNorm, folded] -> LSTM (torch's oneDNN kernel) or GRU (compiled
    recurrence), states carried -> linear (FiLM folded) [+ linear skip]."""

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        self.rnn = model.rnn
        self.state = None
        self.compiled = CompiledGRU(model.rnn) if isinstance(model.rnn, nn.GRU) else None
        dtype = model.lin.weight.dtype
        hidden = model.hidden_size
        self.inputs = []
        if model.features is not None:
            conv, bn = model.features[0], model.features[1]
            scale, shift = batch_norm_affine(bn, conv.out_channels, conv.weight)
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros(hidden, dtype=dtype)
            self.inputs.append(ConvInput(conv.in_channels, conv.kernel_size[0], conv.dilation[0],
                                         tap_major(conv.weight.detach()) * scale[:, None],
                                         bias * scale + shift, max_block))
            # (n, 1+k) @ (1+k, H): the features come out time-major, as the recurrent layer takes them.
            self.front_weight_t = self.inputs[0].weight.t().contiguous()
        gamma, beta = film_affine(model.film, cond, hidden, model.lin.weight)
        w = model.lin.weight.detach()[0]
        self.out_weight_t = (w * gamma).reshape(-1, 1).contiguous()  # (H, 1)
        out_bias = model.lin.bias.detach() + (w * beta).sum()
        if model.res is not None:
            self.skip = float(model.res.weight.detach()[0, 0])
            out_bias = out_bias + model.res.bias.detach()
        else:
            self.skip = None
        self.out_bias = out_bias.reshape(1, 1)
        self.allocate(max_block)

    def workspace_sizes(self) -> dict[str, int]:
        return {"columns": max((c.columns for c in self.inputs), default=1)}

    def make_views(self, n: int) -> dict:
        if not self.inputs:
            return {"ones": []}
        columns, taps = self.inputs[0].columns_view(self.workspace, n)
        return {"ones": [columns[0]], "columns_t": columns.t(), "taps": taps}

    def reset(self) -> None:
        super().reset()
        self.state = None
        if self.compiled is not None:
            self.compiled.reset()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        v = self.views(n)
        if self.inputs:
            front = self.inputs[0]
            front.ring.write(x)
            front.gather(v["taps"], n)
            sequence = torch.mm(v["columns_t"], self.front_weight_t)  # (n, H), time-major
        else:
            sequence = x.reshape(n, 1)
        if self.compiled is not None:
            hidden = self.compiled(sequence)
        else:
            output, self.state = self.rnn(sequence.unsqueeze(0), self.state)
            hidden = output[0]
        y = torch.addmm(self.out_bias, hidden, self.out_weight_t)  # (n, 1)
        if self.skip is not None:
            y.add_(x.reshape(n, 1), alpha=self.skip)
        return y.reshape(1, n)


def fused_plan(model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> Optional[FusedPlan]:
    """The fused plan of a study model, or None when the model is not one the plans know."""
    from springstudy.models.gcn import GCN
    from springstudy.models.recurrent import RecurrentNet
    from springstudy.models.tcn import TCN
    from springstudy.models.wavenet import WaveNet

    plans: dict[type, type[FusedPlan]] = {TCN: TCNPlan, WaveNet: GatedStackPlan, GCN: GatedStackPlan,
                                          RecurrentNet: RecurrentPlan}
    for cls, plan in plans.items():
        if isinstance(model, cls):
            try:
                return plan(model, cond, max_block)
            except (TypeError, AttributeError, ImportError):
                return None  # something the plan cannot fold: the module path handles it
    return None


class Streamer:
    """Process a signal block by block; output equals ``model(whole_signal)``.

    ``Streamer(model, cond=None, max_block=4096, fast=True)`` copies the model (later changes to
    ``model`` are not seen) and puts the copy in eval mode. ``process(block)`` takes (1, 1, n)
    for any n >= 1 and returns a new (1, 1, n) tensor; ``reset()`` returns to silence (all
    histories zero, recurrent states empty). ``fast=False`` uses the module path (the model's own
    forward with stateful convolutions); ``path`` says which one runs.
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
        with torch.inference_mode():
            if self.path == "module":
                return self.runner(block)
            x = block.reshape(1, -1)
            if x.dtype != self.dtype:
                x = x.to(self.dtype)
            return self.runner(x).reshape(1, 1, -1)


def _is_pointwise(module: nn.Module) -> bool:
    """A Conv1d of kernel 1 and stride 1 has no memory."""
    return (isinstance(module, nn.Conv1d) and module.kernel_size == (1,)
            and module.stride == (1,) and module.padding in ((0,), "valid"))
