"""Losses and evaluation metrics: each defined once, cited, and imported everywhere else.

Every metric takes ``pred`` and ``target`` shaped (B, C, T) (or (C, T) / (T,), promoted) and
returns one value per item, shape (B,), averaged over channels; evaluation then averages per
item over the whole test split (no per-batch means, no dropped last batch). Where auraloss
defines the same quantity it is used directly (ESR, DC, STFT, MR-STFT), per item, so numbers
match auraloss exactly. Training losses (:func:`thesis_loss`) reduce over the batch.

References:
    Wright and Välimäki, "Perceptual loss function for neural modelling of audio systems",
    ICASSP 2020 (arXiv:1911.08922): ESR eq. (1), DC eq. (2), pre-emphasis eq. (3).
    Arik et al., "Fast spectrogram inversion using multi-head CNNs", IEEE SPL 2019
    (arXiv:1808.06719): spectral convergence and log-magnitude STFT losses.
    Yamamoto et al., "Parallel WaveGAN", ICASSP 2020 (arXiv:1910.11480): multi-resolution STFT.
    Thesis eq. 3.1: training loss α·MAE + (1 − α)·MR-STFT with α = 0.5.
"""

from __future__ import annotations

from collections.abc import Callable

import auraloss
import numpy as np
import torch
from torch import Tensor

#: auraloss defaults for MR-STFT, as the thesis used them (FFT, hop, window lengths).
MRSTFT_FFT_SIZES = (1024, 2048, 512)
MRSTFT_HOP_SIZES = (120, 240, 50)
MRSTFT_WIN_LENGTHS = (600, 1200, 240)
#: Pre-emphasis coefficient used when none is given (Wright and Välimäki use 0.85 at 44.1 kHz;
#: params.yaml's ``metrics.pre_emphasis`` sets the study's value).
DEFAULT_PRE_EMPHASIS = 0.85


def _bct(x: Tensor | np.ndarray) -> Tensor:
    x = torch.as_tensor(x)
    if x.ndim == 1:
        return x[None, None]
    if x.ndim == 2:
        return x[None]
    if x.ndim != 3:
        raise ValueError(f"expected (B, C, T), (C, T) or (T,), got shape {tuple(x.shape)}")
    return x


def _pair(pred: Tensor | np.ndarray, target: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    p, t = _bct(pred), _bct(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    if not (torch.isfinite(p).all() and torch.isfinite(t).all()):
        raise ValueError("prediction or target contains NaN or Inf")
    dtype = torch.promote_types(p.dtype, torch.float32)
    return p.to(dtype), t.to(dtype)


def mae(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error per item: mean |ŷ − y| over channels and time. Shape (B,)."""
    p, t = _pair(pred, target)
    return (p - t).abs().mean(dim=(-2, -1))


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per item: mean (ŷ − y)² over channels and time. Shape (B,)."""
    p, t = _pair(pred, target)
    return ((p - t) ** 2).mean(dim=(-2, -1))


def esr(pred: Tensor, target: Tensor) -> Tensor:
    """Error-to-signal ratio per item, Σ(y − ŷ)² / (Σy² + ε) (Wright and Välimäki 2020, eq. 1).

    auraloss.time.ESRLoss (ε = 1e-8). Silence predicted for any target gives 1; the thesis's
    Naive baseline (dry as prediction) scored 1.396, i.e. worse than silence. Shape (B,).
    """
    p, t = _pair(pred, target)
    return auraloss.time.ESRLoss(reduction="none")(p, t).mean(dim=-1)


def dc(pred: Tensor, target: Tensor) -> Tensor:
    """DC error per item, |mean(y − ŷ)|² / (mean(y²) + ε) (Wright and Välimäki 2020, eq. 2).

    auraloss.time.DCLoss (ε = 1e-8). Shape (B,).
    """
    p, t = _pair(pred, target)
    return auraloss.time.DCLoss(reduction="none")(p, t).mean(dim=-1)


def pre_emphasis(x: Tensor, coef: float = DEFAULT_PRE_EMPHASIS) -> Tensor:
    """First-order high-pass pre-emphasis H(z) = 1 − coef·z⁻¹ (Wright and Välimäki 2020, eq. 3).

    Causal, zero initial state: y[0] = x[0], y[n] = x[n] − coef·x[n−1]. Shape preserved.
    """
    x = torch.as_tensor(x)
    previous = torch.nn.functional.pad(x[..., :-1], (1, 0))
    return x - coef * previous


def esr_pre_emphasis(pred: Tensor, target: Tensor, coef: float = DEFAULT_PRE_EMPHASIS) -> Tensor:
    """ESR after applying the same pre-emphasis filter to prediction and target. Shape (B,)."""
    p, t = _pair(pred, target)
    return esr(pre_emphasis(p, coef), pre_emphasis(t, coef))


def whitening_filter(dry: Tensor | np.ndarray, order: int = 32) -> np.ndarray:
    """The linear-prediction error filter A(z) = 1 + a₁z⁻¹ + … + a_p z⁻ᵖ of the dry signals.

    Autocorrelation method (Makhoul, "Linear prediction: a tutorial review", Proc. IEEE 63(4),
    1975, eq. 37): the Yule–Walker equations on the autocorrelation summed over every item
    (N, 1, T), (N, T) or (T,), solved by Levinson recursion (scipy's ``solve_toeplitz``), with a
    −60 dB white-noise floor on lag 0 so that silent bands do not make it unstable. Filtering a
    signal with A(z) flattens the dry signals' mean spectrum (their prediction error is nearly
    white). Returns the p + 1 coefficients, float64, leading 1.
    """
    from scipy.linalg import solve_toeplitz

    x = np.asarray(dry.detach().cpu().numpy() if isinstance(dry, Tensor) else dry, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    if order < 1 or order >= x.shape[-1]:
        raise ValueError(f"whitening order must lie in [1, {x.shape[-1] - 1}], not {order}")
    n_fft = 1 << int(np.ceil(np.log2(2 * x.shape[-1])))
    power = np.sum(np.abs(np.fft.rfft(x, n_fft, axis=-1)) ** 2, axis=0)
    r = np.fft.irfft(power, n_fft)[:order + 1]
    if not r[0] > 0:
        raise ValueError("the dry signals are silent: no whitening filter can be estimated")
    r[0] *= 1.0 + 1e-6
    a = solve_toeplitz(r[:order], -r[1:order + 1])
    return np.concatenate([[1.0], a])


def whiten(x: Tensor, coefficients: Tensor) -> Tensor:
    """``x`` (B, C, T) filtered causally by the FIR ``coefficients`` (zero initial state), differentiable."""
    kernel = coefficients.to(dtype=x.dtype, device=x.device).flip(0).reshape(1, 1, -1)
    b, c, t = x.shape
    padded = torch.nn.functional.pad(x.reshape(b * c, 1, t), (kernel.shape[-1] - 1, 0))
    return torch.nn.functional.conv1d(padded, kernel).reshape(b, c, t)


def _per_item(loss: torch.nn.Module, pred: Tensor, target: Tensor) -> Tensor:
    # auraloss's spectral convergence is a Frobenius norm over the whole batch: evaluate per item.
    return torch.stack([loss(pred[i:i + 1], target[i:i + 1]) for i in range(pred.shape[0])])


def stft_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Single-resolution STFT loss per item: spectral convergence + L1 log magnitude (Arik et al.
    2019), auraloss.freq.STFTLoss defaults (FFT 1024, hop 256, Hann window 1024). Shape (B,)."""
    p, t = _pair(pred, target)
    return _per_item(auraloss.freq.STFTLoss(), p, t)


def mr_stft(pred: Tensor, target: Tensor) -> Tensor:
    """Multi-resolution STFT loss per item (Yamamoto et al. 2020), auraloss defaults: FFT
    1024/2048/512, hops 120/240/50, windows 600/1200/240, mean of the three. Shape (B,)."""
    p, t = _pair(pred, target)
    return _per_item(_mr_stft_module(), p, t)


def _mr_stft_module() -> auraloss.freq.MultiResolutionSTFTLoss:
    return auraloss.freq.MultiResolutionSTFTLoss(fft_sizes=list(MRSTFT_FFT_SIZES), hop_sizes=list(MRSTFT_HOP_SIZES),
                                                 win_lengths=list(MRSTFT_WIN_LENGTHS))


#: Time-domain terms :class:`ThesisLoss` can pair with MR-STFT.
TIME_TERMS = ("mae", "esr", "esr_white")


class ThesisLoss(torch.nn.Module):
    """Training loss α·MAE + (1 − α)·MR-STFT (thesis eq. 3.1; α = 0.5 there), batch-reduced.

    MAE is torch's L1 over the batch; MR-STFT is auraloss's module over the batch.
    ``time_term="esr"`` replaces MAE by the batch's ESR (Wright and Välimäki 2020): on
    normalised audio MAE is about 1/100 of MR-STFT, so eq. 3.1 is in effect phase-blind, and a
    model trained on it can match spectra while its ESR stays above 1 (worse than silence).
    ``time_term="esr_white"`` is the batch's ESR after filtering prediction and target alike by
    ``whitening`` (the dry signals' :func:`whitening_filter`): for a linear model y = h ∗ x it
    equals the ESR of a model trained on whitened input, so the curvature of the loss no longer
    follows the input's spectrum (tonal notes make it span many decades, which is what slows
    gradient descent), while its minimiser stays the device where the model can represent it.
    """

    def __init__(self, alpha: float = 0.5, time_term: str = "mae", whitening: Tensor | np.ndarray | None = None) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if time_term not in TIME_TERMS:
            raise ValueError(f"time_term must be one of {', '.join(TIME_TERMS)}, got {time_term!r}")
        if (time_term == "esr_white") != (whitening is not None):
            raise ValueError("time_term 'esr_white' needs its whitening filter, and only it takes one")
        self.alpha = alpha
        self.time_term = time_term
        self.mr_stft = _mr_stft_module()
        self.whitening = None if whitening is None else torch.as_tensor(np.asarray(whitening), dtype=torch.float32)

    def forward(self, pred: Tensor, target: Tensor, item_power: Tensor | None = None) -> Tensor:
        """The loss of a (B, C, T) batch. ``item_power`` (B,), with ``time_term="esr"``: each
        crop's whole item's mean square target, the ESR's denominator in place of the crops' own
        energy (see :func:`crop_esr`)."""
        if self.time_term == "esr_white":
            flat_pred, flat_target = whiten(pred, self.whitening), whiten(target, self.whitening)
            time = esr(flat_pred.reshape(1, 1, -1), flat_target.reshape(1, 1, -1))[0]
        elif self.time_term == "esr" and item_power is not None:
            time = crop_esr(pred, target, item_power)
        elif self.time_term == "esr":
            # over the whole batch (as one item): a crop that falls in an item's silent fade-out
            # has a near-zero denominator of its own
            time = esr(pred.reshape(1, 1, -1), target.reshape(1, 1, -1))[0]
        else:
            time = torch.nn.functional.l1_loss(pred, target)
        if self.alpha == 1.0:
            return time
        return self.alpha * time + (1.0 - self.alpha) * self.mr_stft(pred, target)


def crop_esr(pred: Tensor, target: Tensor, item_power: Tensor) -> Tensor:
    """ESR of a batch of crops against their whole items' power: ``Σ (ŷ − y)² / Σ_b P_b·T``.

    ``item_power`` (B,) is each crop's item's mean square target and T the crop length. A crop
    in an item's quiet fade-out then weighs what it weighs in that item's ESR, where the batch's
    own energy (:func:`esr` over the batch) would divide by nearly nothing: two such crops in
    one batch made 48 kHz training diverge. On whole items (P_b·T = Σ y_b²) it equals the batch
    ESR exactly; over many crops its mean approaches the items' error power over their power.
    """
    if item_power.shape != (pred.shape[0],):
        raise ValueError(f"item_power must have one value per crop ({pred.shape[0]}), got {tuple(item_power.shape)}")
    error = (pred - target).pow(2).sum()
    return error / (item_power.sum() * pred[0].numel()).clamp_min(torch.finfo(pred.dtype).tiny)


def thesis_loss(pred: Tensor, target: Tensor, alpha: float = 0.5, time_term: str = "mae",
                whitening: Tensor | np.ndarray | None = None) -> Tensor:
    """Functional form of :class:`ThesisLoss` (a scalar)."""
    return ThesisLoss(alpha, time_term, whitening)(*_pair(pred, target))


#: The metrics reported in every table, in column order, with their per-item functions.
METRICS: dict[str, Callable[..., Tensor]] = {
    "mae": mae,
    "mse": mse,
    "esr": esr,
    "dc": dc,
    "esr_pre": esr_pre_emphasis,
    "stft": stft_loss,
    "mr_stft": mr_stft,
}


@torch.no_grad()
def compute_all(pred: Tensor, target: Tensor, pre_emphasis_coef: float = DEFAULT_PRE_EMPHASIS,
                reduction: str = "mean") -> dict[str, float] | dict[str, np.ndarray]:
    """Every metric in :data:`METRICS` for ``pred`` against ``target``.

    ``reduction="mean"`` gives floats averaged over items; ``"none"`` gives per-item arrays.
    """
    p, t = _pair(pred, target)
    values = {}
    for name, fn in METRICS.items():
        v = fn(p, t, pre_emphasis_coef) if name == "esr_pre" else fn(p, t)
        values[name] = v.double().cpu().numpy()
    if reduction == "none":
        return values
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return {name: float(v.mean()) for name, v in values.items()}
