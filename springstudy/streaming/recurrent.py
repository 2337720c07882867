"""The fused recurrent path: torch's LSTM with its state carried, a compiled GRU recurrence."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from springstudy.streaming.fused import ConvInput, FusedPlan, batch_norm_affine, film_affine, tap_major


class CompiledGRU:
    """A stacked ``nn.GRU`` (eval, batch-first, unidirectional) run by the compiled recurrence
    of :mod:`springstudy.recurrent_kernels`; the input projection of a block is one matrix
    product. Carries the hidden state of every layer."""

    def __init__(self, rnn: nn.GRU) -> None:
        import numpy as np

        from springstudy.recurrent_kernels import gru_steps

        if rnn.bidirectional or not rnn.batch_first or not rnn.bias or getattr(rnn, "proj_size", 0):
            raise TypeError("the compiled GRU handles batch-first, unidirectional GRUs with biases")
        self.kernel, self.hidden = gru_steps, rnn.hidden_size
        self.layers = []
        for l in range(rnn.num_layers):
            w_ih = getattr(rnn, f"weight_ih_l{l}").detach()
            self.layers.append((w_ih.t().contiguous(), getattr(rnn, f"bias_ih_l{l}").detach().reshape(1, -1),
                                np.ascontiguousarray(getattr(rnn, f"weight_hh_l{l}").detach().numpy().T),
                                getattr(rnn, f"bias_hh_l{l}").detach().numpy().copy()))
        self.dtype = np.dtype(str(w_ih.dtype).replace("torch.", ""))
        self.reset()

    def reset(self) -> None:
        import numpy as np

        self.states = [np.zeros(self.hidden, dtype=self.dtype) for _ in self.layers]

    def __call__(self, sequence: torch.Tensor) -> torch.Tensor:
        """(n, in) -> (n, H), continuing from the carried states."""
        import numpy as np

        for (w_ih_t, b_ih, w_hh_t, b_hh), state in zip(self.layers, self.states):
            projected = torch.addmm(b_ih, sequence, w_ih_t).numpy()  # (n, 3H)
            out = np.empty((projected.shape[0], self.hidden), dtype=self.dtype)
            self.kernel(projected, w_hh_t, b_hh, state, out)
            sequence = torch.from_numpy(out)
        return sequence


class RecurrentPlan(FusedPlan):
    """[causal conv + BatchNorm, folded] -> LSTM (torch's oneDNN kernel) or GRU (compiled
    recurrence), states carried -> linear (FiLM folded) [+ linear skip]."""

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        self.rnn = model.rnn
        self.state = None
        self.compiled = CompiledGRU(model.rnn) if isinstance(model.rnn, nn.GRU) else None
        dtype = model.lin.weight.dtype
        hidden = model.hidden_size
        self.inputs = []
        if model.features is not None:
            conv, bn = model.features[0], model.features[1]
            scale, shift = batch_norm_affine(bn, conv.out_channels, conv.weight)
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros(hidden, dtype=dtype)
            self.inputs.append(ConvInput(conv.in_channels, conv.kernel_size[0], conv.dilation[0],
                                         tap_major(conv.weight.detach()) * scale[:, None],
                                         bias * scale + shift, max_block))
            # (n, 1+k) @ (1+k, H): the features come out time-major, as the recurrent layer takes them.
            self.front_weight_t = self.inputs[0].weight.t().contiguous()
        gamma, beta = film_affine(model.film, cond, hidden, model.lin.weight)
        w = model.lin.weight.detach()[0]
        self.out_weight_t = (w * gamma).reshape(-1, 1).contiguous()  # (H, 1)
        out_bias = model.lin.bias.detach() + (w * beta).sum()
        if model.res is not None:
            self.skip = float(model.res.weight.detach()[0, 0])
            out_bias = out_bias + model.res.bias.detach()
        else:
            self.skip = None
        self.out_bias = out_bias.reshape(1, 1)
        self.allocate(max_block)

    def workspace_sizes(self) -> dict[str, int]:
        return {"columns": max((c.columns for c in self.inputs), default=1)}

    def make_views(self, n: int) -> dict:
        if not self.inputs:
            return {"ones": []}
        columns, taps = self.inputs[0].columns_view(self.workspace, n)
        return {"ones": [columns[0]], "columns_t": columns.t(), "taps": taps}

    def reset(self) -> None:
        super().reset()
        self.state = None
        if self.compiled is not None:
            self.compiled.reset()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        v = self.views(n)
        if self.inputs:
            front = self.inputs[0]
            front.ring.write(x)
            front.gather(v["taps"], n)
            sequence = torch.mm(v["columns_t"], self.front_weight_t)  # (n, H), time-major
        else:
            sequence = x.reshape(n, 1)
        if self.compiled is not None:
            hidden = self.compiled(sequence)
        else:
            output, self.state = self.rnn(sequence.unsqueeze(0), self.state)
            hidden = output[0]
        y = torch.addmm(self.out_bias, hidden, self.out_weight_t)  # (n, 1)
        if self.skip is not None:
            y.add_(x.reshape(n, 1), alpha=self.skip)
        return y.reshape(1, n)
