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
  row of ones, a gated stack's output mix into its residual mixes. A block then costs, per
  layer, one gather of the dilated taps, one matrix product, one or two elementwise passes and
  one matrix product that writes the layer's output straight into the next layer's history,
  all into preallocated buffers. Float32 gated stacks (WaveNet, GCN) run all of that for all
  layers in one compiled call per block (:class:`CompiledGatedStackPlan`,
  :mod:`springstudy.conv_kernels`); other dtypes run it in torch operators. Dead work of the
  offline graph (the 1x1 mix of a gated stack's last layer, which feeds nothing) is skipped,
  and a TCN's one-channel last block keeps k projections of its input instead of its 32
  channels (:class:`ProjectedOutput`).
  LSTMs run torch's own (oneDNN) kernel with their state carried; GRUs run a compiled
  recurrence (numba), as torch's CPU GRU dispatches several operators per sample.
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
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from springstudy.models.causal import CausalConv1d

#: Block length the ring buffers and work buffers are first sized for; they grow on a longer block.
DEFAULT_MAX_BLOCK = 4096


class _Views:
    """The strided views a buffer hands out, kept by (shape, offset): on a stream of equal blocks
    the positions repeat, so after the first round a view costs a dictionary lookup instead of a
    new tensor. Bounded: cleared when ``MAX_VIEWS`` are kept (random block sizes)."""

    MAX_VIEWS = 512
    data: torch.Tensor
    views: dict[tuple, torch.Tensor]

    def view(self, key: tuple, size: tuple[int, ...], stride: tuple[int, ...], offset: int) -> torch.Tensor:
        view = self.views.get(key)
        if view is None:
            if len(self.views) >= self.MAX_VIEWS:
                self.views.clear()
            view = self.views[key] = self.data.as_strided(size, stride, offset)
        return view


class MirroredRingBuffer(_Views):
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
        self.views: dict[tuple, torch.Tensor] = {}

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
        return self.view((n, w), (self.channels, n), (2 * self.length, 1), w)

    def commit(self, target: torch.Tensor, n: int) -> None:
        """Mirror the n samples just computed into ``target = write_target(n)``; advance."""
        w = self.position + self.length
        self.view((n, w), (self.channels, n), (2 * self.length, 1), w).copy_(target)
        self.position = (w + n) % self.length

    def window(self, m: int) -> torch.Tensor:
        """The last m <= L samples, (1, C, m), a view into the ring."""
        end = self.position + self.length
        return self.data[..., end - m:end]

    def taps(self, kernel_size: int, dilation: int, n: int, channels: Optional[int] = None) -> torch.Tensor:
        """The k dilated taps of the last n outputs, (k, C, n): tap j = window[j*d : j*d + n].

        The window spans the history (k-1)*d plus the n newest samples; a view, never a copy.
        ``channels`` takes only the first rows (default: all C).
        """
        start = self.position + self.length - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, channels),
                         (kernel_size, channels or self.channels, n), (dilation, 2 * self.length, 1), start)

    def diagonal_taps(self, kernel_size: int, dilation: int, n: int) -> torch.Tensor:
        """Row j's tap j of the last n outputs, (k, n): row j delayed by (k-1-j)*d; a view."""
        start = self.position + self.length - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, "diagonal"), (kernel_size, n),
                         (dilation + 2 * self.length, 1), start)

    def reset(self) -> None:
        self.data.zero_()
        self.position = 0


class ShiftingBuffer(_Views):
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
        self.views: dict[tuple, torch.Tensor] = {}

    def write_target(self, n: int) -> torch.Tensor:
        """A (C, n) view to compute the next n samples into (moves the history if needed)."""
        if self.position + n > self.size:
            if n > self.room - self.history:
                raise ValueError(f"a block of {n} does not fit a room of {self.room}")
            h = self.history
            # position >= room > 2*history here, so source and destination do not overlap.
            self.data[..., :h] = self.data[..., self.position - h:self.position]
            self.position = h
        return self.view((n, self.position), (self.channels, n), (self.size, 1), self.position)

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

    def taps(self, kernel_size: int, dilation: int, n: int, channels: Optional[int] = None) -> torch.Tensor:
        """The k dilated taps of the last n outputs, (k, C, n), a view (see MirroredRingBuffer)."""
        start = self.position - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, channels),
                         (kernel_size, channels or self.channels, n), (dilation, self.size, 1), start)

    def diagonal_taps(self, kernel_size: int, dilation: int, n: int) -> torch.Tensor:
        """Row j's tap j of the last n outputs, (k, n), a view (see MirroredRingBuffer)."""
        start = self.position - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, "diagonal"), (kernel_size, n),
                         (dilation + self.size, 1), start)

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


def regrown(ring: MirroredRingBuffer | ShiftingBuffer, history: int,
            max_block: int) -> MirroredRingBuffer | ShiftingBuffer:
    """A buffer for blocks up to ``max_block`` that starts with the last ``history`` samples of ``ring``."""
    kept = ring.window(history).clone()
    new = history_buffer(ring.channels, history, max_block, ring.data.dtype, ring.data.device)
    new.write(kept)
    return new


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
    one buffer without overwriting each other's ones. The history may carry ``ring_channels``
    rows, more than the convolution reads (a gated stack's running output sum rides there).
    """

    def __init__(self, in_channels: int, kernel_size: int, dilation: int, weight: torch.Tensor,
                 bias: torch.Tensor, max_block: int, ring_channels: Optional[int] = None) -> None:
        self.in_channels, self.kernel_size, self.dilation = in_channels, kernel_size, dilation
        self.history = (kernel_size - 1) * dilation
        self.weight = torch.cat([bias.reshape(-1, 1), weight], dim=1).contiguous()  # (C_out, 1 + k*C_in)
        self.ring = history_buffer(ring_channels or in_channels, self.history, max_block, weight.dtype,
                                   weight.device)

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
        taps.copy_(self.ring.taps(self.kernel_size, self.dilation, n, self.in_channels))

    def resize(self, max_block: int) -> None:
        self.ring = regrown(self.ring, self.history, max_block)


class ProjectedOutput:
    """A causal convolution with one output channel (and a 1x1 residual of its input) that keeps
    projections of its input instead of the input itself.

    y[t] = b + sum_j w_j . x[t - (k-1-j) d] needs, per block, k delayed windows of all C_in
    input channels. Projected first, p_j = w_j . x and r = res . x (k + 1 rows, fewer than C_in
    when k + 1 < C_in), only row j of the history is read at delay (k-1-j) d: the k taps are one
    strided view (``diagonal_taps``) and their sum one matrix product. A TCN's last block
    (32 channels -> 1, histories of 80,000 samples) reads k rows a block instead of 32k.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, residual: torch.Tensor, kernel_size: int,
                 dilation: int, max_block: int) -> None:
        self.kernel_size, self.dilation = kernel_size, dilation
        self.history = (kernel_size - 1) * dilation
        # (k + 1, C_in): tap j's weights (tap-major, as ``tap_major`` lays them out), then the residual.
        self.projection = torch.cat([weight.reshape(kernel_size, -1), residual]).contiguous()
        self.bias = bias.reshape(1, 1)
        self.ones = torch.ones(1, kernel_size, dtype=weight.dtype)
        self.ring = history_buffer(kernel_size + 1, self.history, max_block, weight.dtype, weight.device)

    def __call__(self, x: torch.Tensor, scratch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project the block ``x`` (C_in, n) into the history; return (the convolution's output,
        a new (1, n) tensor, and the residual, a (1, n) view)."""
        n, k, ring = x.shape[-1], self.kernel_size, self.ring
        target = ring.write_target(n)
        if target is None:
            ring.write(torch.mm(self.projection, x, out=scratch))
        else:
            torch.mm(self.projection, x, out=target)
            ring.commit(target, n)
        out = torch.addmm(self.bias, self.ones, ring.diagonal_taps(k, self.dilation, n))
        return out, ring.window(n)[0, k:]

    def resize(self, max_block: int) -> None:
        self.ring = regrown(self.ring, self.history, max_block)


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

    def histories(self) -> list[ConvInput | ProjectedOutput]:
        """Everything that keeps a history (resized on a longer block, zeroed on reset)."""
        return self.inputs

    def views(self, n: int) -> dict:
        if n > self.max_block:
            new_max = max(n, 2 * self.max_block)
            for conv in self.histories():
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
        for conv in self.histories():
            conv.ring.reset()

    def emit(self, ring: MirroredRingBuffer | ShiftingBuffer, n: int, base: Optional[torch.Tensor],
             weight: torch.Tensor, rhs: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
        """Write ``base + weight @ rhs`` (``weight @ rhs`` if base is None) as the next n samples
        of ``ring``; return them (a view)."""
        target = ring.write_target(n)
        out = scratch if target is None else target
        if base is None:
            torch.mm(weight, rhs, out=out)
        else:
            torch.addmm(base, weight, rhs, out=out)
        if target is None:
            ring.write(out)
            return ring.window(n)[0]
        ring.commit(target, n)
        return target


@dataclass
class FoldedTCNBlock:
    """One TCN block with BatchNorm and FiLM folded into its convolution (:func:`fold_tcn`)."""

    weight: torch.Tensor  # (C_out, k*C_in), tap-major
    bias: torch.Tensor  # (C_out,)
    alpha: torch.Tensor  # PReLU slopes: (1,) or (C_out,)
    residual: torch.Tensor  # (C_out, C_in), the 1x1 residual
    kernel_size: int
    dilation: int
    in_channels: int
    out_channels: int
    projected: bool  # a one-channel last block with k + 1 < C_in: runs on projections of its input


def fold_tcn(model: nn.Module, cond: Optional[torch.Tensor]) -> list[FoldedTCNBlock]:
    """A TCN's blocks in eval mode: conv (BatchNorm and FiLM folded) -> PReLU, plus the 1x1
    residual of the input. The last block (C -> 1) is marked ``projected`` when its kernel has
    fewer taps than it has input channels, as every named TCN's does."""
    blocks = list(model.blocks)
    folded = []
    for i, block in enumerate(blocks):
        conv = block.conv
        c_out, k = conv.out_channels, conv.kernel_size[0]
        weight = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(c_out, dtype=weight.dtype)
        bn_scale, bn_shift = batch_norm_affine(block.bn, c_out, weight)
        gamma, beta = film_affine(block.film, cond, c_out, weight)
        scale, shift = gamma * bn_scale, gamma * bn_shift + beta
        projected = i == len(blocks) - 1 and i > 0 and c_out == 1 and k + 1 < conv.in_channels
        folded.append(FoldedTCNBlock(tap_major(weight) * scale[:, None], bias * scale + shift,
                                     block.act.weight.detach(), block.res.weight.detach()[:, :, 0].contiguous(),
                                     k, conv.dilation[0], conv.in_channels, c_out, projected))
    return folded


class TCNPlan(FusedPlan):
    """A TCN (:func:`fold_tcn`) in torch operators: the path for dtypes other than float32, or
    without numba (float32 runs :class:`CompiledTCNPlan`). The projected last block runs on
    :class:`ProjectedOutput`."""

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        self.inputs, self.alphas, self.residuals, self.out_channels = [], [], [], []
        self.projected: Optional[ProjectedOutput] = None
        for block in fold_tcn(model, cond):
            # One PReLU slope (nn.PReLU's default) is a leaky ReLU, which runs in place.
            self.alphas.append(float(block.alpha) if block.alpha.numel() == 1 else block.alpha)
            if block.projected:
                self.projected = ProjectedOutput(block.weight, block.bias, block.residual, block.kernel_size,
                                                 block.dilation, max_block)
                break
            self.inputs.append(ConvInput(block.in_channels, block.kernel_size, block.dilation, block.weight,
                                         block.bias, max_block))
            self.residuals.append(block.residual)
            self.out_channels.append(block.out_channels)
        self.allocate(max_block)

    def histories(self) -> list[ConvInput | ProjectedOutput]:
        return self.inputs + ([self.projected] if self.projected is not None else [])

    def workspace_sizes(self) -> dict[str, int]:
        sizes = {"columns": max(c.columns for c in self.inputs),
                 "activation": max(self.out_channels),
                 "scratch": max(c.in_channels for c in self.inputs)}
        if self.projected is not None:
            sizes["projection"] = self.projected.kernel_size + 1
            sizes["scratch"] = max(sizes["scratch"], self.out_channels[-1])
        return sizes

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
        if self.projected is not None:
            views["projection"] = self.workspace.matrix("projection", self.projected.kernel_size + 1, n)
            # The last block's input is only projected: it goes to scratch, not to a history.
            views["scratch"].append(self.workspace.matrix("scratch", self.out_channels[-1], n))
        return views

    @staticmethod
    def activate(x: torch.Tensor, alpha: float | torch.Tensor) -> torch.Tensor:
        return F.leaky_relu_(x, alpha) if isinstance(alpha, float) else F.prelu(x, alpha)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        v = self.views(n)
        self.inputs[0].ring.write(x)
        last = len(self.inputs) - 1
        for i, conv in enumerate(self.inputs):
            conv.gather(v["taps"][i], n)
            pre = torch.mm(conv.weight, v["columns"][i], out=v["activation"][i])
            activated = self.activate(pre, self.alphas[i])
            residual, current = self.residuals[i], v["current"][i]
            if i == last:
                if self.projected is None:
                    return torch.addmm(activated, residual, current)
                block = torch.addmm(activated, residual, current, out=v["scratch"][i + 1])
                out, skip = self.projected(block, v["projection"])
                return self.activate(out, self.alphas[i + 1]).add_(skip)
            ring = self.inputs[i + 1].ring
            target = ring.write_target(n) if residual.shape[1] == 1 else None
            if target is not None:  # a 1-channel input: the residual is a broadcast product
                torch.addcmul(activated, residual, current, out=target)
                ring.commit(target, n)
            else:
                self.emit(ring, n, activated, residual, current, v["scratch"][i + 1])
        raise AssertionError("unreachable")


@dataclass
class FoldedGatedLayer:
    """One gated layer with its eval-mode constants folded (see :func:`fold_gated_stack`)."""

    weight: torch.Tensor  # (2C, k*C_in), tap-major; the tanh half doubled
    bias: torch.Tensor  # (2C,), the tanh half doubled
    kernel_size: int
    dilation: int
    in_channels: int
    skip: torch.Tensor  # (C,): this layer's share of the output is skip . q
    mix: Optional[torch.Tensor]  # (C, 1 + C): x_{l+1} = base + mix @ [1; q]; None for the last layer


@dataclass
class FoldedGatedStack:
    layers: list[FoldedGatedLayer]
    channels: int
    x_weight: torch.Tensor  # (C,): the first layer's base is x_weight * x
    constant: torch.Tensor  # () the output's constant
    wavenet: bool  # the first layer reads [x; v] (v = 1 on real samples) instead of x


def fold_gated_stack(model: nn.Module, cond: Optional[torch.Tensor]) -> FoldedGatedStack:
    """WaveNet / GCN as per-layer matrices on q = -z, the gate's output with its sign flipped.

    Per layer l with input x_l: h = conv(x_l); z = tanh(h_a) * sigmoid(h_b) (FiLM: gamma*z+beta);
    x_{l+1} = R_l z + r_l + x_l; output = sum_l w_l z_l + c. With tanh(a) = 2 sigmoid(2a) - 1
    the tanh half's weights and bias are doubled (exact), so that a gate computes
    q = -z from sigmoid(2 h_a) and sigmoid(h_b); the sign and FiLM go into R_l, w_l and the
    biases. The last layer's residual mix feeds nothing and is dropped.

    The first layer reads the 1-channel input x itself. A GCN's does anyway (its residual
    broadcasts x over the C rows: ``x_weight`` = 1). A WaveNet's x_0 = W_in x + b_in (its 1x1
    input projection) is folded into the first convolution and residual, so x_0 is never
    formed: the convolution reads [x; v], v = 1 on the signal and 0 in the causal zero padding
    (where x_0 is 0, not b_in), with weights W_0 W_in and W_0 b_in; the residual takes x with
    weights W_in (``x_weight``) and b_in in its bias.
    """
    layers = list(model.layers)
    wavenet = hasattr(model, "input_layer")
    final = model.linear_mix if wavenet else model.mix
    dtype = final.weight.dtype
    channels = layers[0].channels
    final_weight = final.weight.detach()[0, :, 0]  # (L*C,)
    constant = final.bias.detach().reshape(()) if final.bias is not None else torch.zeros((), dtype=dtype)
    gate_scale = torch.cat([torch.full((channels,), 2.0, dtype=dtype), torch.ones(channels, dtype=dtype)])
    zeros = torch.zeros(channels, dtype=dtype)
    if wavenet:  # the input projection's weight and bias, folded into the first layer
        projection = model.input_layer
        x_weight = projection.weight.detach()[:, 0, 0]
        x_bias = projection.bias.detach() if projection.bias is not None else zeros
    else:  # a GCN's first residual adds x to every channel
        x_weight, x_bias = torch.ones(channels, dtype=dtype), zeros
    folded = []
    for l, layer in enumerate(layers):
        conv = layer.hidden if wavenet else layer.conv
        weight = conv.weight.detach()  # (2C, C_in, k)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(2 * channels, dtype=dtype)
        in_channels = conv.in_channels
        if l == 0 and wavenet:  # a convolution over [x; v] (see above)
            weight = torch.stack([torch.einsum("ock,c->ok", weight, x_weight),
                                  torch.einsum("ock,c->ok", weight, x_bias)], dim=1)
            in_channels = 2
        gamma, beta = film_affine(layer.film, cond, channels, weight)
        z_scale = -gamma  # z_film = -gamma*q + beta
        w = final_weight[l * channels:(l + 1) * channels]
        constant = constant + (w * beta).sum()
        mix = None
        if l < len(layers) - 1:
            residual = layer.residual if wavenet else layer.mix
            mix_weight = residual.weight.detach()[:, :, 0]
            mix_bias = residual.bias.detach() if residual.bias is not None else zeros
            mix_bias = mix_bias + mix_weight @ beta + (x_bias if l == 0 else zeros)
            mix = torch.cat([mix_bias[:, None], mix_weight * z_scale[None, :]], dim=1).contiguous()
        folded.append(FoldedGatedLayer(tap_major(weight) * gate_scale[:, None], bias * gate_scale,
                                       conv.kernel_size[0], conv.dilation[0], in_channels,
                                       (w * z_scale).contiguous(), mix))
    return FoldedGatedStack(folded, channels, x_weight.contiguous(), constant, wavenet)


class GatedStackPlan(FusedPlan):
    """WaveNet / GCN (:func:`fold_gated_stack`) in torch operators: the path for dtypes other
    than float32, or without numba (float32 runs :class:`CompiledGatedStackPlan`).

    With u = sigmoid(2 h_a) and g = sigmoid(h_b), q = (1 - 2u) g: one in-place sigmoid over
    both halves and one ``addcmul`` give q = g - 2ug over u. The output's running sum
    s_l = sum_{i<l} w_i . q_i rides as an extra row of each layer's input history, so a layer's
    residual mix and its share of the output mix are one (C+1, 1+C) matrix product, written
    straight into the next layer's history: [x_{l+1}; s_{l+1}] = [x_l; s_l] + [[m_l, M_l];
    [0, w_l]] @ [1; q_l]. The last layer only adds its share to the output; the constant c rides
    on its row of ones. Every layer reuses one small gate buffer, laid out [x | 1 | u (then q) | g].
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        stack = fold_gated_stack(model, cond)
        self.channels = channels = stack.channels
        dtype = stack.x_weight.dtype
        self.inputs, self.mixes = [], []
        for l, layer in enumerate(stack.layers):
            self.inputs.append(ConvInput(layer.in_channels, layer.kernel_size, layer.dilation, layer.weight,
                                         layer.bias, max_block, ring_channels=None if l == 0 else channels + 1))
            skip_row = torch.cat([torch.zeros(1, dtype=dtype), layer.skip])[None, :]  # (1, 1+C)
            if layer.mix is None:
                skip_row[0, 0] = stack.constant  # the output's constant rides on the last ones row
                self.out_weight = skip_row
                break
            rows = torch.cat([layer.mix, skip_row])
            if l == 0:  # a leading column for the input row: the residual is [x | 1 | q]
                rows = torch.cat([torch.cat([stack.x_weight, torch.zeros(1, dtype=dtype)])[:, None], rows], dim=1)
            self.mixes.append(rows.contiguous())  # (C+1, [1 +] 1 + C)
        self.allocate(max_block)

    def workspace_sizes(self) -> dict[str, int]:
        return {"columns": max(c.columns for c in self.inputs),
                "gate": 2 * self.channels + 2,
                "scratch": self.channels + 1}

    def make_views(self, n: int) -> dict:
        c = self.channels
        gate = self.workspace.matrix("gate", 2 * c + 2, n)  # rows: x, ones, u (then q), g
        scratch = self.workspace.matrix("scratch", c + 1, n)
        # The first layer's input: x, or [x; v] with v = 1 (the ones row below x).
        views: dict = {"x": gate[0:1], "input": gate[:self.inputs[0].in_channels], "ones": [gate[1]],
                       "scratch": scratch, "layers": []}
        for l, conv in enumerate(self.inputs):
            columns, taps = conv.columns_view(self.workspace, n)
            views["ones"].append(columns[0])
            if l + 1 < len(self.inputs):
                mix, following = self.mixes[l], self.inputs[l + 1].ring
            else:
                mix, following = self.out_weight, None
            rhs = gate[0 if mix.shape[1] == c + 2 else 1:c + 2]  # [x |] 1 | q
            views["layers"].append((conv.ring, conv.kernel_size, conv.dilation, conv.in_channels, taps,
                                    conv.weight, columns, mix, rhs, following))
        views["hidden"], views["u"], views["g"] = gate[2:], gate[2:c + 2], gate[c + 2:]
        return views

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        v = self.views(n)
        scratch = v["scratch"]
        v["x"].copy_(x)
        self.inputs[0].ring.write(v["input"])
        base = None  # the first residual comes from the x row of the gate buffer
        hidden, u, g = v["hidden"], v["u"], v["g"]
        mm, addmm, addcmul = torch.mm, torch.addmm, torch.addcmul
        for ring, k, d, c_in, taps, weight, columns, mix, rhs, following in v["layers"]:
            taps.copy_(ring.taps(k, d, n, c_in))
            mm(weight, columns, out=hidden)
            hidden.sigmoid_()
            addcmul(g, u, g, value=-2.0, out=u)  # q = g - 2ug = -z, over u
            if following is None:  # the last layer: its share of the output
                break
            target = following.write_target(n)
            if target is None:  # the block wraps around the end of a ring
                base = self.emit(following, n, base, mix, rhs, scratch)
                continue
            if base is None:  # the first layer: its residual is the x row of rhs
                mm(mix, rhs, out=target)
            else:
                addmm(base, mix, rhs, out=target)
            following.commit(target, n)
            base = target
        if base is None:  # a one-layer stack
            return mm(mix, rhs)
        return addmm(base[self.channels:], mix, rhs)


class CompiledPlan:
    """Frame of the compiled plans (:mod:`springstudy.conv_kernels`): per layer a plain ring
    (rows, history + max_block) in one flat float32 array, its write position, the folded
    weights in one flat ``params`` array, and a ``meta`` table of offsets the kernel reads.
    Subclasses fill ``meta`` (kernel, dilation, ring rows and their parameter offsets), the
    history lengths, ``work_rows`` (rows of the work buffer at the longest block) and ``kernel_args``.
    """

    meta: Any
    params: Any
    history_lengths: list[int]
    work_rows: int

    def pack(self, layer: int, parts: dict[int, torch.Tensor], pieces: list[torch.Tensor], offset: int) -> int:
        """Append each tensor of ``parts`` to ``pieces`` and record its offset in ``meta[layer]``."""
        for field, values in parts.items():
            flat = values.detach().reshape(-1).to(torch.float32)
            self.meta[layer, field] = offset
            pieces.append(flat)
            offset += flat.numel()
        return offset

    def allocate(self, max_block: int, keep: bool = False) -> None:
        """Rings and work for blocks up to ``max_block``; ``keep`` carries the histories over."""
        import numpy as np

        from springstudy import conv_kernels as kernels

        old = self.rings_by_layer() if keep else None
        self.max_block = max_block
        rows = [int(m[kernels.ROWS]) for m in self.meta]
        sizes = [r * (history + max_block) for r, history in zip(rows, self.history_lengths)]
        self.meta[:, kernels.LENGTH] = [history + max_block for history in self.history_lengths]
        self.meta[:, kernels.RING] = np.cumsum([0] + sizes[:-1])
        self.rings = np.zeros(sum(sizes), dtype=np.float32)
        self.positions = np.zeros(len(self.history_lengths), dtype=np.int64)
        self.work = np.zeros(self.work_rows * kernels.row_stride.py_func(max_block), dtype=np.float32)
        if old is not None:  # the last `history` samples of each ring, oldest first
            new = self.rings_by_layer()
            for l, (ring, position) in enumerate(old):
                history = self.history_lengths[l]
                if history:
                    new[l][0][:, :history] = ring[:, (position - history + np.arange(history)) % ring.shape[1]]
                self.positions[l] = history

    def rings_by_layer(self) -> list[tuple[Any, int]]:
        """(ring (rows, L) view, write position) per layer."""
        from springstudy import conv_kernels as kernels

        return [(self.rings[m[kernels.RING]:m[kernels.RING] + m[kernels.ROWS] * m[kernels.LENGTH]]
                 .reshape(int(m[kernels.ROWS]), int(m[kernels.LENGTH])), int(p))
                for m, p in zip(self.meta, self.positions)]

    def reset(self) -> None:
        self.rings.fill(0.0)
        self.positions.fill(0)

    def kernel_args(self) -> tuple:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        if n > self.max_block:
            self.allocate(max(n, 2 * self.max_block), keep=True)
        out = torch.empty(1, n, dtype=torch.float32)
        self.kernel(x.reshape(n).contiguous().numpy(), out.numpy()[0], self.rings, self.positions,
                    self.params, self.meta, self.work, *self.kernel_args())
        return out


class CompiledGatedStackPlan(CompiledPlan):
    """WaveNet / GCN in float32, one compiled call per block
    (:func:`springstudy.conv_kernels.gated_stack_block`) on the folded stack of
    :func:`fold_gated_stack`: per layer, the kernel gathers the taps, runs the convolution as a
    register-tiled product, the gate, the layer's share of the output and its residual mix,
    and writes the next layer's input into its ring. The output's running sum and the
    residual's base (the newest tap) never leave the work buffer.
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        import numpy as np

        from springstudy import conv_kernels as kernels

        stack = fold_gated_stack(model, cond)
        if stack.x_weight.dtype != torch.float32:
            raise TypeError("the compiled gated stack runs float32 models")
        self.kernel, self.channels, self.wavenet = kernels.gated_stack_block, stack.channels, stack.wavenet
        last = len(stack.layers) - 1
        pieces: list[torch.Tensor] = []
        offset = 0
        self.meta = np.zeros((len(stack.layers), kernels.G_FIELDS), dtype=np.int64)
        for l, layer in enumerate(stack.layers):
            skip = torch.cat([(stack.constant if l == last else torch.zeros(())).reshape(1), layer.skip])
            parts = {kernels.G_WEIGHT: layer.weight, kernels.G_BIAS: layer.bias, kernels.G_SKIP: skip}
            if layer.mix is not None:  # the first layer's x weights follow its mix
                parts[kernels.G_MIX] = torch.cat([layer.mix.reshape(-1), stack.x_weight]) if l == 0 else layer.mix
            offset = self.pack(l, parts, pieces, offset)
            self.meta[l, [kernels.KERNEL, kernels.DILATION, kernels.ROWS]] = (
                layer.kernel_size, layer.dilation, layer.in_channels)
        self.params = torch.cat(pieces).numpy().copy()
        self.history_lengths = [(layer.kernel_size - 1) * layer.dilation for layer in stack.layers]
        self.work_rows = max(int(m[kernels.KERNEL] * m[kernels.ROWS]) for m in self.meta) + 3 * self.channels + 1
        self.allocate(max_block)

    def kernel_args(self) -> tuple:
        return self.channels, self.wavenet


class CompiledTCNPlan(CompiledPlan):
    """A float32 TCN (:func:`fold_tcn`) in one compiled call per block
    (:func:`springstudy.conv_kernels.tcn_block`): per block the taps' gather, the folded
    convolution as a register-tiled product, PReLU and the 1x1 residual of the newest tap. A
    one-channel last block with fewer taps than input channels (every named TCN's) keeps k + 1
    projections of its input, as :class:`ProjectedOutput` does.
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        import numpy as np

        from springstudy import conv_kernels as kernels

        blocks = fold_tcn(model, cond)
        if blocks[0].weight.dtype != torch.float32:
            raise TypeError("the compiled TCN runs float32 models")
        self.kernel, self.projected = kernels.tcn_block, blocks[-1].projected
        self.meta = np.zeros((len(blocks), kernels.T_FIELDS), dtype=np.int64)
        pieces: list[torch.Tensor] = []
        offset, work_rows = 0, 0
        for i, block in enumerate(blocks):
            alpha = block.alpha.expand(block.out_channels) if block.alpha.numel() == 1 else block.alpha
            parts = {kernels.T_BIAS: block.bias, kernels.T_ALPHA: alpha}
            if block.projected:  # the previous block projects into this one's ring
                parts[kernels.T_WEIGHT] = torch.cat([block.weight.reshape(block.kernel_size, -1), block.residual])
                rows = block.kernel_size + 1
                work_rows += rows
            else:
                parts[kernels.T_WEIGHT], parts[kernels.T_RESIDUAL] = block.weight, block.residual
                rows = block.in_channels
            offset = self.pack(i, parts, pieces, offset)
            self.meta[i, [kernels.KERNEL, kernels.DILATION, kernels.ROWS, kernels.T_OUT, kernels.T_PROJECTED]] = (
                block.kernel_size, block.dilation, rows, block.out_channels, int(block.projected))
        self.params = torch.cat(pieces).numpy().copy()
        self.history_lengths = [(block.kernel_size - 1) * block.dilation for block in blocks]
        plain = [b for b in blocks if not b.projected]
        self.work_rows = work_rows + max(b.kernel_size * b.in_channels for b in plain) + max(
            b.out_channels for b in blocks)
        self.allocate(max_block)

    def kernel_args(self) -> tuple:
        return ()


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
