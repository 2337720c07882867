"""The models' training-speed operators equal the plain torch operators they replace.

Each is checked against torch's own (oneDNN/autograd) computation: values and the gradients of a
random projection, in float64 so that any real difference shows.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from springstudy.models import build
from springstudy.models.causal import LayerMix, PointwiseConv1d, _live_taps, causal_conv1d
from springstudy.models.gate import gated_tanh_sigmoid


def _grads(fn, *tensors: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    leaves = [t.detach().clone().requires_grad_() for t in tensors]
    out = fn(*leaves)
    probe = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    (out * probe).sum().backward()
    return out.detach(), [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("c_in,c_out,k,d,length", [
    (3, 5, 3, 1, 50),     # plain
    (4, 6, 3, 16, 40),    # the two far taps look back 32 and 16: both live
    (2, 3, 9, 10, 25),    # taps looking back >= 25 samples only see the zero history: skipped
    (1, 4, 19, 1000, 30), # all but the last tap skipped (TCN-4000's last dilation on a short item)
    (4, 1, 5, 2, 33),     # one output channel
    (3, 3, 1, 1, 20),     # kernel 1
])
def test_causal_conv_equals_torch_conv(c_in, c_out, k, d, length):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, c_in, length, generator=gen, dtype=torch.float64)
    w = torch.randn(c_out, c_in, k, generator=gen, dtype=torch.float64)
    b = torch.randn(c_out, generator=gen, dtype=torch.float64)

    def reference(x, w, b):
        return F.conv1d(F.pad(x, ((k - 1) * d, 0)), w, b, dilation=d)

    out, grads = _grads(lambda x, w, b: causal_conv1d(x, w, b, d), x, w, b)
    ref_out, ref_grads = _grads(reference, x, w, b)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # the inference path (trimmed kernel, plain conv)
        torch.testing.assert_close(causal_conv1d(x, w, b, d), ref_out, rtol=1e-12, atol=1e-12)


def test_live_taps_counts_the_taps_that_see_data():
    # tap j of k looks back (k-1-j)*d samples; it sees data iff that is < length
    for k, d, length in [(9, 10, 25), (19, 1000, 16000), (3, 1, 2), (5, 7, 1000), (19, 10000, 16000)]:
        expected = sum((k - 1 - j) * d >= length for j in range(k))
        assert _live_taps(k, d, length) == expected


def test_gate_equals_tanh_times_sigmoid():
    h = 3 * torch.randn(2, 8, 40, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out, (grad,) = _grads(lambda h: gated_tanh_sigmoid(h, 4), h)
    ref_out, (ref_grad,) = _grads(lambda h: torch.tanh(h[:, :4]) * torch.sigmoid(h[:, 4:]), h)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-14)
    with torch.no_grad():
        torch.testing.assert_close(gated_tanh_sigmoid(h, 4), ref_out, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="2\\*3 channels"):
        gated_tanh_sigmoid(h, 3)


@pytest.mark.parametrize("c_out", [1, 2])
def test_layer_mix_equals_conv_of_concatenation(c_out):
    torch.manual_seed(3)
    mix = LayerMix(12, c_out).double()
    gen = torch.Generator().manual_seed(4)
    parts = [torch.randn(2, 4, 30, generator=gen, dtype=torch.float64) for _ in range(3)]

    out, _ = _grads(lambda *zs: mix(list(zs)), *parts)
    ref_out, ref_grads = _grads(lambda w, b, *zs: F.conv1d(torch.cat(zs, 1), w, b),
                                mix.weight, mix.bias, *parts)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    mix.zero_grad()
    leaves = [p.detach().clone().requires_grad_() for p in parts]
    y = mix(leaves)
    probe = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    (y * probe).sum().backward()
    for got, want in zip([mix.weight.grad, mix.bias.grad, *[p.grad for p in leaves]], ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="takes 12 channels"):
        mix(parts[:2])


def test_pointwise_conv_equals_conv1d():
    torch.manual_seed(5)
    fast, plain = PointwiseConv1d(6, 3).double(), nn.Conv1d(6, 3, 1).double()
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(2, 6, 25, dtype=torch.float64)
    out, (grad,) = _grads(fast, x)
    ref_out, (ref_grad,) = _grads(plain, x)
    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["WaveNet-10", "GCN-250", "TCN-1800"])
def test_model_gradients_equal_plain_operators(name, monkeypatch):
    """A whole small model: the fast operators' parameter gradients equal the plain ones'."""
    import springstudy.models.causal as causal
    import springstudy.models.gate as gate

    model = build(name, channels=3, seed=0).double().train()
    x = torch.randn(2, 1, 300, generator=torch.Generator().manual_seed(6), dtype=torch.float64)

    def param_grads():
        model.zero_grad()
        model(x).square().mean().backward()
        return [p.grad.clone() if p.grad is not None else None for p in model.parameters()]

    fast = param_grads()
    # The plain path: what the operators do where autograd records no graph of theirs.
    monkeypatch.setattr(causal, "_training_graph", lambda *t: False)
    monkeypatch.setattr(gate.torch.jit, "is_tracing", lambda: True)
    plain = param_grads()
    for got, want in zip(fast, plain):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
