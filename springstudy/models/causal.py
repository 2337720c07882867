"""Causal convolution and the true receptive field of a convolution stack.

Every convolution in springstudy's models is strictly causal: it pads on the left only, so the
output at time t depends on inputs at times <= t. (The thesis's public code padded some
"causal" layers symmetrically, i.e. they looked ahead: a known error of the thesis code.)

The receptive field of a stack of stride-1 convolutions with kernel sizes k_i and dilations d_i
is R = 1 + sum_i (k_i - 1) * d_i samples (thesis §2.3, the receptive-field equation; van den Oord
et al. 2016). The thesis's WaveNet summed k*d instead, and its TCN never applied the dilation.

Training speed on the CPU (``benchmarks/train_throughput.py``): torch's oneDNN convolution runs
a dilated convolution's forward near the matmul rate but its backward 5-10x slower. On the CPU
:func:`causal_conv1d` therefore computes the backward itself, from operations that run at the
matmul rate: the input gradient is a forward convolution of the output gradient (flipped,
transposed kernel, padded on the right) and the weight gradient one batched matrix product per
tap. It also drops the taps that only ever see the zeros before t = 0 (a tap that looks back
further than the sequence is long): TCN-4000's last dilations reach 12 s into a 2 s item.
Both change no number beyond float rounding (tested against ``torch.nn.functional.conv1d``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn


def receptive_field(kernel_sizes: Iterable[int], dilations: Iterable[int]) -> int:
    """True receptive field in samples of a chain of stride-1 causal convolutions.

    ``R = 1 + sum_i (k_i - 1) * d_i`` (thesis §2.3). Layers of kernel 1 add nothing.
    """
    kernel_sizes, dilations = list(kernel_sizes), list(dilations)
    if len(kernel_sizes) != len(dilations):
        raise ValueError("need one dilation per kernel size")
    return 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations))


def _live_taps(kernel_size: int, dilation: int, length: int) -> int:
    """Index of the first tap that sees a sample of a ``length``-long input (later taps all do).

    Tap k of a causal kernel looks ``(kernel_size - 1 - k) * dilation`` samples back; one that
    looks back ``length`` samples or more only ever multiplies the zero history.
    """
    reach = (length - 1) // dilation  # the furthest look-back, in taps, that still meets data
    return max(0, kernel_size - 1 - reach)


def _training_graph(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether autograd records a graph through any of ``tensors`` (the custom backwards' case).

    Everything else (inference, ``torch.func.jvp`` under ``no_grad``) takes plain ops.
    """
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


class _CausalConvFunction(torch.autograd.Function):
    """Causal dilated conv1d with a backward made of matmul-rate operations (see module doc)."""

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilation: int) -> torch.Tensor:
        history = (weight.shape[-1] - 1) * dilation
        return F.conv1d(F.pad(x, (history, 0)), weight, bias, dilation=dilation)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        x, weight, bias, dilation = inputs
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.has_bias = dilation, bias is not None

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        d, k_size, length = ctx.dilation, weight.shape[-1], grad.shape[-1]
        history = (k_size - 1) * d
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # dx[u] = sum_k W_k^T dy[u + (K-1-k) d]: an anti-causal conv with the kernel flipped.
            flipped = weight.transpose(0, 1).flip(-1)
            grad_x = F.conv1d(F.pad(grad, (0, history)), flipped, dilation=d)
        if ctx.needs_input_grad[1]:
            # dW_k = sum_b sum_t dy[t] x[t - s_k]^T, s_k = (K-1-k) d; zero where s_k >= T.
            grad_w = torch.zeros_like(weight)
            grad_t = grad.transpose(1, 2)
            for k in range(k_size):
                shift = (k_size - 1 - k) * d
                if shift < length:
                    part = torch.bmm(x[:, :, : length - shift], grad_t[:, shift:])
                    grad_w[:, :, k] = part.sum(0).t()
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2))
        return grad_x, grad_w, grad_b, None


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
                  dilation: int = 1) -> torch.Tensor:
    """Causal dilated convolution: (B, C_in, T) -> (B, C_out, T), zeros before t = 0.

    Equal to ``F.conv1d(F.pad(x, ((K-1)*dilation, 0)), weight, bias, dilation=dilation)``.
    Taps that only see the zero history are skipped; on the CPU with gradients on, the backward
    is computed by :class:`_CausalConvFunction`.
    """
    if not (torch.jit.is_tracing() or torch.jit.is_scripting()):
        # (Not while traced: the trimmed kernel would bake the example's length into the graph.)
        first = _live_taps(weight.shape[-1], dilation, x.shape[-1])
        if first:
            weight = weight[:, :, first:]
        if x.device.type == "cpu" and _training_graph(x, weight):
            return _CausalConvFunction.apply(x, weight, bias, dilation)
    history = (weight.shape[-1] - 1) * dilation
    return F.conv1d(F.pad(x, (history, 0)), weight, bias, dilation=dilation)


class CausalConv1d(nn.Conv1d):
    """A stride-1 ``Conv1d`` padded on the left only: (B, C_in, T) -> (B, C_out, T).

    The left padding is ``(kernel_size - 1) * dilation`` zeros, which is also the length of the
    history a streaming implementation must keep (``history_length``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 dilation: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=1, padding=0,
                         dilation=dilation, bias=bias)
        self.history_length: int = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Zeros before t = 0: the system starts at rest.
        if not torch.jit.is_scripting():
            return causal_conv1d(x, self.weight, self.bias, self.dilation[0])
        return F.conv1d(F.pad(x, (self.history_length, 0)), self.weight, self.bias,
                        dilation=self.dilation)


def _pointwise(weight: torch.Tensor, x: torch.Tensor,
               bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``weight @ x[b] (+ bias)`` per batch item: (C_out, C_in) x (B, C_in, T) -> (B, C_out, T)."""
    batch = weight.expand(x.shape[0], *weight.shape)
    if bias is None:
        return torch.bmm(batch, x)
    # The bias as the product's initial value: one pass over the output instead of two.
    return torch.baddbmm(bias[:, None].expand(x.shape[0], weight.shape[0], x.shape[-1]), batch, x)


class PointwiseConv1d(nn.Conv1d):
    """A 1x1 ``Conv1d`` (C_in -> C_out per sample) computed as one matrix product.

    Same parameters as ``nn.Conv1d(C_in, C_out, 1)``; torch's CPU convolution runs kernel-1
    layers (and their backward) through a slow generic path, and ``torch.matmul`` of a matrix
    and a batch transposes the batch into a copy; a batched product with the weight expanded
    over the batch does neither.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            return _pointwise(self.weight[:, :, 0], x, self.bias)
        return F.conv1d(x, self.weight, self.bias)


class LayerMix(PointwiseConv1d):
    """The 1x1 mix of a gated stack's per-layer outputs: a list of L (B, C, T) -> (B, C_out, T).

    Same parameters as ``nn.Conv1d(L*C, C_out, 1)`` applied to the layers' concatenation, and
    the same result, but summed per layer (``W_l @ z_l``) so the concatenation is never built.
    """

    def forward(self, parts: List[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        if torch.jit.is_scripting():
            return F.conv1d(torch.cat(parts, dim=1), self.weight, self.bias)
        total = sum(z.shape[1] for z in parts)
        if total != self.in_channels:
            raise ValueError(f"the mix takes {self.in_channels} channels, the layers gave {total}")
        weight = self.weight[:, :, 0]
        if weight.shape[0] == 1 and not torch.jit.is_tracing() and _training_graph(weight, *parts):
            return _MonoMix.apply(weight, self.bias, *parts)
        return _mix(weight, self.bias, parts)


def _mix(weight: torch.Tensor, bias: Optional[torch.Tensor], parts: List[torch.Tensor]) -> torch.Tensor:
    """``sum_l W_l @ z_l (+ bias)``, W_l the columns of ``weight`` that layer l's channels meet."""
    out, start = None, 0
    for z in parts:
        term = _pointwise(weight[:, start:start + z.shape[1]], z)
        out = term if out is None else out.add_(term)
        start += z.shape[1]
    return out if bias is None else out.add_(bias[:, None])


class _MonoMix(torch.autograd.Function):
    """LayerMix to one channel. Autograd would form each layer's input gradient as an outer
    product (a (C x 1)(1 x T) batched matmul, slow); here it is a broadcast multiply."""

    @staticmethod
    def forward(weight: torch.Tensor, bias: Optional[torch.Tensor], *parts: torch.Tensor):
        return _mix(weight, bias, list(parts))

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        weight, bias, *parts = inputs
        ctx.save_for_backward(weight, *parts)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weight, *parts = ctx.saved_tensors
        grads_z, grads_w, start = [], [], 0
        for z in parts:
            w = weight[0, start:start + z.shape[1]]
            grads_z.append(grad * w[:, None])
            grads_w.append(torch.bmm(grad, z.transpose(1, 2)).sum(0))
            start += z.shape[1]
        grad_w = torch.cat(grads_w, dim=1) if ctx.needs_input_grad[0] else None
        grad_b = grad.sum((0, 2)) if ctx.has_bias and ctx.needs_input_grad[1] else None
        return (grad_w, grad_b, *grads_z)
