"""The modal start of an LSTM and the least-squares readout (models.recurrent, train.recurrent_init)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from springstudy.models import build
from springstudy.models.recurrent import MODAL_F_MAX_RATIO, MODAL_F_MIN, fit_readout_, hidden_states, modal_init_
from springstudy.data.tensors import SplitTensors
from springstudy.train import TrainConfig, TrainingError, train

FS = 16_000


def _step_jacobian(model: torch.nn.Module) -> np.ndarray:
    """Jacobian of one LSTM step (h, c) -> (h', c') at zero state and zero input."""
    rnn, hidden = model.rnn, model.hidden_size

    def step(state: torch.Tensor) -> torch.Tensor:
        h, c = state[:hidden].reshape(1, 1, hidden), state[hidden:].reshape(1, 1, hidden)
        _, (h1, c1) = rnn(torch.zeros(1, 1, 1, dtype=torch.float64), (h, c))
        return torch.cat([h1.reshape(-1), c1.reshape(-1)])

    return torch.autograd.functional.jacobian(step, torch.zeros(2 * hidden, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("hidden,periods", [(8, 5.0), (9, 20.0)])
def test_modal_start_puts_each_oscillators_poles_where_asked(hidden: int, periods: float) -> None:
    model = build("LSTM-96", seed=0, hidden_size=hidden).double()
    modal_init_(model, FS, periods=periods)
    eig = np.linalg.eigvals(_step_jacobian(model))
    pairs = hidden // 2
    freqs = np.exp(np.linspace(np.log(MODAL_F_MIN), np.log(MODAL_F_MAX_RATIO * FS), pairs))
    radius = np.exp(-freqs / (periods * FS))
    expected = np.concatenate([radius * np.exp(1j * 2 * np.pi * freqs / FS), radius * np.exp(-2j * np.pi * freqs / FS)])
    # One step's Jacobian is [o; 1]·[i·U, f]: its nonzero eigenvalues are those of f + i·o·U.
    found = eig[np.abs(eig) > 1e-6]
    assert found.size == expected.size
    for z in expected:
        assert np.min(np.abs(found - z)) < 1e-9
    assert np.all(np.abs(found) < 1)                       # damped: every pole inside the unit circle


def test_modal_lstm_rings_at_its_resonance_after_an_impulse() -> None:
    # One oscillator: an impulse must ring as r^t·cos(ωt + φ), the closed form of its poles.
    model = build("LSTM-96", seed=0, hidden_size=2).double()
    modal_init_(model, FS, periods=10.0, f_min=400.0)
    x = torch.zeros(1, 1, 400, dtype=torch.float64)
    x[..., 0] = 1e-3
    with torch.no_grad():
        h = hidden_states(model, x)[0, :, 0].numpy()
    f = 400.0         # a single pair sits at f_min
    r, w = math.exp(-f / (10.0 * FS)), 2 * math.pi * f / FS
    t = np.arange(400)
    basis = np.stack([r ** t * np.cos(w * t), r ** t * np.sin(w * t)], 1)
    coef, *_ = np.linalg.lstsq(basis[1:], h[1:], rcond=None)
    assert np.linalg.norm(basis[1:] @ coef - h[1:]) < 1e-4 * np.linalg.norm(h[1:])


def test_modal_start_is_refused_for_a_front_end_a_gru_and_resonances_past_a_quarter_rate() -> None:
    with pytest.raises(ValueError, match="LSTM without a convolutional front end"):
        modal_init_(build("LSTM-cs-32", seed=0), FS)
    with pytest.raises(ValueError, match="cell 'gru'"):
        modal_init_(build("GRU-96", seed=0), FS)
    with pytest.raises(ValueError, match="has 2 layers"):
        modal_init_(build("LSTM-96", seed=0, hidden_size=4, num_layers=2), FS)
    with pytest.raises(ValueError, match="f_min"):
        modal_init_(build("LSTM-96", seed=0, hidden_size=4), FS, f_max_ratio=0.3)


@pytest.mark.parametrize("name", ["LSTM-96", "LSTM-cs-32"])
def test_readout_is_the_least_squares_fit_numpy_finds(name: str) -> None:
    torch.manual_seed(0)
    model = build(name, seed=1, hidden_size=6).double()
    dry = torch.randn(5, 1, 300, dtype=torch.float64)
    wet = torch.roll(dry, 3, dims=-1) * 0.5 + 0.1 * torch.randn_like(dry)
    esr = fit_readout_(model, dry, wet, batch=2, ridge=0.0)
    model.eval()
    with torch.no_grad():
        states = hidden_states(model, dry).reshape(-1, 6 + (model.res is not None))
        pred = model(dry)
    design = np.concatenate([states.numpy(), np.ones((states.shape[0], 1))], axis=1)
    target = wet.reshape(-1).numpy()
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    np.testing.assert_allclose(pred.reshape(-1).numpy(), design @ solution, rtol=0, atol=1e-9)
    residual = np.sum((design @ solution - target) ** 2) / np.sum(target ** 2)
    assert esr == pytest.approx(residual, rel=1e-6)


@pytest.fixture(scope="module")
def tensors() -> dict[str, SplitTensors]:
    from springstudy.data.notes import random_notes, render_note
    from springstudy.data.tank import SpringTank, TankParams

    tank = SpringTank(TankParams(sample_rate=FS, rt60=0.5))
    dry = np.stack([render_note(s, FS, FS // 4) for s in random_notes(6, seed=2)])
    wet = tank.process(dry)
    d, w = torch.tensor(dry, dtype=torch.float32)[:, None], torch.tensor(wet, dtype=torch.float32)[:, None]
    ids = [f"n{i}" for i in range(6)]
    return {"train": SplitTensors(d[:4], w[:4], ids[:4]), "validation": SplitTensors(d[4:], w[4:], ids[4:])}


def _config(out: Path, **kwargs: object) -> TrainConfig:
    values = dict(model="LSTM-96", out=str(out), max_steps=2, batch_size=2, crop_seconds=0.05, val_every=2,
                  model_overrides={"hidden_size": 8}, tensorboard=False, seed=5, threads=1, lr=1e-5,
                  time_term="esr", alpha=1.0)
    values.update(kwargs)
    return TrainConfig(**values)


def test_training_from_the_modal_start_records_its_readout_fit(tmp_path: Path, tensors: dict) -> None:
    result = train(_config(tmp_path / "modal", recurrent_init="modal", modal_periods=10.0), splits=tensors,
                   sample_rate=FS, progress=False)
    reference = build("LSTM-96", seed=5, hidden_size=8)
    modal_init_(reference, FS, periods=10.0)
    expected = fit_readout_(reference, tensors["train"].dry, tensors["train"].wet)
    summary = result.summary
    assert summary["init_readout_esr"] == pytest.approx(expected, rel=1e-6)
    assert summary["config"]["recurrent_init"] == "modal" and summary["train_cpu_seconds"] > 0
    # The fitted start is validated as step 0, so best.pt can keep it.
    assert result.history[0]["step"] == 0 and np.isfinite(result.history[0]["val_esr"])
    assert len(result.history) == 2 and result.history[1]["step"] == 2
    default = train(_config(tmp_path / "default"), splits=tensors, sample_rate=FS, progress=False)
    assert default.summary["init_readout_esr"] is None


def test_a_modal_start_for_a_model_without_one_is_a_clear_error(tmp_path: Path, tensors: dict) -> None:
    with pytest.raises(TrainingError, match="recurrent models, not GCN-250"):
        train(_config(tmp_path / "g", model="GCN-250", recurrent_init="modal",
                      model_overrides={"num_layers": 2, "channels": 4}), splits=tensors, sample_rate=FS, progress=False)
    with pytest.raises(TrainingError, match="LSTM-cs-32: modal_init_ needs"):
        train(_config(tmp_path / "c", model="LSTM-cs-32", recurrent_init="modal"), splits=tensors,
              sample_rate=FS, progress=False)
    with pytest.raises(TrainingError, match="recurrent_init: input should be 'default' or 'modal' \\(got 'chrono'\\)"):
        train(_config(tmp_path / "x", recurrent_init="chrono"), splits=tensors, sample_rate=FS, progress=False)
