"""The least-squares FIR and the receptive-field bound against numpy's lstsq, and the whitening
loss against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.linalg import toeplitz

from springstudy.baselines import LinearIR, fft_convolve
from springstudy.bounds import BoundCache, add_bounds, bound_curve, bound_length, bound_markdown, gap_reading
from springstudy.evaluate import Evaluation, score_predictor, summarise
from springstudy.lstsq_fir import lstsq_fir
from springstudy.metrics import ThesisLoss, thesis_loss, whiten, whitening_filter
from springstudy.data.tensors import SplitTensors


def tonal_pairs(n: int = 8, length: int = 400, taps: int = 60, seed: int = 0,
                noise: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Decaying tones (a badly conditioned input) through a known FIR plus a mild nonlinearity and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    dry = np.stack([np.sin(2 * np.pi * f * t / length * 20) * np.exp(-t / 300) + 0.01 * rng.standard_normal(length)
                    for f in rng.uniform(0.5, 3.0, n)])
    h = rng.standard_normal(taps) * np.exp(-np.arange(taps) / 15)
    wet = fft_convolve(dry, h) + 0.01 * np.tanh(3 * dry) + noise * rng.standard_normal(dry.shape)
    return dry, wet


def numpy_ridge_fir(dry: np.ndarray, wet: np.ndarray, taps: int, ridge: float) -> np.ndarray:
    """argmin Σ‖y − (x ∗ h)[:T]‖² + ridge‖h‖² by numpy's lstsq on the explicit convolution matrix."""
    design = np.concatenate([toeplitz(x, np.r_[x[0], np.zeros(taps - 1)]) for x in dry])
    stacked = np.vstack([design, math.sqrt(ridge) * np.eye(taps)])
    return np.linalg.lstsq(stacked, np.r_[wet.ravel(), np.zeros(taps)], rcond=None)[0]


@pytest.mark.parametrize("regularisation", [0.0, 1e-6, 1e-3])
@pytest.mark.parametrize("taps", [20, 60, 200])
def test_lstsq_fir_equals_numpy_lstsq(regularisation, taps):
    dry, wet = tonal_pairs()
    h, info = lstsq_fir(dry[:, None], wet[:, None], taps, regularisation, tol=1e-10)
    assert info["converged"] and info["relative_residual"] < 1e-9
    reference = numpy_ridge_fir(dry, wet, taps, info["ridge"])
    np.testing.assert_allclose(h, reference, rtol=0, atol=1e-6 * np.abs(reference).max())


def test_lstsq_fir_without_the_spectra_cache_is_the_same():
    dry, wet = tonal_pairs(n=20)
    cached, _ = lstsq_fir(dry, wet, 50, 1e-6, tol=1e-10)
    streamed, info = lstsq_fir(dry, wet, 50, 1e-6, tol=1e-10, cache_bytes=0)
    assert not info["cached"]
    np.testing.assert_allclose(streamed, cached, atol=1e-9)


def test_linear_ir_lstsq_beats_h1_on_training_error():
    """The point of the change: cut to a short length, H1 is not the best filter of that length."""
    dry, wet = tonal_pairs(taps=120)
    errors = {}
    for method in ("lstsq", "h1"):
        fit = LinearIR.fit(dry, wet, ir_length=40, regularisation=1e-6, method=method)
        errors[method] = float(np.sum((fit.predict(dry)[:, 0] - wet) ** 2))
    assert errors["lstsq"] < errors["h1"]
    with pytest.raises(ValueError, match="method"):
        LinearIR.fit(dry, wet, method="wiener")


def test_lstsq_fir_rejects_bad_input():
    dry, wet = tonal_pairs()
    with pytest.raises(ValueError, match="length"):
        lstsq_fir(dry, wet, 401, 1e-6)
    with pytest.raises(ValueError, match="NaN"):
        bad = wet.copy()
        bad[0, 3] = np.nan
        lstsq_fir(dry, bad, 10, 1e-6)
    with pytest.raises(ValueError, match="silent"):
        lstsq_fir(np.zeros_like(dry), wet, 10, 1e-6)


# --- the bound beside the models --------------------------------------------------------------

def test_add_bounds_matches_independent_fits(monkeypatch):
    """bound_esr is the test ESR of numpy's least-squares FIR of the receptive field's length;
    the gap is the model's ESR over it; a recurrent model gets the item-long filter."""
    import springstudy.bounds as bounds

    dry, wet = tonal_pairs(n=12, length=1100, taps=80, seed=3, noise=0.05)   # > 1024 samples: MR-STFT
    to = lambda a: torch.tensor(a[:, None], dtype=torch.float64)  # noqa: E731
    train = SplitTensors(to(dry[:8]), to(wet[:8]), [f"t{i}" for i in range(8)])
    test = SplitTensors(to(dry[8:]), to(wet[8:]), [f"s{i}" for i in range(4)])
    fields = {"short": 30.0, "recurrent": math.inf}
    monkeypatch.setattr(bounds, "run_info", lambda run: (fields[run], f"recipe of {run}"))
    # two "models": silence (ESR 1) and the dry input itself
    scored = [score_predictor(lambda x, i: torch.zeros_like(x), test, "short", 1),
              score_predictor(lambda x, i: x.clone(), test, "recurrent", 1)]
    items = pd.concat([s.items for s in scored], ignore_index=True)
    evaluation = Evaluation("springset", 16000, items, {}, [], test, {}, train=train)
    summary = summarise(items, ("esr",), n_resamples=200)
    cache = BoundCache(train, 16000, 1e-6, tol=1e-6)
    out = add_bounds(summary, evaluation, {"short": "short", "recurrent": "recurrent"}, cache, n_resamples=200)
    for label, taps in (("short", 30), ("recurrent", 1100)):
        ridge = cache.fit(taps).fit_info["ridge"]           # relative to the mean spectrum on the solver's grid
        h = numpy_ridge_fir(dry[:8], wet[:8], taps, ridge)
        pred = fft_convolve(dry[8:], h)
        expected = np.mean(np.sum((wet[8:] - pred) ** 2, axis=1) / np.sum(wet[8:] ** 2, axis=1))
        row = out.set_index("model").loc[label]
        # the ridge objective on the training pairs is numpy's optimum
        objective = lambda f: np.sum((fft_convolve(dry[:8], f) - wet[:8]) ** 2) + ridge * np.sum(f ** 2)  # noqa: E731
        assert objective(cache.fit(taps).ir) == pytest.approx(objective(h), rel=1e-6)
        assert row["bound_esr"] == pytest.approx(expected, rel=1e-3)
        assert row["gap"] == pytest.approx(row["esr"] / row["bound_esr"], rel=1e-12)
        assert row["bound_esr_lo"] <= row["bound_esr"] <= row["bound_esr_hi"]
        assert row["gap_lo"] <= row["gap"] <= row["gap_hi"]
    assert out.set_index("model").loc["recurrent", "receptive_field_s"] == math.inf
    assert gap_reading(out) == {"short": "training", "recurrent": "training"}
    assert "whole item" in bound_markdown(out, 16000)
    from springstudy.evaluate import results_markdown

    text = results_markdown(out, metrics=("esr",))
    assert "Bound ESR" in text and "Trained with recipe of short: short." in text
    curve = bound_curve(cache, test, lengths=[10, 30, 1100])
    assert list(curve["length"]) == [10, 30, 1100]
    assert set(bound_curve(cache, test, points=3)["length"]) >= {30, 1100}     # the models' lengths, reused
    assert curve["esr"].is_monotonic_decreasing          # more taps fit the training set better, and here test too
    assert bound_length(math.inf, 400) == 400 and bound_length(1000.0, 400) == 400 and bound_length(30.0, 400) == 30
    ridge_short = cache.fit(30).fit_info["ridge"]
    assert ridge_short > 0


def test_run_info_reads_the_receptive_field_and_recipe_of_a_trained_run(tmp_path):
    from springstudy.bounds import run_info
    from springstudy.models import build
    from springstudy.train import TrainConfig, recipe_label, train

    dry, wet = tonal_pairs(n=6, length=1100, seed=5)      # > 1024 samples: the summary's MR-STFT
    to = lambda a: torch.tensor(a[:, None], dtype=torch.float32)  # noqa: E731
    splits = {"train": SplitTensors(to(dry[:4]), to(wet[:4]), list("abcd")),
              "validation": SplitTensors(to(dry[4:]), to(wet[4:]), list("ef"))}
    overrides = {"num_layers": 2, "channels": 4}
    config = TrainConfig(model="GCN-250", out=str(tmp_path / "run"), max_steps=2, batch_size=2, crop_seconds=None,
                         alpha=1.0, time_term="esr", model_overrides=overrides, tensorboard=False, threads=1)
    train(config, splits=splits, sample_rate=16000, progress=False)
    field, recipe = run_info(tmp_path / "run")
    assert field == build("GCN-250", **overrides).receptive_field
    assert recipe == recipe_label(config)


# --- the whitened ESR loss -------------------------------------------------------------------

def test_whitening_filter_recovers_an_ar_process():
    """An AR(2) process x[n] = 1.5x[n−1] − 0.8x[n−2] + e[n]: its prediction-error filter is [1, −1.5, 0.8]."""
    rng = np.random.default_rng(0)
    from scipy.signal import lfilter

    x = lfilter([1.0], [1.0, -1.5, 0.8], rng.standard_normal((4, 50_000)), axis=-1)
    a = whitening_filter(x, order=2)
    np.testing.assert_allclose(a, [1.0, -1.5, 0.8], atol=0.01)
    # a higher order finds nothing more
    np.testing.assert_allclose(whitening_filter(x, order=6)[3:], 0.0, atol=0.01)
    with pytest.raises(ValueError, match="silent"):
        whitening_filter(np.zeros((2, 100)), 4)


def test_whitened_esr_equals_its_closed_form():
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal((2, 1, 300)), rng.standard_normal((2, 1, 300))
    a = np.array([1.0, -0.9, 0.3])
    flat = lambda s: np.stack([np.convolve(r[0], a)[:300] for r in s])  # noqa: E731
    expected = np.sum((flat(target) - flat(pred)) ** 2) / (np.sum(flat(target) ** 2) + 1e-8)
    got = thesis_loss(torch.tensor(pred), torch.tensor(target), alpha=1.0, time_term="esr_white", whitening=a)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(whiten(torch.tensor(pred), torch.tensor(a)).numpy()[:, 0], flat(pred), atol=1e-12)
    with pytest.raises(ValueError, match="whitening"):
        ThesisLoss(1.0, "esr_white")
    with pytest.raises(ValueError, match="whitening"):
        ThesisLoss(1.0, "esr", whitening=a)
