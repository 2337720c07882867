"""Gated Convolutional Network (thesis §3.1.3).

After Comunità, Steinmetz, Phan & Reiss, "Modelling black-box audio effects with time-varying
feature modulation" (ICASSP 2023; the GCN of their ``gcntf`` code), as in the thesis-era code:
``num_blocks`` blocks of ``num_layers`` gated layers. Each layer is a dilated causal conv
C_in -> 2C split into tanh * sigmoid (the gate), then a 1x1 mix C -> C and a residual add of
the layer input. The dilation is ``dilation_growth ** l`` for layer l of a block and resets at
each block. The gated outputs of all layers are stored and mixed to one channel by a 1x1 conv.

Two details kept from the original so that the parameter counts match the thesis:
the first layer takes the 1-channel input directly, and its residual add broadcasts that one
channel over the C channels; and the 1x1 mix of the very last layer feeds nothing (only the
gated outputs reach the final mix), so its C*C + C parameters are counted but get no gradient.
Correction to the thesis code: padding is on the left only.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.models.base import SpringModel
from springstudy.models.causal import CausalConv1d, LayerMix, PointwiseConv1d, receptive_field
from springstudy.models.film import FiLM
from springstudy.models.gate import gated_tanh_sigmoid


def gcn_dilations(num_blocks: int, num_layers: int, dilation_growth: int) -> list[int]:
    """Dilation of each gated layer: ``growth ** l`` within a block, reset at each block."""
    return [dilation_growth ** l for _ in range(num_blocks) for l in range(num_layers)]


def gcn_receptive_field(num_blocks: int, num_layers: int, kernel_size: int,
                        dilation_growth: int) -> int:
    """True receptive field of the GCN in samples: ``1 + (k-1) * sum(d)``."""
    dilations = gcn_dilations(num_blocks, num_layers, dilation_growth)
    return receptive_field([kernel_size] * len(dilations), dilations)


class GatedConv1d(nn.Module):
    """Gated dilated causal conv (tanh * sigmoid), optional FiLM, 1x1 mix, residual add.

    Returns the layer output (input of the next layer) and the gated activation (to the mix).
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, dilation: int,
                 cond_dim: int = 0) -> None:
        super().__init__()
        self.channels = channels
        self.conv = CausalConv1d(in_channels, 2 * channels, kernel_size, dilation)
        self.film = FiLM(cond_dim, channels) if cond_dim > 0 else None
        self.mix = PointwiseConv1d(channels, channels)

    def forward(self, x: torch.Tensor,
                cond: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        z = gated_tanh_sigmoid(y, self.channels)
        if self.film is not None:
            assert cond is not None, "this model is conditioned: pass cond"
            z = self.film(z, cond)
        # A 1-channel input (first layer) broadcasts over the C channels, as in gcntf.
        return self.mix(z) + x, z


class GCN(SpringModel):
    """Gated Convolutional Network (thesis §3.1.3): (B, 1, T) -> (B, 1, T)."""

    def __init__(self, num_blocks: int = 1, num_layers: int = 10, channels: int = 16,
                 kernel_size: int = 5, dilation_growth: int = 3, cond_dim: int = 0) -> None:
        super().__init__()
        self.num_blocks, self.num_layers, self.channels = num_blocks, num_layers, channels
        self.kernel_size, self.dilation_growth, self.cond_dim = kernel_size, dilation_growth, cond_dim
        self.dilations = gcn_dilations(num_blocks, num_layers, dilation_growth)
        self.layers = nn.ModuleList([
            GatedConv1d(1 if i == 0 else channels, channels, kernel_size, d, cond_dim)
            for i, d in enumerate(self.dilations)])
        self.mix = LayerMix(channels * len(self.dilations), 1)

    def forward(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        z_storage = []
        for layer in self.layers:
            x, z = layer(x, cond)
            z_storage.append(z)
        return self.mix(z_storage)

    @property
    def receptive_field(self) -> int:
        return gcn_receptive_field(self.num_blocks, self.num_layers, self.kernel_size,
                                   self.dilation_growth)
