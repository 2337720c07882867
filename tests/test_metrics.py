"""Metrics against closed forms, numpy re-derivations and auraloss itself."""

from __future__ import annotations

import auraloss
import numpy as np
import pytest
import torch
from scipy import signal

from springstudy import metrics

torch.manual_seed(0)
B, T = 3, 8000


@pytest.fixture()
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    target = torch.randn(B, 1, T, generator=g) * torch.linspace(1, 0.1, T)
    pred = target + 0.1 * torch.randn(B, 1, T, generator=g)
    return pred, target


def test_identical_signals_score_zero(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, target = pair
    for name, value in metrics.compute_all(target, target).items():
        assert value == pytest.approx(0.0, abs=1e-6), name


def test_time_metrics_match_numpy_formulas(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    pred, target = pair
    p, t = pred.double().numpy()[:, 0], target.double().numpy()[:, 0]
    assert np.allclose(metrics.mae(pred, target), np.abs(p - t).mean(-1), rtol=1e-6)
    assert np.allclose(metrics.mse(pred, target), ((p - t) ** 2).mean(-1), rtol=1e-6)
    assert np.allclose(metrics.esr(pred, target), ((t - p) ** 2).sum(-1) / (t**2).sum(-1), rtol=1e-5)
    assert np.allclose(metrics.dc(pred, target), (t - p).mean(-1) ** 2 / (t**2).mean(-1), rtol=1e-4)


def test_esr_of_silence_is_one_and_dc_of_offset(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, target = pair
    assert torch.allclose(metrics.esr(torch.zeros_like(target), target), torch.ones(B), atol=1e-6)
    offset = 0.25
    expected = offset**2 / (target**2).mean(dim=(-2, -1))
    assert torch.allclose(metrics.dc(target + offset, target), expected, rtol=1e-5)
    # A pure offset has no spectral shape error beyond DC: MAE equals the offset exactly.
    assert torch.allclose(metrics.mae(target + offset, target), torch.full((B,), offset), atol=1e-6)


def test_metrics_match_auraloss_per_item(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    pred, target = pair
    for i in range(B):
        p, t = pred[i:i + 1], target[i:i + 1]
        assert metrics.esr(p, t).item() == pytest.approx(auraloss.time.ESRLoss()(p, t).item(), abs=1e-6)
        assert metrics.dc(p, t).item() == pytest.approx(auraloss.time.DCLoss()(p, t).item(), abs=1e-6)
        assert metrics.stft_loss(p, t).item() == pytest.approx(auraloss.freq.STFTLoss()(p, t).item(), abs=1e-6)
        assert metrics.mr_stft(p, t).item() == pytest.approx(
            auraloss.freq.MultiResolutionSTFTLoss()(p, t).item(), abs=1e-6)


def test_thesis_loss_is_half_l1_half_mrstft(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    pred, target = pair
    expected = 0.5 * torch.nn.functional.l1_loss(pred, target) + \
        0.5 * auraloss.freq.MultiResolutionSTFTLoss()(pred, target)
    assert metrics.thesis_loss(pred, target).item() == pytest.approx(expected.item(), abs=1e-6)
    assert metrics.thesis_loss(pred, target, alpha=1.0).item() == pytest.approx(
        torch.nn.functional.l1_loss(pred, target).item(), abs=1e-7)
    with pytest.raises(ValueError, match="alpha"):
        metrics.ThesisLoss(alpha=1.5)


def test_esr_time_term_is_the_batch_error_to_signal_ratio(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """time_term="esr": Σ over the whole batch of (ŷ − y)² over Σ y² (numpy), mixed with MR-STFT."""
    pred, target = pair
    p, t = pred.double().numpy(), target.double().numpy()
    batch_esr = float(((p - t) ** 2).sum() / (t ** 2).sum())
    assert metrics.thesis_loss(pred, target, alpha=1.0, time_term="esr").item() == pytest.approx(batch_esr, rel=1e-5)
    mixed = 0.9 * batch_esr + 0.1 * auraloss.freq.MultiResolutionSTFTLoss()(pred, target).item()
    assert metrics.thesis_loss(pred, target, alpha=0.9, time_term="esr").item() == pytest.approx(mixed, rel=1e-5)
    # silence predicted: exactly 1, whatever the batch
    assert metrics.thesis_loss(torch.zeros_like(target), target, alpha=1.0, time_term="esr").item() == \
        pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="time_term"):
        metrics.ThesisLoss(time_term="mse")


def test_pre_emphasis_is_causal_first_order_fir(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    pred, target = pair
    coef = 0.9
    expected = signal.lfilter([1.0, -coef], [1.0], target.double().numpy(), axis=-1)
    assert np.allclose(metrics.pre_emphasis(target.double(), coef).numpy(), expected, atol=1e-12)
    p = metrics.pre_emphasis(pred.double(), coef).numpy()
    esr_expected = ((expected - p) ** 2).sum(-1)[:, 0] / (expected**2).sum(-1)[:, 0]
    assert np.allclose(metrics.esr_pre_emphasis(pred.double(), target.double(), coef), esr_expected, rtol=1e-6)


def test_compute_all_averages_per_item_not_per_batch() -> None:
    # One loud item predicted well, one quiet item predicted badly: the per-item mean of ESR
    # differs from the ESR of the concatenated batch, and compute_all gives the per-item mean.
    g = torch.Generator().manual_seed(2)
    target = torch.stack([torch.randn(1, T, generator=g) * 10, torch.randn(1, T, generator=g) * 0.01])
    pred = target.clone()
    pred[1] = 0.0
    per_item = metrics.compute_all(pred, target, reduction="none")
    assert per_item["esr"].shape == (2,)
    assert metrics.compute_all(pred, target)["esr"] == pytest.approx(0.5, abs=1e-6)
    pooled = ((target - pred) ** 2).sum() / (target**2).sum()
    assert pooled.item() < 1e-5


def test_bad_shapes_and_non_finite_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.mae(torch.zeros(1, 1, 10), torch.zeros(1, 1, 11))
    bad = torch.zeros(1, 1, 10)
    bad[0, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        metrics.compute_all(bad, torch.zeros(1, 1, 10))


def test_crop_esr_divides_by_the_items_power() -> None:
    # Two items of known power (a sine of amplitude a has mean square a²/2); crops of 100
    # samples with errors of known energy.
    t = torch.arange(1000, dtype=torch.float64)
    items = torch.stack([2.0 * torch.sin(0.05 * t), 0.5 * torch.sin(0.11 * t)])[:, None]
    power = items.pow(2).mean(dim=(1, 2))
    np.testing.assert_allclose(power.numpy(), [2.0, 0.125], rtol=1e-2)
    target = items[..., 400:500]
    pred = target + torch.tensor([0.1, -0.2], dtype=torch.float64)[:, None, None]  # error energy 100*(0.01+0.04)
    value = metrics.crop_esr(pred, target, power)
    assert float(value) == pytest.approx(100 * 0.05 / (float(power.sum()) * 100), rel=1e-12)
    # on whole items it is the batch ESR
    whole_pred = items + 0.1 * torch.cos(0.07 * t)
    batch = metrics.esr(whole_pred.reshape(1, 1, -1), items.reshape(1, 1, -1))[0]
    assert float(metrics.crop_esr(whole_pred, items, power)) == pytest.approx(float(batch), rel=1e-12)
    # the loss uses it for the ESR term only when given the powers
    loss = metrics.ThesisLoss(1.0, "esr")
    assert float(loss(pred, target, power)) == pytest.approx(float(value), rel=1e-12)
    assert float(loss(pred, target)) == pytest.approx(
        float(metrics.esr(pred.reshape(1, 1, -1), target.reshape(1, 1, -1))[0]), rel=1e-12)
    with pytest.raises(ValueError, match="one value per crop"):
        metrics.crop_esr(pred, target, power[:1])


def test_crop_esr_stays_bounded_on_quiet_crops() -> None:
    # A crop from an item's fade-out: the batch's own ESR explodes, the item-power ESR does not.
    t = torch.arange(4800, dtype=torch.float64)
    item = (torch.exp(-t / 300) * torch.sin(0.2 * t))[None, None]
    power = item.pow(2).mean(dim=(1, 2))
    target = item[..., 4000:4400]
    pred = target + 1e-3
    own = metrics.esr(pred, target)[0]
    assert float(own) > 1e4
    assert float(metrics.crop_esr(pred, target, power)) < 1e-3
