"""Knob-conditioned models (FiLM, concatenation, HyperGRU) and streaming them while the knobs move.

Independent references: the unconditioned network with the same weights (FiLM at the identity);
the offline forward over the whole signal and the knob trajectory the smoother produced
(streaming); the trajectory's closed form (a ramp of equal control steps); the output of the
same turn without smoothing (the click).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from springstudy.models import build, is_conditioned, list_knob_models
from springstudy.models.conditioned import FiLMNet, HyperGRU
from springstudy.streaming import KnobSmoother, KnobStreamer

pytestmark = pytest.mark.usefixtures("one_thread")

FS = 16_000
#: Small versions: the GCN at 4 channels (kernel 9), the GRUs at 8 units.
SMALL = {"GCN-250-FiLM": dict(channels=4, kernel_size=9), "WaveNet-10-FiLM": dict(channels=4),
         "GRU-32-knobs": dict(hidden_size=8), "HyperGRU-32": dict(hidden_size=8, hyper_hidden=16)}


def _randomise(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Weights away from the identity start, so that the knobs matter."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "encoder" in name or "film" in name or "hyper" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model


def test_the_knob_models_are_named_and_conditioned() -> None:
    assert list_knob_models() == ["GCN-250-FiLM", "WaveNet-10-FiLM", "GRU-32", "GRU-32-knobs", "HyperGRU-32"]
    assert [is_conditioned(build(n)) for n in list_knob_models()] == [True, True, False, True, True]
    from springstudy.models import list_models
    assert not set(list_knob_models()) & set(list_models())          # the thesis's list is unchanged


@pytest.mark.parametrize("name,base", [("GCN-250-FiLM", "GCN-250"), ("WaveNet-10-FiLM", "WaveNet-10")])
def test_film_at_the_identity_leaves_the_network_unchanged(name, base) -> None:
    plain = build(base, seed=3, **SMALL[name])
    film = build(name, seed=4, **SMALL[name])
    missing, unexpected = film.net.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all("film" in key for key in missing)
    gen = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(2, 1, 3000, generator=gen)
    with torch.no_grad():
        reference = plain(x)
        for knobs in (torch.zeros(2, 4), torch.rand(2, 4, generator=gen), torch.rand(2, 4, 3000, generator=gen)):
            torch.testing.assert_close(film(x, knobs), reference, rtol=1e-6, atol=1e-7)
        _randomise(film)
        assert not torch.allclose(film(x, torch.zeros(2, 4)), film(x, torch.ones(2, 4)))


@pytest.mark.parametrize("name", ["GCN-250-FiLM", "GRU-32-knobs", "HyperGRU-32"])
def test_a_constant_trajectory_equals_a_constant_setting(name) -> None:
    model = _randomise(build(name, **SMALL[name])).eval()
    gen = torch.Generator().manual_seed(2)
    x, knobs = 0.1 * torch.randn(2, 1, 1500, generator=gen), torch.rand(2, 4, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(model(x, knobs[..., None].expand(-1, -1, 1500)), model(x, knobs))


def test_hypergru_weights_follow_the_knobs_and_start_as_a_gru() -> None:
    model = build("HyperGRU-32", seed=0)
    a, b = model.generated_weights(torch.zeros(4)), model.generated_weights(torch.ones(4))
    gru = torch.nn.GRU(1, 32, batch_first=True)
    for key, x, y in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), a, b):
        assert not torch.equal(x, y), key
        assert x.shape == getattr(gru, key + "_l0").shape, key
    # At the start the generated weights are a plain GRU's (the MLP's bias) plus at most a small term.
    plain = torch.split(model.hyper[-1].bias.detach(), model.splits)
    for x, start in zip(a, plain):
        torch.testing.assert_close(x.flatten(), start, atol=0.05, rtol=0)
    assert sum(p.numel() for p in model.parameters()) == model.num_parameters
    x = 0.1 * torch.randn(1, 1, 400)
    loss = model(x, torch.rand(1, 4)).pow(2).mean()
    loss.backward()
    assert model.hyper[0].weight.grad.abs().sum() > 0                          # gradients reach the MLP


def test_hypergru_splits_a_trajectory_where_the_knobs_change() -> None:
    model = _randomise(build("HyperGRU-32", **SMALL["HyperGRU-32"])).eval()
    x = 0.1 * torch.randn(1, 1, 900)
    k1, k2 = torch.rand(1, 4), torch.rand(1, 4)
    trajectory = torch.cat([k1[..., None].expand(-1, -1, 400), k2[..., None].expand(-1, -1, 500)], dim=-1)
    with torch.no_grad():
        first, state = model.run(x[..., :400], k1)
        second, _ = model.run(x[..., 400:], k2, state)
        torch.testing.assert_close(model(x, trajectory), torch.cat([first, second], dim=-1))


def test_the_smoother_ramps_in_equal_control_steps_whatever_the_blocks() -> None:
    ramp, control = 320, 32
    trajectories = []
    for cuts in ([1000], [7, 300, 1, 692], [64] * 15 + [40]):
        smoother = KnobSmoother([0.0, 1.0], ramp, control)
        pieces = [smoother.next(50)]
        smoother.set([1.0, 0.0])
        for n in cuts:
            pieces.append(smoother.next(n))
        trajectories.append(torch.cat(pieces, dim=-1))
    for t in trajectories[1:]:
        assert torch.equal(t, trajectories[0])
    t = trajectories[0]
    steps = torch.diff(t, dim=-1).abs()
    assert steps.max() <= 1.0 * control / ramp + 1e-12                     # no jump beyond one control step
    turned = KnobSmoother([0.0, 1.0], ramp, control)
    turned.set([1.0, 0.0])
    assert turned.max_step == pytest.approx(control / ramp)               # what the smoothing allows
    assert steps.max() == pytest.approx(turned.max_step)
    assert torch.all(t[:, :50] == torch.tensor([[0.0], [1.0]]))            # the turn starts at the next block
    done = 64 + ramp                                                        # the first control block after 50 is 64
    assert torch.all(t[:, done - 1:] == torch.tensor([[1.0], [0.0]]))     # and ends exactly at the target
    assert torch.all(t[:, done - 33] < 1.0)


@pytest.mark.parametrize("name", ["GCN-250-FiLM", "WaveNet-10-FiLM", "GRU-32-knobs", "HyperGRU-32"])
def test_streaming_equals_offline_while_the_knobs_move(name) -> None:
    model = _randomise(build(name, **SMALL[name])).eval()
    gen = torch.Generator().manual_seed(5)
    length = 6000
    x = 0.1 * torch.randn(1, 1, length, generator=gen)
    streamer = KnobStreamer(model, [0.2, 0.5, 0.5, 0.8], FS, keep_trajectory=True)
    out, start, turn = [], 0, 0
    cuts = [int(n) for n in torch.randint(1, 900, (40,), generator=gen)]
    for n in cuts:
        n = min(n, length - start)
        if n == 0:
            break
        if turn % 3 == 0:
            streamer.set_knobs(torch.rand(4, generator=gen).tolist())
        turn += 1
        out.append(streamer.process(x[..., start:start + n]))
        start += n
    streamed = torch.cat(out, dim=-1)
    with torch.no_grad():
        offline = model(x[..., :start], streamer.trajectory.float())
    torch.testing.assert_close(streamed, offline, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["GCN-250-FiLM", "HyperGRU-32"])
def test_a_sudden_knob_turn_makes_no_click(name) -> None:
    """Silence in: the output sits at a level set by the knobs. Turning every knob from 0 to 1
    at once steps it (a click); with a 40 ms ramp (20 control steps) no step of the output is
    larger than a quarter of that click."""
    model = _randomise(build(name, **SMALL[name]), seed=2).eval()
    silence = torch.zeros(1, 1, 512)

    def largest_step(smoothing: float) -> float:
        streamer = KnobStreamer(model, [0.0] * 4, FS, smoothing_seconds=smoothing)
        settle = [streamer.process(silence) for _ in range(24)]              # past the receptive field
        streamer.set_knobs([1.0] * 4)
        after = [streamer.process(silence) for _ in range(24)]
        y = torch.cat(settle[-1:] + after, dim=-1).flatten()
        return float(torch.diff(y).abs().max())

    click, smoothed = largest_step(0.0), largest_step(0.04)
    assert click > 1e-3
    assert smoothed < click / 4, (click, smoothed)


def test_streaming_refuses_a_model_without_knobs() -> None:
    with pytest.raises(TypeError, match="takes no knobs"):
        KnobStreamer(build("GRU-32"), [0.5] * 4, FS)
    with pytest.raises(ValueError, match="follows the knobs"):
        build("HyperGRU-32")(torch.zeros(1, 1, 10))
    assert isinstance(build("GCN-250-FiLM"), FiLMNet) and isinstance(build("HyperGRU-32"), HyperGRU)


@pytest.fixture(scope="module")
def knob_data(tmp_path_factory):
    from springstudy.data.knobs import KnobRanges
    from springstudy.data.synth import synthesize
    from springstudy.data.tank import TankParams

    return synthesize("springset", "smoke", tmp_path_factory.mktemp("kd") / "springset", seed=4,
                      tank=TankParams.preset("realistic", rt60=0.8), progress=False, knobs=KnobRanges.from_dict())


@pytest.mark.parametrize("name", ["GCN-250-FiLM", "GRU-32-knobs", "HyperGRU-32"])
def test_a_conditioned_model_trains_on_its_knobs_and_resumes_exactly(name, knob_data, tmp_path) -> None:
    from springstudy.train import TrainConfig, load_training_checkpoint, train

    def config(out):
        return TrainConfig(model=name, out=str(out), data=str(knob_data), max_steps=4, batch_size=2, crop_seconds=0.1,
                           val_every=2, val_items=2, val_seconds=0.25, tensorboard=False, seed=3, threads=1,
                           model_overrides=SMALL[name], alpha=1.0, time_term="esr")

    straight = train(config(tmp_path / "a"), progress=False)
    assert straight.summary["steps"] == 4 and np.isfinite(straight.summary["val_metrics"]["esr"])

    def stop(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path / "b"), progress=False, on_step=stop)
    train(config(tmp_path / "b"), resume=True, progress=False)
    a, b = (load_training_checkpoint(tmp_path / run / "last.pt")["model_state"] for run in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_conditioned_model_needs_data_with_knobs(tmp_path) -> None:
    from springstudy.data.synth import synthesize
    from springstudy.train import TrainConfig, TrainingError, train

    plain = synthesize("springset", "smoke", tmp_path / "plain", seed=4, progress=False)
    with pytest.raises(TrainingError, match="follows the knobs, but .* has none"):
        train(TrainConfig(model="GCN-250-FiLM", out=str(tmp_path / "run"), data=str(plain), max_steps=1,
                          batch_size=2, crop_seconds=0.1, tensorboard=False), progress=False)
