"""The fused path's shared parts: folded constants, preallocated work buffers, the conv input and the plan base class."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.streaming.buffers import MirroredRingBuffer, ShiftingBuffer, history_buffer, regrown


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
