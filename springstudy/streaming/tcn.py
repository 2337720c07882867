"""The fused TCN: blocks folded (BatchNorm, FiLM) into their convolutions, in torch operators or one compiled call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from springstudy.streaming.compiled import CompiledPlan
from springstudy.streaming.fused import (ConvInput, FusedPlan, ProjectedOutput, batch_norm_affine,
                                         film_affine, tap_major)


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
