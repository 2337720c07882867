"""Causal convolution and the true receptive field of a convolution stack.

Every convolution in springstudy's models is strictly causal: it pads on the left only, so the
output at time t depends on inputs at times <= t. (The thesis's public code padded some
"causal" layers symmetrically, i.e. they looked ahead: a known error of the thesis code.)

The receptive field of a stack of stride-1 convolutions with kernel sizes k_i and dilations d_i
is R = 1 + sum_i (k_i - 1) * d_i samples (thesis §2.3, the receptive-field equation; van den Oord
et al. 2016). The thesis's WaveNet summed k*d instead, and its TCN never applied the dilation.
"""

from __future__ import annotations

from collections.abc import Iterable

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
        return self._conv_forward(F.pad(x, (self.history_length, 0)), self.weight, self.bias)
