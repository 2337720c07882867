"""Streaming inference: block-by-block output equals the whole-signal forward pass.

Independent reference: the model's offline forward over the whole signal. Block sizes are
drawn at random (seeded) from 1 to 4096, with runs of tiny blocks, so every ring buffer wraps
around many times and histories longer than a block are exercised. Both paths of the
Streamer are checked: the fused per-family plans (folded BatchNorm/FiLM, sigmoid-form gates,
compiled GRU) and the module path (the model's own forward with stateful convolutions). The
efficiency benchmark (tests/test_efficiency.py) times exactly these streamers.
"""

from __future__ import annotations

import pytest
import torch

from springstudy.models import build
from springstudy.streaming import MirroredRingBuffer, ShiftingBuffer, Streamer, history_buffer


pytestmark = pytest.mark.usefixtures("one_thread")   # see conftest.py


# One small version per family; dilations as in the named configs (TCN growth 10, GCN growth
# 6 and 3, WaveNet 2**n) so histories span thousands of samples.
FAMILIES = {
    "TCN": ("TCN-1800", dict(num_blocks=4, channels=4, kernel_size=5)),  # history up to 4000
    "WaveNet": ("WaveNet-24", dict(channels=4)),
    "GCN": ("GCN-250", dict(channels=4, kernel_size=9)),  # history up to 1728
    "LSTM": ("LSTM-96", dict(hidden_size=8, num_layers=2, skip=True)),
    "LSTM-cs": ("LSTM-cs-32", dict(hidden_size=8)),
    "GRU": ("GRU-96", dict(hidden_size=8, conv_kernel_size=3, skip=True)),
}
LENGTH = 9_000


def random_blocks(length: int, seed: int, max_block: int = 4096) -> list[int]:
    """Seeded block sizes covering ``length``: random in [1, max_block], with tiny ones."""
    gen = torch.Generator().manual_seed(seed)
    sizes, total = [], 0
    while total < length:
        if len(sizes) % 4 == 1:  # every fourth block tiny: 1, 2, 3, 1, ...
            n = 1 + (len(sizes) // 4) % 3
        else:
            n = int(torch.randint(1, max_block + 1, (1,), generator=gen))
        n = min(n, length - total)
        sizes.append(n)
        total += n
    return sizes


def stream(streamer: Streamer, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    blocks, start = [], 0
    for n in sizes:
        y = streamer.process(x[..., start:start + n])
        assert y.shape == (1, 1, n)
        blocks.append(y)
        start += n
    return torch.cat(blocks, dim=-1)


def with_batch_norm_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics (used in eval mode), so that folding them is tested."""
    gen = torch.Generator().manual_seed(7)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1, generator=gen)
            module.running_var.uniform_(0.5, 2.0, generator=gen)
            module.weight.data.uniform_(0.5, 1.5, generator=gen)
            module.bias.data.uniform_(-0.1, 0.1, generator=gen)
    return model


@pytest.mark.parametrize("fast", [True, False], ids=["fused", "module"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_streamed_equals_offline(family, fast):
    name, overrides = FAMILIES[family]
    model = with_batch_norm_statistics(build(name, seed=1, **overrides)).eval()
    x = 0.5 * torch.randn(1, 1, LENGTH, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        offline = model(x)
    streamer = Streamer(model, fast=fast)
    assert streamer.path == ("fused" if fast else "module")
    sizes = random_blocks(LENGTH, seed=3)
    assert min(sizes) == 1 and max(sizes) > 1000
    streamed = stream(streamer, x, sizes)
    torch.testing.assert_close(streamed, offline, atol=1e-5, rtol=0)
    # reset() returns to silence: a second pass with other block sizes gives the same output.
    streamer.reset()
    torch.testing.assert_close(stream(streamer, x, random_blocks(LENGTH, seed=4)), offline,
                               atol=1e-5, rtol=0)


CONDITIONED = {
    "GCN": ("GCN-2500", dict(channels=4, num_layers=6)),
    "TCN": ("TCN-1800", dict(num_blocks=3, channels=4, kernel_size=3)),
    "WaveNet": ("WaveNet-10", dict(channels=4)),
    "LSTM-cs": ("LSTM-cs-32", dict(hidden_size=8)),
}


@pytest.mark.parametrize("family", list(CONDITIONED))
def test_streamed_equals_offline_with_conditioning(family):
    name, overrides = CONDITIONED[family]
    model = with_batch_norm_statistics(build(name, seed=1, cond_dim=2, **overrides)).eval()
    gen = torch.Generator().manual_seed(8)
    for module in model.modules():  # FiLM away from the identity, so that folding it is tested
        if module.__class__.__name__ == "FiLM":
            module.adaptor.weight.data.normal_(0.0, 0.5, generator=gen)
    x, cond = torch.randn(1, 1, 5000), torch.randn(1, 2)
    with torch.no_grad():
        offline = model(x, cond)
    streamer = Streamer(model, cond=cond)
    assert streamer.path == "fused"
    streamed = stream(streamer, x, random_blocks(5000, seed=5))
    torch.testing.assert_close(streamed, offline, atol=1e-5, rtol=0)


def test_blocks_longer_than_the_ring_grow_it():
    model = build("TCN-1800", seed=1, num_blocks=3, channels=3, kernel_size=3).eval()
    x = torch.randn(1, 1, 3000)
    with torch.no_grad():
        offline = model(x)
    streamer = Streamer(model, max_block=8)  # forces growth and many wrap-arounds
    sizes = [1, 7, 8, 9, 3, 100, 2, 1000, 5, 1865]
    assert sum(sizes) == 3000
    torch.testing.assert_close(stream(streamer, x, sizes), offline, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["TCN-1800", "WaveNet-24", "GCN-250", "LSTM-cs-96", "GRU-96"])
@pytest.mark.parametrize("block", [64, 512])
def test_full_size_named_model_streams(name, block):
    """Full-size named models as the benchmark streams them (max_block = block, equal blocks)."""
    model = build(name, seed=0).eval()  # e.g. GCN-250: 10,361-sample history, kernel 41
    x = 0.1 * torch.randn(1, 1, 6000, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        offline = model(x)
    streamer = Streamer(model, max_block=block)
    assert streamer.path == "fused"
    sizes = [block] * (6000 // block) + ([6000 % block] if 6000 % block else [])
    torch.testing.assert_close(stream(streamer, x, sizes), offline, atol=1e-5, rtol=0)


@pytest.mark.parametrize("num_blocks", [2, 4])
def test_tcn_last_block_on_projected_taps(num_blocks):
    """A TCN whose last block (C -> 1) has fewer taps than channels keeps the projections of its
    input, not the input, in the compiled plan (float32) and in torch's (ProjectedOutput,
    float64); random blocks, growth from a tiny ring, reset."""
    from springstudy.streaming import CompiledTCNPlan, TCNPlan

    for dtype, plan in ((torch.float32, CompiledTCNPlan), (torch.float64, TCNPlan)):
        _check_projected_tcn(num_blocks, dtype, plan)


def _check_projected_tcn(num_blocks: int, dtype: torch.dtype, plan: type) -> None:
    model = with_batch_norm_statistics(build("TCN-1800", seed=1, num_blocks=num_blocks, channels=8,
                                             kernel_size=3, cond_dim=2)).eval().to(dtype)
    for module in model.modules():  # FiLM away from the identity
        if module.__class__.__name__ == "FiLM":
            module.adaptor.weight.data.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(8))
    x = 0.5 * torch.randn(1, 1, LENGTH, generator=torch.Generator().manual_seed(2)).to(dtype)
    cond = torch.randn(1, 2, generator=torch.Generator().manual_seed(6)).to(dtype)
    with torch.no_grad():
        offline = model(x, cond)
    for max_block in (8, 4096):
        streamer = Streamer(model, cond=cond, max_block=max_block)
        assert type(streamer.runner) is plan and streamer.runner.projected
        torch.testing.assert_close(stream(streamer, x, random_blocks(LENGTH, seed=3)), offline,
                                   atol=1e-5, rtol=0)
        streamer.reset()
        torch.testing.assert_close(stream(streamer, x, random_blocks(LENGTH, seed=4)), offline,
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("name, overrides", [("WaveNet-24", dict(channels=4)),
                                             ("GCN-2500", dict(channels=4, num_layers=6)),
                                             ("GCN-250", dict(channels=3, num_layers=1))])
def test_gated_stack_paths(name, overrides):
    """Gated stacks run the compiled plan in float32 (what the other tests stream) and torch's
    operators otherwise; both equal the offline model. The odd and tiny shapes (3 channels, one
    layer) take the compiled product's remainder rows and the one-layer output path."""
    from springstudy.streaming import CompiledGatedStackPlan, GatedStackPlan

    for dtype, plan in ((torch.float32, CompiledGatedStackPlan), (torch.float64, GatedStackPlan)):
        model = build(name, seed=1, **overrides).eval().to(dtype)
        x = 0.5 * torch.randn(1, 1, LENGTH, generator=torch.Generator().manual_seed(2)).to(dtype)
        with torch.no_grad():
            offline = model(x)
        streamer = Streamer(model, max_block=64)
        assert streamer.path == "fused" and type(streamer.runner) is plan
        torch.testing.assert_close(stream(streamer, x, random_blocks(LENGTH, seed=3)), offline,
                                   atol=1e-5, rtol=0)


def test_compiled_gated_stack_grows_and_resets():
    """A block longer than the rings were sized for regrows them with the history kept (the
    output stays equal to offline); reset() returns to silence."""
    model = build("GCN-2500", seed=2, channels=4, num_layers=5).eval()
    x = 0.5 * torch.randn(1, 1, 6000, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        offline = model(x)
    streamer = Streamer(model, max_block=16)
    sizes = [7, 16, 300, 5, 1000, 2, 4670]  # 300 and 1000 outgrow 16, then 32, then 600
    torch.testing.assert_close(stream(streamer, x, sizes), offline, atol=1e-5, rtol=0)
    assert streamer.runner.max_block >= 4670
    streamer.reset()
    torch.testing.assert_close(stream(streamer, x, [512] * 11 + [368]), offline, atol=1e-5, rtol=0)


def test_compiled_gate_matches_tanh_sigmoid():
    """The compiled gate against float64 tanh * sigmoid, from tiny to saturating arguments."""
    np = pytest.importorskip("numpy")
    from springstudy.conv_kernels import gated_activation

    gen = torch.Generator().manual_seed(0)
    scales = torch.tensor([1e-30, 1e-3, 0.5, 3.0, 30.0, 300.0, 1e30])
    h = (torch.randn(2 * 7, 1024, generator=gen) * scales.repeat(2)[:, None]).float()
    h[0, :4] = torch.tensor([0.0, -0.0, float("inf"), float("-inf")])
    h[7, :4] = torch.tensor([float("inf"), float("-inf"), 0.0, -0.0])
    h[1, 4], h[9, 5] = float("nan"), float("nan")  # a NaN passes through, as in torch
    array = h.numpy().copy()
    gated_activation(array)
    a, b = h[:7].double() / 2, h[7:].double()  # rows hold 2a (doubled weights) and b
    expected = -torch.tanh(a) * torch.sigmoid(b)
    got = torch.from_numpy(array[:7]).double()
    assert torch.equal(got.isnan(), expected.isnan()) and expected.isnan().sum() == 2
    torch.testing.assert_close(got, expected, atol=3e-7, rtol=0, equal_nan=True)
    assert np.array_equal(array[7:], h[7:].numpy(), equal_nan=True)  # the sigmoid half is left alone


def test_mirrored_ring_buffer_matches_concatenated_history():
    ring = MirroredRingBuffer(channels=2, length=10, dtype=torch.float32, device=torch.device("cpu"))
    history = torch.zeros(1, 2, 10)
    gen = torch.Generator().manual_seed(0)
    for n in [3, 4, 1, 10, 7, 2, 9]:
        x = torch.randn(1, 2, n, generator=gen)
        ring.write(x)
        history = torch.cat([history, x], dim=-1)[..., -10:]
        for m in (1, n, 10):
            assert torch.equal(ring.window(m), history[..., -m:])
            # a view into the ring (one slice), never a gathered copy
            assert ring.window(m).untyped_storage().data_ptr() == ring.data.untyped_storage().data_ptr()


def test_shifting_buffer_matches_concatenated_history():
    buffer = ShiftingBuffer(channels=2, history=6, room=12, dtype=torch.float32, device=torch.device("cpu"))
    history = torch.zeros(1, 2, 6)
    gen = torch.Generator().manual_seed(0)
    for n in [3, 4, 1, 5, 5, 2, 5, 1, 4]:  # several shifts of the history to the front
        x = torch.randn(1, 2, n, generator=gen)
        target = buffer.write_target(n)
        target.copy_(x[0])  # computed straight into the buffer
        buffer.commit(target, n)
        history = torch.cat([history, x], dim=-1)
        assert torch.equal(buffer.window(6 + n), history[..., -(6 + n):])
        taps = buffer.taps(kernel_size=3, dilation=3, n=n)  # tap j = window[j*d : j*d + n]
        for j in range(3):
            assert torch.equal(taps[j], history[0, :, history.shape[-1] - 6 - n + 3 * j:][:, :n])
    with pytest.raises(ValueError, match="room"):
        ShiftingBuffer(2, history=6, room=6, dtype=torch.float32, device=torch.device("cpu"))


def test_history_buffer_kind_and_ring_length():
    cpu = torch.device("cpu")
    assert isinstance(history_buffer(4, 256, 512, torch.float32, cpu), ShiftingBuffer)
    ring = history_buffer(4, 80_000, 512, torch.float32, cpu)
    assert isinstance(ring, MirroredRingBuffer)
    assert ring.length % 512 == 0 and ring.length >= 80_000 + 512  # blocks of 512 never wrap
    for _ in range(500):
        assert ring.write_target(512) is not None
        ring.write(torch.zeros(4, 512))


def test_streamer_leaves_the_model_alone_and_checks_blocks():
    model = build("WaveNet-10", channels=2).train()
    streamer = Streamer(model)
    assert model.training and not streamer.model.training
    assert "forward" not in vars(model.layers[0].hidden)  # only the copy is patched
    with pytest.raises(ValueError, match=r"\(1, 1, n\)"):
        streamer.process(torch.zeros(1, 1, 0))
    with pytest.raises(ValueError):
        streamer.process(torch.zeros(2, 1, 16))


def test_streamer_refuses_a_lookahead_convolution():
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3, padding=1))
    with pytest.raises(TypeError, match="cannot stream"):
        Streamer(model)


# Non-finite input and dtypes (issue 19, item 7). Reference: the named model's offline forward.
# Before the fix the compiled GRU raised ZeroDivisionError on a NaN (fastmath assumed none),
# WaveNet-10's folded plan turned one Inf into 1023 non-finite outputs where the model gives
# 2047, and the module path refused float64 and int16 blocks.
NAMED = ["TCN-1800", "WaveNet-10", "GCN-250", "LSTM-96", "LSTM-cs-32", "GRU-96"]


@pytest.mark.parametrize("fast", [True, False], ids=["fused", "module"])
@pytest.mark.parametrize("name", NAMED)
def test_non_finite_input_spreads_as_offline(name, fast):
    model = build(name).eval()
    gen = torch.Generator().manual_seed(3)
    length = 6_000
    for bad in (float("nan"), float("inf"), float("-inf")):
        x = 0.1 * torch.randn(1, 1, length, generator=gen)
        x[0, 0, int(torch.randint(200, 2_000, (1,), generator=gen))] = bad
        with torch.no_grad():
            offline = model(x)
        streamer = Streamer(model, fast=fast)
        streamed = stream(streamer, x, random_blocks(length, seed=5))
        assert torch.equal(torch.isfinite(streamed), torch.isfinite(offline)), (name, bad)
        if bad != bad:  # NaN in, NaN out: nothing after it is finite within the receptive field
            assert torch.isnan(streamed).any()
        finite = torch.isfinite(offline)
        torch.testing.assert_close(streamed[finite], offline[finite], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fast", [True, False], ids=["fused", "module"])
@pytest.mark.parametrize("name", NAMED)
def test_both_paths_take_the_same_dtypes(name, fast):
    model = build(name).eval()
    gen = torch.Generator().manual_seed(4)
    pcm = (3000 * torch.randn(1, 1, 1_500, generator=gen)).to(torch.int16)
    with torch.no_grad():
        reference = model(pcm.to(torch.float32))
    for dtype in (torch.float64, torch.int16, torch.float32):
        streamer = Streamer(model, fast=fast)
        streamed = stream(streamer, pcm.to(dtype), [700, 1, 799])
        assert streamed.dtype == torch.float32
        torch.testing.assert_close(streamed, reference, rtol=1e-4, atol=1e-3)
