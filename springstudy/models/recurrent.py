"""Recurrent models: LSTM, LSTM-cs and GRU (thesis §3.1.4, Fig. 7).

- LSTM (Fig. 7a): an LSTM over the samples, a linear layer from the hidden state to the
  output, and an optional linear 1 -> 1 skip from the input (Wright et al., "Real-time guitar
  amplifier emulation with deep learning", Appl. Sci. 2020; the thesis's [8] and [33]).
- LSTM-cs, "LstmConvSkip" (Fig. 7b): a causal Conv1d feature extractor 1 -> H with BatchNorm
  in front of the LSTM, and the linear skip (after Martínez Ramírez et al. CRAFx/CSAFx, [19]).
- GRU: the same shapes with a GRU cell (§3.1 names GRU among the recurrent candidates).

Corrections to the thesis code: ``num_layers`` is honoured (the thesis's LSTM always built one layer)
and the feature extractor pads on the left only (the thesis padded kernel//2 on both sides).
A recurrent model's receptive field is unbounded (``math.inf``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.models.base import INFINITE_RECEPTIVE_FIELD, SpringModel
from springstudy.models.causal import CausalConv1d
from springstudy.models.film import FiLM

RECURRENT_CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentNet(SpringModel):
    """[causal conv + BatchNorm] -> LSTM/GRU -> [FiLM] -> linear, [+ linear skip].

    ``conv_kernel_size=0`` leaves out the convolutional feature extractor (plain LSTM/GRU).
    ``dropout`` acts between stacked recurrent layers during training only.
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 96, num_layers: int = 1,
                 conv_kernel_size: int = 0, skip: bool = False, dropout: float = 0.0,
                 cond_dim: int = 0) -> None:
        super().__init__()
        if cell not in RECURRENT_CELLS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_CELLS)}, not {cell!r}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.conv_kernel_size, self.cond_dim = conv_kernel_size, cond_dim
        if conv_kernel_size > 0:
            self.features = nn.Sequential(CausalConv1d(1, hidden_size, conv_kernel_size),
                                          nn.BatchNorm1d(hidden_size))
            rnn_input = hidden_size
        else:
            self.features = None
            rnn_input = 1
        self.rnn = RECURRENT_CELLS[cell](rnn_input, hidden_size, num_layers=num_layers,
                                         batch_first=True,
                                         dropout=dropout if num_layers > 1 else 0.0)
        self.film = FiLM(cond_dim, hidden_size) if cond_dim > 0 else None
        self.lin = nn.Linear(hidden_size, 1)
        self.res = nn.Linear(1, 1) if skip else None

    def forward(self, x: torch.Tensor, cond: Optional[torch.Tensor] = None) -> torch.Tensor:
        features = x if self.features is None else self.features(x)
        h, _ = self.rnn(features.transpose(1, 2))  # (B, T, H): batch-first sequence
        if self.film is not None:
            assert cond is not None, "this model is conditioned: pass cond"
            h = self.film(h.transpose(1, 2), cond).transpose(1, 2)
        y = self.lin(h)
        if self.res is not None:
            y = y + self.res(x.transpose(1, 2))
        return y.transpose(1, 2)

    @property
    def receptive_field(self) -> float:
        return INFINITE_RECEPTIVE_FIELD


class LSTM(RecurrentNet):
    """LSTM with optional linear skip (thesis §3.1.4, Fig. 7a)."""

    def __init__(self, hidden_size: int = 96, num_layers: int = 1, skip: bool = False,
                 dropout: float = 0.0, cond_dim: int = 0) -> None:
        super().__init__("lstm", hidden_size, num_layers, 0, skip, dropout, cond_dim)


class LSTMConvSkip(RecurrentNet):
    """LSTM-cs: causal conv + BatchNorm + LSTM + linear skip (thesis §3.1.4, Fig. 7b)."""

    def __init__(self, hidden_size: int = 32, num_layers: int = 1, conv_kernel_size: int = 3,
                 skip: bool = True, dropout: float = 0.0, cond_dim: int = 0) -> None:
        super().__init__("lstm", hidden_size, num_layers, conv_kernel_size, skip, dropout,
                         cond_dim)


class GRU(RecurrentNet):
    """GRU with optional conv front end and linear skip, shaped like the LSTM (§3.1)."""

    def __init__(self, hidden_size: int = 96, num_layers: int = 1, conv_kernel_size: int = 0,
                 skip: bool = False, dropout: float = 0.0, cond_dim: int = 0) -> None:
        super().__init__("gru", hidden_size, num_layers, conv_kernel_size, skip, dropout,
                         cond_dim)
