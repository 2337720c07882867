"""Temporal Convolutional Network (thesis §3.1.1).

After Steinmetz & Reiss, "Efficient neural networks for real-time modeling of analog dynamic
range compression" (micro-TCN, 2022) and "Steerable discovery of neural audio effects" (2021),
as the thesis adapted them: a chain of blocks, each a dilated causal Conv1d (with bias),
BatchNorm, optional FiLM, PReLU, plus a 1x1 residual path. The first block maps 1 -> channels
channels, the last channels -> 1. Block n has dilation ``dilation_growth ** n``.

Corrections to the thesis code (its known errors): the dilation is really applied
(the thesis overwrote it to 1, so its receptive fields were a few dozen samples), the padding
is on the left only (the thesis padded symmetrically, i.e. looked ahead), and BatchNorm is
present as §3.1.1 and Fig. 4 describe (the thesis-era code had none).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.models.base import SpringModel
from springstudy.models.causal import CausalConv1d, PointwiseConv1d, receptive_field
from springstudy.models.film import FiLM


def tcn_dilations(num_blocks: int, dilation_growth: int) -> list[int]:
    """Dilation of each TCN block: ``dilation_growth ** n`` for n = 0 .. num_blocks-1."""
    return [dilation_growth ** n for n in range(num_blocks)]


def tcn_receptive_field(num_blocks: int, kernel_size: int, dilation_growth: int) -> int:
    """True receptive field of the TCN in samples: ``1 + (k-1) * sum_n growth**n``."""
    return receptive_field([kernel_size] * num_blocks, tcn_dilations(num_blocks, dilation_growth))


class TCNBlock(nn.Module):
    """Causal conv -> BatchNorm -> FiLM (optional) -> PReLU, plus a 1x1 residual of the input."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 cond_dim: int = 0, batch_norm: bool = True) -> None:
        super().__init__()
        self.conv = CausalConv1d(in_channels, out_channels, kernel_size, dilation, bias=True)
        self.bn = nn.BatchNorm1d(out_channels) if batch_norm else nn.Identity()
        self.film = FiLM(cond_dim, out_channels) if cond_dim > 0 else None
        self.act = nn.PReLU()
        # The residual needs a projection because the first and last blocks change channels.
        self.res = PointwiseConv1d(in_channels, out_channels, bias=False)

    def forward(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        y = self.bn(self.conv(x))
        if self.film is not None:
            assert cond is not None, "this model is conditioned: pass cond"
            y = self.film(y, cond)
        return self.act(y) + self.res(x)


class TCN(SpringModel):
    """Temporal Convolutional Network (thesis §3.1.1): (B, 1, T) -> (B, 1, T)."""

    def __init__(self, num_blocks: int = 5, channels: int = 32, kernel_size: int = 9,
                 dilation_growth: int = 10, batch_norm: bool = True, cond_dim: int = 0) -> None:
        super().__init__()
        if num_blocks < 2:
            raise ValueError("a TCN needs at least 2 blocks (first 1->C, last C->1)")
        self.num_blocks, self.channels, self.kernel_size = num_blocks, channels, kernel_size
        self.dilation_growth, self.cond_dim = dilation_growth, cond_dim
        self.dilations = tcn_dilations(num_blocks, dilation_growth)
        blocks = []
        for n, dilation in enumerate(self.dilations):
            in_ch = 1 if n == 0 else channels
            out_ch = 1 if n == num_blocks - 1 else channels
            blocks.append(TCNBlock(in_ch, out_ch, kernel_size, dilation, cond_dim, batch_norm))
        self.blocks = nn.ModuleList(blocks)
        if batch_norm:
            # Zero-gamma init of the output block's BatchNorm (Goyal et al. 2017, "Accurate, large
            # minibatch SGD", §5.1): the model starts as its last 1x1 residual path. With gamma = 1
            # the normalised output starts at unit variance, some 20x the wet's level, and Adam
            # needs hundreds of steps to shrink it: at 48 kHz TCN-1800's ESR rose to 3-15.
            nn.init.zeros_(self.blocks[-1].bn.weight)

    def forward(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, cond)
        return x

    @property
    def receptive_field(self) -> int:
        return tcn_receptive_field(self.num_blocks, self.kernel_size, self.dilation_growth)
