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

import math
from typing import Optional

import torch
from torch import nn

from springstudy.models.base import INFINITE_RECEPTIVE_FIELD, SpringModel
from springstudy.models.causal import CausalConv1d
from springstudy.models.film import FiLM

RECURRENT_CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentReadout(SpringModel):
    """What the recurrent models share after their recurrence: a linear readout of the hidden
    states (B, T, H) and an optional linear skip from the input (``lin``, ``res``, set by the
    subclass), and an unbounded receptive field."""

    def readout(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Output (B, 1, T) from hidden states h (B, T, H) and input x (B, 1, T)."""
        y = self.lin(h)
        if self.res is not None:
            y = y + self.res(x.transpose(1, 2))
        return y.transpose(1, 2)

    @property
    def receptive_field(self) -> float:
        return INFINITE_RECEPTIVE_FIELD


class RecurrentNet(RecurrentReadout):
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
        return self.readout(h, x)


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


# --- modal initialisation and least-squares readout -------------------------------------------

#: Lowest resonance of :func:`modal_init_` (Hz).
MODAL_F_MIN = 50.0
#: Highest resonance as a share of the sample rate: the oscillator's forget gate is r·cos(ω),
#: which must stay positive, so ω < π/2 (a quarter of the rate); 0.2 keeps a margin.
MODAL_F_MAX_RATIO = 0.2


def modal_init_(model: RecurrentNet, sample_rate: int, periods: float = 5.0, input_gain: float = 1.0,
                f_min: float = MODAL_F_MIN, f_max_ratio: float = MODAL_F_MAX_RATIO) -> RecurrentNet:
    """Start an LSTM as a bank of damped oscillators (a modal filter bank), in place.

    With constant gates (their input and recurrent weights zero) and small signals (tanh ≈ its
    argument) an LSTM layer is the linear system ``c_t = (f + i·o·U) c_{t-1} + i·W x_t``. Units
    2k and 2k+1 get ``U = s·[[0, -1], [1, 0]]``, ``f = r cos ω`` and ``i·o·s = r sin ω``, so the
    pair's poles sit at ``r·e^{±jω}``: a resonator at ``ω`` whose envelope falls by 1/e in
    ``periods`` periods (``r = exp(-f / (periods·rate))``). Resonances are log-spaced from
    ``f_min`` to ``f_max_ratio``·rate. The input drives the first unit of each pair with gain
    ``input_gain·(1 - r)``: a unit sine at a resonator's frequency swings its state by about
    ``input_gain``/4, inside tanh's near-linear range. For a one-layer LSTM without a
    convolutional front end. From torch's default start, gradient descent on notes
    finds no oscillation in the quick budget (README, "Recurrent models: the modal start").
    """
    if model.cell != "lstm" or model.features is not None:
        raise ValueError(f"modal_init_ needs an LSTM without a convolutional front end, not {type(model).__name__} "
                         f"(cell {model.cell!r}, conv_kernel_size {model.conv_kernel_size})")
    if model.num_layers != 1:
        raise ValueError(f"modal_init_ starts a one-layer LSTM; this one has {model.num_layers} layers, whose "
                         "upper layers would scramble the bank before the readout")
    if model.hidden_size < 2:
        raise ValueError("modal_init_ needs at least 2 hidden units (one oscillator)")
    if not 0 < f_max_ratio < 0.25 or not 0 < f_min < f_max_ratio * sample_rate or periods <= 0:
        raise ValueError(f"modal_init_: need 0 < f_min < f_max_ratio·rate < rate/4 and periods > 0 "
                         f"(f_min {f_min}, f_max_ratio {f_max_ratio}, rate {sample_rate}, periods {periods})")
    hidden, rnn = model.hidden_size, model.rnn
    pairs = hidden // 2
    freqs = torch.exp(torch.linspace(math.log(f_min), math.log(f_max_ratio * sample_rate), pairs,
                                     dtype=torch.float64))
    omega = 2 * math.pi * freqs / sample_rate
    radius = torch.exp(-freqs / (periods * sample_rate))
    in_gate = 0.5                                  # i = σ(0)
    out_gate = torch.sigmoid(torch.tensor(4.0, dtype=torch.float64))
    forget = (radius * torch.cos(omega)).clamp(1e-6, 1 - 1e-9)
    coupling = radius * torch.sin(omega) / (in_gate * out_gate)
    w_ih, w_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
    b_ih, b_hh = rnn.bias_ih_l0, rnn.bias_hh_l0
    i_rows, f_rows, g_rows, o_rows = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
    with torch.no_grad():
        w_ih.zero_()
        w_hh.zero_()
        b_hh.zero_()
        b_ih.zero_()
        b_ih[o_rows] = 4.0
        forget_bias = torch.full((hidden,), -20.0, dtype=torch.float64)   # an unpaired last unit forgets at once
        first, second = torch.arange(pairs) * 2, torch.arange(pairs) * 2 + 1
        forget_bias[first] = torch.logit(forget)
        forget_bias[second] = torch.logit(forget)
        b_ih[f_rows] = forget_bias.to(b_ih.dtype)
        g = w_hh[g_rows]
        g[first, second] = (-coupling).to(g.dtype)
        g[second, first] = coupling.to(g.dtype)
        w_ih[g_rows][first, 0] = (input_gain * (1 - radius)).to(w_ih.dtype)
    return model


def hidden_states(model: RecurrentNet, dry: torch.Tensor) -> torch.Tensor:
    """The readout's input for ``dry`` (B, 1, T): the last layer's states (B, T, H), with the
    dry sample appended as a last column when the model has a linear skip."""
    if model.film is not None:
        raise ValueError("hidden_states: a conditioned (FiLM) model's readout depends on its controls")
    features = dry if model.features is None else model.features(dry)
    h, _ = model.rnn(features.transpose(1, 2))
    if model.res is not None:
        h = torch.cat([h, dry.transpose(1, 2)], dim=2)
    return h


def fit_readout_(model: RecurrentNet, dry: torch.Tensor, wet: torch.Tensor, batch: int = 8,
                 ridge: float = 1e-6) -> float:
    """Set the output layer (and linear skip) to the least-squares fit of ``wet`` on the
    recurrent states driven by ``dry`` (both (N, 1, T)); returns the fit's training ESR.

    The recurrent weights stay as they are: this is the best readout of the states the model
    has, solved from the normal equations in float64 (``ridge`` × their mean diagonal added),
    accumulated ``batch`` items at a time so that no (N·T, H) matrix is held.
    """
    if dry.shape != wet.shape or dry.dim() != 3 or dry.shape[1] != 1:
        raise ValueError(f"fit_readout_: dry and wet must both be (N, 1, T), got {tuple(dry.shape)} and {tuple(wet.shape)}")
    was_training = model.training
    model.eval()
    gram = rhs = None
    target_energy = 0.0
    with torch.no_grad():
        for start in range(0, dry.shape[0], batch):
            h = hidden_states(model, dry[start:start + batch]).double()
            h = torch.cat([h, torch.ones_like(h[..., :1])], dim=2).reshape(-1, h.shape[-1] + 1)
            y = wet[start:start + batch].double().reshape(-1, 1)
            gram = h.T @ h if gram is None else gram + h.T @ h
            rhs = h.T @ y if rhs is None else rhs + h.T @ y
            target_energy += float(y.pow(2).sum())
    assert gram is not None and rhs is not None
    load = ridge * float(gram.diagonal().mean()) + 1e-300
    solution = torch.linalg.solve(gram + load * torch.eye(gram.shape[0], dtype=gram.dtype), rhs)[:, 0]
    residual = target_energy - 2 * float(solution @ rhs[:, 0]) + float(solution @ gram @ solution)
    hidden = model.hidden_size
    with torch.no_grad():
        model.lin.weight.copy_(solution[:hidden].reshape(1, hidden))
        model.lin.bias.fill_(float(solution[-1]))
        if model.res is not None:
            model.res.weight.fill_(float(solution[hidden]))
            model.res.bias.zero_()
    model.train(was_training)
    return residual / max(target_energy, 1e-300)
