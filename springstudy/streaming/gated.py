"""The fused gated stacks (WaveNet, GCN): folded layers, the tanh as a sigmoid, the mix folded into the residuals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from springstudy.streaming.compiled import CompiledPlan
from springstudy.streaming.fused import ConvInput, FusedPlan, film_affine, tap_major


@dataclass
class FoldedGatedLayer:
    """One gated layer with its eval-mode constants folded (see :func:`fold_gated_stack`)."""

    weight: torch.Tensor  # (2C, k*C_in), tap-major; the tanh half doubled
    bias: torch.Tensor  # (2C,), the tanh half doubled
    kernel_size: int
    dilation: int
    in_channels: int
    skip: torch.Tensor  # (C,): this layer's share of the output is skip . q
    mix: Optional[torch.Tensor]  # (C, 1 + C): x_{l+1} = base + mix @ [1; q]; None for the last layer


@dataclass
class FoldedGatedStack:
    layers: list[FoldedGatedLayer]
    channels: int
    x_weight: torch.Tensor  # (C,): the first layer's base is x_weight * x
    constant: torch.Tensor  # () the output's constant
    wavenet: bool  # the first layer reads [x; v] (v = 1 on real samples) instead of x


def fold_gated_stack(model: nn.Module, cond: Optional[torch.Tensor]) -> FoldedGatedStack:
    """WaveNet / GCN as per-layer matrices on q = -z, the gate's output with its sign flipped.

    Per layer l with input x_l: h = conv(x_l); z = tanh(h_a) * sigmoid(h_b) (FiLM: gamma*z+beta);
    x_{l+1} = R_l z + r_l + x_l; output = sum_l w_l z_l + c. With tanh(a) = 2 sigmoid(2a) - 1
    the tanh half's weights and bias are doubled (exact), so that a gate computes
    q = -z from sigmoid(2 h_a) and sigmoid(h_b); the sign and FiLM go into R_l, w_l and the
    biases. The last layer's residual mix feeds nothing and is dropped.

    The first layer reads the 1-channel input x itself. A GCN's does anyway (its residual
    broadcasts x over the C rows: ``x_weight`` = 1). A WaveNet's x_0 = W_in x + b_in (its 1x1
    input projection) is folded into the first convolution and residual, so x_0 is never
    formed: the convolution reads [x; v], v = 1 on the signal and 0 in the causal zero padding
    (where x_0 is 0, not b_in), with weights W_0 W_in and W_0 b_in; the residual takes x with
    weights W_in (``x_weight``) and b_in in its bias.
    """
    layers = list(model.layers)
    wavenet = hasattr(model, "input_layer")
    final = model.linear_mix if wavenet else model.mix
    dtype = final.weight.dtype
    channels = layers[0].channels
    final_weight = final.weight.detach()[0, :, 0]  # (L*C,)
    constant = final.bias.detach().reshape(()) if final.bias is not None else torch.zeros((), dtype=dtype)
    gate_scale = torch.cat([torch.full((channels,), 2.0, dtype=dtype), torch.ones(channels, dtype=dtype)])
    zeros = torch.zeros(channels, dtype=dtype)
    if wavenet:  # the input projection's weight and bias, folded into the first layer
        projection = model.input_layer
        x_weight = projection.weight.detach()[:, 0, 0]
        x_bias = projection.bias.detach() if projection.bias is not None else zeros
    else:  # a GCN's first residual adds x to every channel
        x_weight, x_bias = torch.ones(channels, dtype=dtype), zeros
    folded = []
    for l, layer in enumerate(layers):
        conv = layer.hidden if wavenet else layer.conv
        weight = conv.weight.detach()  # (2C, C_in, k)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(2 * channels, dtype=dtype)
        in_channels = conv.in_channels
        if l == 0 and wavenet:  # a convolution over [x; v] (see above)
            weight = torch.stack([torch.einsum("ock,c->ok", weight, x_weight),
                                  torch.einsum("ock,c->ok", weight, x_bias)], dim=1)
            in_channels = 2
        gamma, beta = film_affine(layer.film, cond, channels, weight)
        z_scale = -gamma  # z_film = -gamma*q + beta
        w = final_weight[l * channels:(l + 1) * channels]
        constant = constant + (w * beta).sum()
        mix = None
        if l < len(layers) - 1:
            residual = layer.residual if wavenet else layer.mix
            mix_weight = residual.weight.detach()[:, :, 0]
            mix_bias = residual.bias.detach() if residual.bias is not None else zeros
            mix_bias = mix_bias + mix_weight @ beta + (x_bias if l == 0 else zeros)
            mix = torch.cat([mix_bias[:, None], mix_weight * z_scale[None, :]], dim=1).contiguous()
        folded.append(FoldedGatedLayer(tap_major(weight) * gate_scale[:, None], bias * gate_scale,
                                       conv.kernel_size[0], conv.dilation[0], in_channels,
                                       (w * z_scale).contiguous(), mix))
    return FoldedGatedStack(folded, channels, x_weight.contiguous(), constant, wavenet)


def as_unfolded(x: torch.Tensor, wavenet: bool) -> torch.Tensor:
    """The block a folded WaveNet stack reads so that a non-finite input spreads as in the model.

    Folding the input projection into the first convolution (:func:`fold_gated_stack`) sums
    the weights before multiplying by x. For x = +-inf that gives +-inf, whose gates saturate
    to finite values, where the model's own first convolution adds terms of both signs, inf - inf:
    NaN. So a WaveNet's plans read +-inf as NaN, which is what the unfolded layer computes (a GCN
    reads x unprojected and needs nothing). Finite blocks pass untouched, at the cost of one check.
    """
    if not wavenet or bool(torch.isfinite(x).all()):
        return x
    return torch.where(torch.isinf(x), torch.full_like(x, float("nan")), x)


class GatedStackPlan(FusedPlan):
    """WaveNet / GCN (:func:`fold_gated_stack`) in torch operators: the path for dtypes other
    than float32, or without numba (float32 runs :class:`CompiledGatedStackPlan`).

    With u = sigmoid(2 h_a) and g = sigmoid(h_b), q = (1 - 2u) g: one in-place sigmoid over
    both halves and one ``addcmul`` give q = g - 2ug over u. The output's running sum
    s_l = sum_{i<l} w_i . q_i rides as an extra row of each layer's input history, so a layer's
    residual mix and its share of the output mix are one (C+1, 1+C) matrix product, written
    straight into the next layer's history: [x_{l+1}; s_{l+1}] = [x_l; s_l] + [[m_l, M_l];
    [0, w_l]] @ [1; q_l]. The last layer only adds its share to the output; the constant c rides
    on its row of ones. Every layer reuses one small gate buffer, laid out [x | 1 | u (then q) | g].
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        stack = fold_gated_stack(model, cond)
        self.channels = channels = stack.channels
        self.wavenet = stack.wavenet
        dtype = stack.x_weight.dtype
        self.inputs, self.mixes = [], []
        for l, layer in enumerate(stack.layers):
            self.inputs.append(ConvInput(layer.in_channels, layer.kernel_size, layer.dilation, layer.weight,
                                         layer.bias, max_block, ring_channels=None if l == 0 else channels + 1))
            skip_row = torch.cat([torch.zeros(1, dtype=dtype), layer.skip])[None, :]  # (1, 1+C)
            if layer.mix is None:
                skip_row[0, 0] = stack.constant  # the output's constant rides on the last ones row
                self.out_weight = skip_row
                break
            rows = torch.cat([layer.mix, skip_row])
            if l == 0:  # a leading column for the input row: the residual is [x | 1 | q]
                rows = torch.cat([torch.cat([stack.x_weight, torch.zeros(1, dtype=dtype)])[:, None], rows], dim=1)
            self.mixes.append(rows.contiguous())  # (C+1, [1 +] 1 + C)
        self.allocate(max_block)

    def workspace_sizes(self) -> dict[str, int]:
        return {"columns": max(c.columns for c in self.inputs),
                "gate": 2 * self.channels + 2,
                "scratch": self.channels + 1}

    def make_views(self, n: int) -> dict:
        c = self.channels
        gate = self.workspace.matrix("gate", 2 * c + 2, n)  # rows: x, ones, u (then q), g
        scratch = self.workspace.matrix("scratch", c + 1, n)
        # The first layer's input: x, or [x; v] with v = 1 (the ones row below x).
        views: dict = {"x": gate[0:1], "input": gate[:self.inputs[0].in_channels], "ones": [gate[1]],
                       "scratch": scratch, "layers": []}
        for l, conv in enumerate(self.inputs):
            columns, taps = conv.columns_view(self.workspace, n)
            views["ones"].append(columns[0])
            if l + 1 < len(self.inputs):
                mix, following = self.mixes[l], self.inputs[l + 1].ring
            else:
                mix, following = self.out_weight, None
            rhs = gate[0 if mix.shape[1] == c + 2 else 1:c + 2]  # [x |] 1 | q
            views["layers"].append((conv.ring, conv.kernel_size, conv.dilation, conv.in_channels, taps,
                                    conv.weight, columns, mix, rhs, following))
        views["hidden"], views["u"], views["g"] = gate[2:], gate[2:c + 2], gate[c + 2:]
        return views

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        v = self.views(n)
        scratch = v["scratch"]
        v["x"].copy_(as_unfolded(x, self.wavenet))
        self.inputs[0].ring.write(v["input"])
        base = None  # the first residual comes from the x row of the gate buffer
        hidden, u, g = v["hidden"], v["u"], v["g"]
        mm, addmm, addcmul = torch.mm, torch.addmm, torch.addcmul
        for ring, k, d, c_in, taps, weight, columns, mix, rhs, following in v["layers"]:
            taps.copy_(ring.taps(k, d, n, c_in))
            mm(weight, columns, out=hidden)
            hidden.sigmoid_()
            addcmul(g, u, g, value=-2.0, out=u)  # q = g - 2ug = -z, over u
            if following is None:  # the last layer: its share of the output
                break
            target = following.write_target(n)
            if target is None:  # the block wraps around the end of a ring
                base = self.emit(following, n, base, mix, rhs, scratch)
                continue
            if base is None:  # the first layer: its residual is the x row of rhs
                mm(mix, rhs, out=target)
            else:
                addmm(base, mix, rhs, out=target)
            following.commit(target, n)
            base = target
        if base is None:  # a one-layer stack
            return mm(mix, rhs)
        return addmm(base[self.channels:], mix, rhs)


class CompiledGatedStackPlan(CompiledPlan):
    """WaveNet / GCN in float32, one compiled call per block
    (:func:`springstudy.conv_kernels.gated_stack_block`) on the folded stack of
    :func:`fold_gated_stack`: per layer, the kernel gathers the taps, runs the convolution as a
    register-tiled product, the gate, the layer's share of the output and its residual mix,
    and writes the next layer's input into its ring. The output's running sum and the
    residual's base (the newest tap) never leave the work buffer.
    """

    def __init__(self, model: nn.Module, cond: Optional[torch.Tensor], max_block: int) -> None:
        import numpy as np

        from springstudy import conv_kernels as kernels

        stack = fold_gated_stack(model, cond)
        if stack.x_weight.dtype != torch.float32:
            raise TypeError("the compiled gated stack runs float32 models")
        self.kernel, self.channels, self.wavenet = kernels.gated_stack_block, stack.channels, stack.wavenet
        last = len(stack.layers) - 1
        pieces: list[torch.Tensor] = []
        offset = 0
        self.meta = np.zeros((len(stack.layers), kernels.G_FIELDS), dtype=np.int64)
        for l, layer in enumerate(stack.layers):
            skip = torch.cat([(stack.constant if l == last else torch.zeros(())).reshape(1), layer.skip])
            parts = {kernels.G_WEIGHT: layer.weight, kernels.G_BIAS: layer.bias, kernels.G_SKIP: skip}
            if layer.mix is not None:  # the first layer's x weights follow its mix
                parts[kernels.G_MIX] = torch.cat([layer.mix.reshape(-1), stack.x_weight]) if l == 0 else layer.mix
            offset = self.pack(l, parts, pieces, offset)
            self.meta[l, [kernels.KERNEL, kernels.DILATION, kernels.ROWS]] = (
                layer.kernel_size, layer.dilation, layer.in_channels)
        self.params = torch.cat(pieces).numpy().copy()
        self.history_lengths = [(layer.kernel_size - 1) * layer.dilation for layer in stack.layers]
        self.work_rows = max(int(m[kernels.KERNEL] * m[kernels.ROWS]) for m in self.meta) + 3 * self.channels + 1
        self.allocate(max_block)

    def kernel_args(self) -> tuple:
        return self.channels, self.wavenet

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return super().__call__(as_unfolded(x, self.wavenet))
