"""Feed-forward WaveNet (thesis §3.1.2).

The non-autoregressive WaveNet of Damskägg et al., "Deep learning for tube amplifier emulation"
(ICASSP 2019) and Wright et al., "Real-time guitar amplifier emulation with deep learning"
(Appl. Sci. 2020), as in the thesis-era code: a 1x1 input projection 1 -> C, then per layer a
dilated causal gated convolution C -> 2C (tanh * sigmoid) and a 1x1 residual C -> C; dilations
``2**0 .. 2**(dilation_depth-1)`` repeated ``num_repeat`` times; the gated outputs of all layers
are concatenated and mixed to one channel by a 1x1 "linear mix".

Correction to the thesis code: the receptive field is ``1 + (k-1) * sum(d)``; the thesis summed k*d.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.models.base import SpringModel
from springstudy.models.causal import CausalConv1d, LayerMix, PointwiseConv1d, receptive_field
from springstudy.models.film import FiLM
from springstudy.models.gate import gated_tanh_sigmoid


def wavenet_dilations(dilation_depth: int, num_repeat: int) -> list[int]:
    """Dilations of the WaveNet layers: ``[1, 2, ..., 2**(depth-1)] * num_repeat``."""
    return [2 ** d for d in range(dilation_depth)] * num_repeat


def wavenet_receptive_field(dilation_depth: int, num_repeat: int, kernel_size: int) -> int:
    """True receptive field of the WaveNet in samples: ``1 + (k-1) * sum(d)``."""
    dilations = wavenet_dilations(dilation_depth, num_repeat)
    return receptive_field([kernel_size] * len(dilations), dilations)


class WaveNetLayer(nn.Module):
    """Gated dilated causal conv (tanh * sigmoid), optional FiLM, 1x1 residual.

    Returns the layer output (input of the next layer) and the gated activation (to the mix).
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.channels = channels
        self.hidden = CausalConv1d(channels, 2 * channels, kernel_size, dilation)
        self.film = FiLM(cond_dim, channels) if cond_dim > 0 else None
        self.residual = PointwiseConv1d(channels, channels)

    def forward(self, x: torch.Tensor,
                cond: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(x)
        z = gated_tanh_sigmoid(h, self.channels)
        if self.film is not None:
            assert cond is not None, "this model is conditioned: pass cond"
            z = self.film(z, cond)
        return self.residual(z) + x, z


class WaveNet(SpringModel):
    """Feed-forward WaveNet (thesis §3.1.2): (B, 1, T) -> (B, 1, T)."""

    def __init__(self, dilation_depth: int = 10, num_repeat: int = 1, channels: int = 16,
                 kernel_size: int = 3, cond_dim: int = 0) -> None:
        super().__init__()
        self.dilation_depth, self.num_repeat = dilation_depth, num_repeat
        self.channels, self.kernel_size, self.cond_dim = channels, kernel_size, cond_dim
        self.dilations = wavenet_dilations(dilation_depth, num_repeat)
        self.input_layer = PointwiseConv1d(1, channels)
        self.layers = nn.ModuleList(
            [WaveNetLayer(channels, kernel_size, d, cond_dim) for d in self.dilations])
        self.linear_mix = LayerMix(channels * len(self.dilations), 1)

    def forward(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.input_layer(x)
        gated = []
        for layer in self.layers:
            x, z = layer(x, cond)
            gated.append(z)
        return self.linear_mix(gated)

    @property
    def receptive_field(self) -> int:
        return wavenet_receptive_field(self.dilation_depth, self.num_repeat, self.kernel_size)
