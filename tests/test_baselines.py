"""Baselines against closed-form expectations and the synthetic tank's ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from springstudy.baselines import (LinearIR, Naive, NoiseCeiling, Silence, concatenate_items, fft_convolve,
                                   ir_error_db, plot_linear_ir, train_tcn_baseline)
from springstudy.evaluate import score_predictor
from springstudy.metrics import esr, mse
from springstudy.data.tensors import SplitTensors


def decaying_tones(n: int, length: int, seed: int) -> torch.Tensor:
    """(n, 1, length) float32 test targets: decaying sines plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16_000
    rows = [0.5 * np.sin(2 * np.pi * rng.uniform(80, 2000) * t) * np.exp(-rng.uniform(1, 5) * t)
            + 0.01 * rng.standard_normal(length) for _ in range(n)]
    return torch.tensor(np.stack(rows)[:, None, :], dtype=torch.float32)


def split_of(dry: torch.Tensor, wet: torch.Tensor) -> SplitTensors:
    return SplitTensors(dry, wet, [f"item{i}" for i in range(dry.shape[0])])


# --- Silence, Naive, Noise ceiling -----------------------------------------------------------

def test_silence_esr_is_one_for_any_target():
    target = decaying_tones(5, 4000, seed=1)
    pred = Silence()(target * 3.0)
    assert torch.count_nonzero(pred) == 0
    # auraloss's ESR is Σy²/(Σy² + 1e-8): 1 up to that ε.
    np.testing.assert_allclose(esr(pred, target).numpy(), 1.0, rtol=0, atol=1e-9)


@pytest.mark.parametrize("gain", [0.0, 0.5, 1.0, 1.8, 2.5])
def test_naive_esr_is_one_minus_gain_squared(gain):
    """Dry = g·target: the Naive prediction's ESR is Σ(y − g y)² / Σy² = (1 − g)²."""
    target = decaying_tones(4, 4000, seed=2)
    scored = score_predictor(Naive(), split_of(gain * target, target), "Naive", 0, "baseline", batch_size=3)
    np.testing.assert_allclose(scored.items["esr"].to_numpy(), (1.0 - gain) ** 2, rtol=1e-5, atol=1e-9)
    assert (scored.items["esr"] > 1).all() == (gain > 2)    # worse than silence exactly when g > 2


def test_naive_returns_the_dry_input_untouched():
    dry = decaying_tones(2, 1000, seed=3)
    assert torch.equal(Naive()(dry, [0, 1]), dry)


def test_noise_ceiling_expected_mse_and_esr():
    """U(−a, a) against y: E[MSE] = a²/3 + mean(y²); E[ESR] = 1 + a²/(3 mean(y²))."""
    a = 0.3
    target = decaying_tones(8, 200_000, seed=4).double()
    pred = NoiseCeiling(a, seed=7)(target, list(range(8)))
    assert pred.abs().max() < a
    power = (target ** 2).mean(dim=(-2, -1))
    np.testing.assert_allclose(mse(pred, target).numpy(), (a ** 2 / 3 + power).numpy(), rtol=0.01)
    np.testing.assert_allclose(esr(pred, target).numpy(), (1 + a ** 2 / (3 * power)).numpy(), rtol=0.01)


def test_noise_ceiling_is_seeded_per_item_not_per_batch():
    dry = torch.zeros(5, 1, 300)
    noise = NoiseCeiling(1.0, seed=3)
    whole = noise(dry, [0, 1, 2, 3, 4])
    parts = torch.cat([noise(dry[:2], [0, 1]), noise(dry[2:], [2, 3, 4])])
    assert torch.equal(whole, parts)
    assert not torch.equal(whole[0], whole[1])
    assert not torch.equal(whole, NoiseCeiling(1.0, seed=4)(dry, range(5)))


def test_noise_matched_to_training_targets_gives_esr_two_on_equal_power():
    train_wet = decaying_tones(6, 20_000, seed=5)
    noise = NoiseCeiling.matched_to(train_wet, seed=1)
    assert noise.amplitude == pytest.approx(math.sqrt(3) * float(torch.sqrt((train_wet.double() ** 2).mean())))
    flat = torch.full((1, 1, 400_000), float(noise.amplitude / math.sqrt(3)), dtype=torch.float64)
    assert float(esr(noise(flat, [0]), flat)) == pytest.approx(2.0, rel=0.01)


# --- Linear IR -------------------------------------------------------------------------------

def test_linear_ir_recovers_a_known_fir():
    rng = np.random.default_rng(0)
    taps = 64
    h = rng.standard_normal(taps) * np.exp(-np.arange(taps) / 12.0)
    dry = rng.standard_normal((6, 4000))
    wet = fft_convolve(dry, h)
    np.testing.assert_allclose(wet[0, :50], np.convolve(dry[0], h)[:50], atol=1e-10)   # the convolution itself
    for length in (taps, 4 * taps):
        fit = LinearIR.fit(dry[:, None], wet[:, None], ir_length=length)
        assert fit.params == length
        assert ir_error_db(fit.ir, h) < -40.0


def test_linear_ir_on_the_linear_tank_without_fade():
    """Drive 0 (a linear tank), notes without SpringSet's fade-out: the fit is the tank's IR
    (over its first RT60, the 60 dB the lags are well determined in) and its prediction of
    unseen notes has an ESR far below 0.01."""
    from springstudy.data.notes import random_notes, render_note
    from springstudy.data.tank import SpringTank, TankParams

    rate, length = 16_000, 24_000
    tank = SpringTank(TankParams(sample_rate=rate, rt60=0.5, drive=0.0))
    dry = np.stack([render_note(spec, rate, length) for spec in random_notes(14, seed=11)])
    wet = tank.process(dry)
    dry_t = torch.tensor(dry[:, None], dtype=torch.float32)
    wet_t = torch.tensor(wet[:, None], dtype=torch.float32)
    fit = LinearIR.fit(dry_t[:10], wet_t[:10], ir_length=int(tank.params.rt60 * rate), sample_rate=rate)
    scored = score_predictor(fit, split_of(dry_t[10:], wet_t[10:]), "Linear IR", fit.params, "baseline")
    assert scored.items["esr"].max() < 0.01
    assert ir_error_db(fit.ir, tank.impulse_response[:length]) < -40.0


def test_linear_ir_rejects_bad_input():
    x = np.zeros((2, 100))
    with pytest.raises(ValueError, match="silent"):
        LinearIR.fit(x, x)
    with pytest.raises(ValueError, match="ir_length"):
        LinearIR.fit(np.ones((2, 100)), np.ones((2, 100)), ir_length=101)
    with pytest.raises(ValueError, match="differ"):
        LinearIR.fit(np.ones((2, 100)), np.ones((2, 99)))


# --- TCN-baseline ------------------------------------------------------------------------------

def test_concatenate_items_joins_items_end_to_end():
    dry = torch.arange(12, dtype=torch.float32).reshape(3, 1, 4)
    joined = concatenate_items(split_of(dry, -dry))
    assert joined.dry.shape == (1, 1, 12)
    assert torch.equal(joined.dry[0, 0], torch.arange(12, dtype=torch.float32))
    assert torch.equal(joined.wet, -joined.dry)
    assert len(joined.ids) == 1


def test_tcn_baseline_trains_without_validation(tmp_path):
    rate = 16_000
    wet = decaying_tones(3, 2000, seed=6)
    train = split_of(wet * 2.0, wet)
    validation = split_of(wet[:1] * 2.0, wet[:1])
    result = train_tcn_baseline(train, validation, rate, tmp_path / "TCN-baseline", steps=2, seed=1,
                                crop_seconds=0.08)
    best = torch.load(tmp_path / "TCN-baseline" / "best.pt", map_location="cpu", weights_only=True)
    assert best["model_name"] == "TCN-baseline" and best["step"] == 2
    assert best["config"]["validate"] is False and best["config"]["max_steps"] == 2
    last = torch.load(tmp_path / "TCN-baseline" / "last.pt", map_location="cpu", weights_only=True)
    for key, value in best["model_state"].items():          # best.pt is the final state
        assert torch.equal(value, last["model_state"][key])
    assert result.summary["steps"] == 2
    assert all(math.isnan(h["val_loss"]) for h in result.history)


def test_plot_linear_ir_accepts_a_true_ir_of_another_length():
    fit = LinearIR(np.exp(-np.arange(2000) / 300.0), sample_rate=16_000)
    for true_length in (1500, 2500):
        fig = plot_linear_ir(fit, np.exp(-np.arange(true_length) / 300.0), title="x")
        assert len(fig.axes[0].lines) == 3
    assert len(plot_linear_ir(fit).axes[0].lines) == 1
