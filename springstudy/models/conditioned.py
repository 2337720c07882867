"""Models that follow the tank's knobs (decay, tone, dwell, mix: :mod:`springstudy.data.knobs`).

Three ways to feed a model the knob values k (B, K) in [0, 1]^K, or a trajectory (B, K, T) when
the knobs move during the signal:

- **FiLM** (:class:`FiLMNet`), for the convolutional families: a small MLP (the knob encoder)
  maps k to an embedding e, and every FiLM layer of the network (Perez et al. 2018) maps e to a
  per-channel scale and shift of its features. The FiLM layers start as the identity, so an
  untrained conditioning leaves the network as it is.
- **Concatenation** (:class:`KnobGRU`), for the recurrent family: the knobs join the audio
  sample as extra inputs of the GRU at every step.
- **HyperGRU** (:class:`HyperGRU`): a hypernetwork, an MLP from k to every weight and bias of
  a GRU, so the recurrence itself (its poles, its gains) changes with the knobs. The MLP's
  output layer starts with small weights and a bias equal to a plain GRU's initial weights, so
  training starts from an ordinary GRU whatever the knobs.

The named configurations (:data:`CONDITIONED_CONFIGS`) are kept apart from the thesis's
(``springstudy.models.list_models`` does not list them, so the thesis tables and the efficiency
benchmark are unchanged); :func:`springstudy.models.build` and ``get_config`` know both.
Every conditioned model has ``knob_count`` > 0; :func:`apply_model` calls any model with or
without knobs.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.models.base import SpringModel
from springstudy.models.film import FiLM
from springstudy.models.gcn import GCN
from springstudy.models.recurrent import RecurrentReadout
from springstudy.models.tcn import TCN
from springstudy.models.wavenet import WaveNet

#: Knobs a conditioned model takes by default (decay, tone, dwell, mix).
KNOB_COUNT = 4


class KnobEncoder(nn.Module):
    """Knobs (B, K) or (B, K, T) -> embedding (B, E) or (B, E, T): Linear, tanh, Linear."""

    def __init__(self, knobs: int = KNOB_COUNT, hidden: int = 32, embed: int = 16) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(knobs, hidden), nn.Tanh(), nn.Linear(hidden, embed))

    def forward(self, knobs: torch.Tensor) -> torch.Tensor:
        if knobs.dim() == 3:
            return self.layers(knobs.transpose(1, 2)).transpose(1, 2)
        return self.layers(knobs)


#: Convolutional families that take FiLM layers (``cond_dim``).
FILM_FAMILIES: dict[str, type[SpringModel]] = {"TCN": TCN, "WaveNet": WaveNet, "GCN": GCN}


class FiLMNet(SpringModel):
    """A convolutional model of ``family`` whose FiLM layers are fed by a :class:`KnobEncoder`."""

    def __init__(self, family: str = "GCN", knobs: int = KNOB_COUNT, embed: int = 16, encoder_hidden: int = 32,
                 **kwargs: object) -> None:
        super().__init__()
        if family not in FILM_FAMILIES:
            raise ValueError(f"FiLM conditioning needs a convolutional family ({', '.join(FILM_FAMILIES)}), "
                             f"not {family!r}")
        self.family, self.knob_count = family, knobs
        self.encoder = KnobEncoder(knobs, encoder_hidden, embed)
        self.net = FILM_FAMILIES[family](cond_dim=embed, **kwargs)
        for film in self.films():
            film.set_identity()                 # an untrained conditioning leaves the network alone

    def films(self) -> list[FiLM]:
        return [m for m in self.net.modules() if isinstance(m, FiLM)]

    def forward(self, x: torch.Tensor, knobs: Optional[torch.Tensor] = None) -> torch.Tensor:
        if knobs is None:
            raise ValueError(f"{self.config_name or 'this model'} follows the knobs: pass them, (B, "
                             f"{self.knob_count}) or (B, {self.knob_count}, T)")
        return self.net(x, self.encoder(knobs))

    @property
    def receptive_field(self) -> int:
        return self.net.receptive_field


def _knob_columns(knobs: torch.Tensor, length: int) -> torch.Tensor:
    """Knobs as (B, K, T): a constant setting repeated, a trajectory checked for its length."""
    if knobs.dim() == 2:
        return knobs.unsqueeze(-1).expand(-1, -1, length)
    if knobs.shape[-1] != length:
        raise ValueError(f"a knob trajectory must be as long as the signal ({length}), not {knobs.shape[-1]}")
    return knobs


class KnobGRU(RecurrentReadout):
    """GRU whose input at every step is [x_t; k_t], a linear readout and a linear skip from x."""

    def __init__(self, hidden_size: int = 32, knobs: int = KNOB_COUNT, skip: bool = True) -> None:
        super().__init__()
        self.hidden_size, self.knob_count = hidden_size, knobs
        self.rnn = nn.GRU(1 + knobs, hidden_size, batch_first=True)
        self.lin = nn.Linear(hidden_size, 1)
        self.res = nn.Linear(1, 1) if skip else None

    def forward(self, x: torch.Tensor, knobs: Optional[torch.Tensor] = None) -> torch.Tensor:
        if knobs is None:
            raise ValueError("KnobGRU follows the knobs: pass them")
        inputs = torch.cat([x, _knob_columns(knobs.to(x.dtype), x.shape[-1])], dim=1)
        h, _ = self.rnn(inputs.transpose(1, 2))
        return self.readout(h, x)


class HyperGRU(RecurrentReadout):
    """A GRU whose weights an MLP generates from the knobs (a hypernetwork), a linear readout and
    a linear skip from x.

    ``run(x, knobs, state)`` returns the output and the final hidden state; a trajectory
    (B, K, T) is split where the knobs change and each stretch runs with its own weights, the
    hidden state carried across, which is how a streaming host runs it block by block. The GRU
    runs as ``torch.gru`` on the generated weights (TorchScript and ONNX export it).
    """

    #: Items run one by one (each with its own weights): an ONNX export takes batch 1.
    per_item = True

    def __init__(self, hidden_size: int = 32, knobs: int = KNOB_COUNT, hyper_hidden: int = 64,
                 skip: bool = True, init_scale: float = 0.01) -> None:
        super().__init__()
        self.hidden_size, self.knob_count = hidden_size, knobs
        template = nn.GRU(1, hidden_size, batch_first=True)
        # Where each of the GRU's four tensors sits in the MLP's output: weight_ih (3H, 1),
        # weight_hh (3H, H), bias_ih (3H), bias_hh (3H), as torch.nn.GRU orders them.
        sizes = [p.numel() for _, p in template.named_parameters()]
        self.splits = sizes
        initial = torch.cat([p.detach().reshape(-1) for _, p in template.named_parameters()])
        self.hyper = nn.Sequential(nn.Linear(knobs, hyper_hidden), nn.Tanh(), nn.Linear(hyper_hidden, initial.numel()))
        with torch.no_grad():
            self.hyper[-1].weight.mul_(init_scale)
            self.hyper[-1].bias.copy_(initial)     # at the start, a plain GRU's initial weights
        self.lin = nn.Linear(hidden_size, 1)
        self.res = nn.Linear(1, 1) if skip else None

    def generated_weights(self, knobs: torch.Tensor) -> list[torch.Tensor]:
        """The GRU's weights for one setting ``knobs`` (K,): [weight_ih (3H, 1), weight_hh (3H, H),
        bias_ih (3H,), bias_hh (3H,)]."""
        w_ih, w_hh, b_ih, b_hh = torch.split(self.hyper(knobs), self.splits)
        return [w_ih.reshape(3 * self.hidden_size, 1), w_hh.reshape(3 * self.hidden_size, self.hidden_size), b_ih, b_hh]

    def run(self, x: torch.Tensor, knobs: torch.Tensor,
            state: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Output (B, 1, T) and final hidden state (1, B, H) from input x (B, 1, T), knobs (B, K)
        or (B, K, T) and the hidden state before x (None: zeros)."""
        batch, length = x.shape[0], x.shape[-1]
        columns = _knob_columns(knobs.to(x.dtype), length)
        outputs: list[torch.Tensor] = []
        finals: list[torch.Tensor] = []
        for b in range(batch):
            if state is None:
                h = torch.zeros(1, 1, self.hidden_size, dtype=x.dtype, device=x.device)
            else:
                h = state[:, b:b + 1].contiguous()
            changed = torch.any(columns[b, :, 1:] != columns[b, :, :-1], dim=0)
            bounds: list[int] = [0]
            change_points: list[int] = torch.nonzero(changed).flatten().tolist()
            for t in change_points:
                bounds.append(t + 1)
            bounds.append(length)
            pieces: list[torch.Tensor] = []
            for i in range(len(bounds) - 1):
                start, end = bounds[i], bounds[i + 1]
                weights = self.generated_weights(columns[b, :, start])
                out, h = torch.gru(x[b:b + 1, :, start:end].transpose(1, 2), h, weights, True, 1, 0.0,
                                   self.training, False, True)
                pieces.append(out)
            outputs.append(torch.cat(pieces, dim=1))
            finals.append(h)
        return self.readout(torch.cat(outputs, dim=0), x), torch.cat(finals, dim=1)

    def forward(self, x: torch.Tensor, knobs: Optional[torch.Tensor] = None) -> torch.Tensor:
        if knobs is None:
            raise ValueError("HyperGRU follows the knobs: pass them")
        return self.run(x, knobs)[0]


def is_conditioned(model: nn.Module) -> bool:
    """Whether ``model`` takes knobs (``knob_count`` > 0)."""
    return int(getattr(model, "knob_count", 0) or 0) > 0


def apply_model(model: nn.Module, x: torch.Tensor, knobs: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``model(x, knobs)`` for a conditioned model, ``model(x)`` for any other (knobs ignored)."""
    if is_conditioned(model):
        if knobs is None:
            raise ValueError(f"{getattr(model, 'config_name', '') or type(model).__name__} follows the knobs, "
                             "but the data has none (render the dataset with knobs)")
        return model(x, knobs.to(x.device))
    return model(x)
