"""Feature-wise Linear Modulation (FiLM) by a conditioning vector.

Perez et al., "FiLM: Visual reasoning with a general conditioning layer", AAAI 2018; used for
audio effects by Steinmetz & Reiss (micro-TCN, steerable-nafx) and cited by the thesis in §3.1.1
(its reference [43]). A linear "adaptor" maps the conditioning vector c (B, cond_dim) to a scale
gamma and a shift beta per channel, applied to features x (B, C, T) as ``gamma * x + beta``.
"""

from __future__ import annotations

import torch
from torch import nn


class FiLM(nn.Module):
    """``y = gamma(c) * x + beta(c)`` per channel; x (B, C, T), c (B, cond_dim) or (B, cond_dim, T)."""

    def __init__(self, cond_dim: int, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.adaptor = nn.Linear(cond_dim, 2 * num_features)
        # Start near the identity (gamma = 1, beta = 0) so an untrained conditioning does not
        # rescale the network.
        with torch.no_grad():
            self.adaptor.bias.copy_(torch.cat([torch.ones(num_features), torch.zeros(num_features)]))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``cond`` (B, cond_dim) modulates every time step alike; (B, cond_dim, T) modulates each
        time step by its own column (a control that moves during the signal)."""
        if cond.dim() == 3:
            gamma, beta = torch.chunk(self.adaptor(cond.transpose(1, 2)).transpose(1, 2), 2, dim=1)
            return gamma * x + beta
        gamma, beta = torch.chunk(self.adaptor(cond), 2, dim=-1)
        return gamma.unsqueeze(-1) * x + beta.unsqueeze(-1)

    @torch.no_grad()
    def set_identity(self) -> None:
        """Make the modulation the identity for every conditioning vector (gamma=1, beta=0)."""
        self.adaptor.weight.zero_()
        self.adaptor.bias.copy_(torch.cat([torch.ones(self.num_features),
                                           torch.zeros(self.num_features)]))
