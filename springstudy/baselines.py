"""Baselines (thesis §4.1.1, Table 8) and two stronger ones, Silence and Linear IR.

Every baseline is a *predictor*: called with a batch of dry items (B, 1, T) and their item
indices in the split, it returns the predicted wet items (B, 1, T). Evaluation
(:mod:`springstudy.evaluate`) scores predictors and trained models alike, per item.

* **Naive** (thesis: "inspired by scikit-learn's DummyRegressor"): the dry input itself as the
  prediction. The thesis computed it the other way round ("a prediction that corresponds to the
  wet sample and a target replaced by the dry sample"), so its ESR is normalised by the *dry*
  energy; ours scores the dry input against the wet target, as every model is scored.
* **Noise ceiling** (the thesis's "topline"): seeded white noise, uniform on (−a, a), independent
  of input and target. The thesis does not give its range; ours is a parameter, by default
  a = √3 · RMS of the training targets, i.e. noise with the training targets' mean power, so that
  on a test item of the same power its expected ESR is 2 (expected MSE = a²/3 + mean(y²)).
* **TCN-baseline**: the TCN-1800 structure trained for 2500 steps on the training items
  concatenated into one sequence, without validation (``TrainConfig(validate=False)``).
* **Silence** (added): all zeros. Its ESR is exactly 1 for any target, so a Naive ESR above 1
  (the thesis's 1.396) is worse than predicting nothing.
* **Linear IR** (added): the best linear time-invariant fit of the device: the FIR of the
  given length (default: the item length) that minimises the squared error on the training
  pairs, ridge-regularised only where the notes carry no energy
  (:func:`springstudy.lstsq_fir.lstsq_fir`), convolved with the dry input. A model that cannot
  beat it has not learned the tank's nonlinearity. ``method="h1"`` gives the earlier spectral
  estimate instead (the H1 estimator H = G_xy / G_xx of Bendat and Piersol, "Random Data", 4th
  ed., 2010, cut to length), which solves the same problem only for an unlimited filter length;
  cut to a few hundred or thousand taps its training error is 1.2–1.7× the least-squares one.
  The calibration against the real device keeps H1, as the real-device figures were measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import fft as sfft

from springstudy.lstsq_fir import as_items as _as_items

#: Baseline names as the tables print them, in Table 8 order (thesis first, ours after).
BASELINES = ("TCN-baseline", "Naive", "Noise ceiling", "Silence", "Linear IR")
#: Baselines that need no training loop (fitted in closed form or fixed): cheap to recompute.
CLOSED_FORM_BASELINES = ("Naive", "Noise ceiling", "Silence", "Linear IR")
#: Training steps of the thesis's TCN-baseline (§4.1.1).
TCN_BASELINE_STEPS = 2500
#: Steps between ``last.pt`` checkpoints of the TCN-baseline (it has no validation to time them).
TCN_BASELINE_CHECKPOINT_EVERY = 250
#: Default Tikhonov floor of the Linear IR fit, relative to the mean input auto-spectrum (−60 dB).
LINEAR_IR_REGULARISATION = 1e-6
#: Training pairs transformed at a time by the Linear IR fit (bounds its memory).
LINEAR_IR_CHUNK = 16
#: How the Linear IR is fitted: least squares of its length (default) or the H1 spectral estimate.
LINEAR_IR_METHODS = ("lstsq", "h1")

#: A predictor: (dry (B, 1, T), item indices) -> prediction (B, 1, T).
Predictor = Callable[[torch.Tensor, Sequence[int]], torch.Tensor]


# --- fixed baselines ------------------------------------------------------------------------

@dataclass
class Naive:
    """The dry input as the prediction (thesis §4.1.1, Naive baseline). No parameters."""

    name: str = "Naive"
    params: int = 0

    def __call__(self, dry: torch.Tensor, indices: Sequence[int] | None = None) -> torch.Tensor:
        return dry.clone()


@dataclass
class Silence:
    """All zeros: ESR = Σ(y − 0)² / Σy² = 1 for every target (up to auraloss's ε = 1e-8)."""

    name: str = "Silence"
    params: int = 0

    def __call__(self, dry: torch.Tensor, indices: Sequence[int] | None = None) -> torch.Tensor:
        return torch.zeros_like(dry)


def rms(x: torch.Tensor | np.ndarray) -> float:
    """Root mean square over every sample of ``x``."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return float(torch.sqrt(torch.mean(x ** 2)))


@dataclass
class NoiseCeiling:
    """Seeded white noise uniform on (−amplitude, amplitude), independent of input and target
    (thesis §4.1.1, "Noise ceiling"). Item ``i`` always gets the noise of
    ``numpy.random.default_rng([seed, i])``, whatever the batch it comes in.

    Against a target y its expected MSE is amplitude²/3 + mean(y²) (noise variance plus target
    power; the cross term vanishes in expectation), its expected ESR 1 + amplitude²/(3·mean(y²)).
    """

    amplitude: float
    seed: int = 0
    name: str = "Noise ceiling"
    params: int = 0

    def __post_init__(self) -> None:
        if not self.amplitude > 0:
            raise ValueError(f"noise amplitude must be positive, not {self.amplitude}")

    @classmethod
    def matched_to(cls, wet: torch.Tensor | np.ndarray, seed: int = 0) -> NoiseCeiling:
        """Noise with the mean power of ``wet`` (the training targets): amplitude = √3 · RMS."""
        level = rms(wet)
        if level == 0:
            raise ValueError("the training targets are silent: cannot match the noise level to them")
        return cls(amplitude=math.sqrt(3.0) * level, seed=seed)

    def __call__(self, dry: torch.Tensor, indices: Sequence[int] | None = None) -> torch.Tensor:
        indices = range(dry.shape[0]) if indices is None else indices
        if len(indices) != dry.shape[0]:
            raise ValueError(f"{len(indices)} indices for a batch of {dry.shape[0]}")
        noise = [np.random.default_rng([self.seed, int(i)]).uniform(-self.amplitude, self.amplitude, dry.shape[1:])
                 for i in indices]
        return torch.as_tensor(np.stack(noise), dtype=dry.dtype)


# --- Linear IR ------------------------------------------------------------------------------



def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Causal linear convolution of each row of ``x`` (N, T) with ``h``, truncated to T samples
    (a length-T input is observed for T samples, as in the datasets)."""
    n = x.shape[-1]
    n_fft = sfft.next_fast_len(n + h.size - 1, real=True)
    return sfft.irfft(sfft.rfft(x, n_fft, axis=-1) * sfft.rfft(h, n_fft), n_fft, axis=-1)[..., :n]


@dataclass
class LinearIR:
    """The best linear time-invariant fit of the device: an impulse response ``ir`` convolved
    with the dry input. ``params`` is the number of taps (the fit's free parameters)."""

    ir: np.ndarray
    sample_rate: int | None = None
    regularisation: float = LINEAR_IR_REGULARISATION
    name: str = "Linear IR"
    fit_info: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> int:
        return int(self.ir.size)

    @classmethod
    def fit(cls, dry: torch.Tensor | np.ndarray, wet: torch.Tensor | np.ndarray, ir_length: int | None = None,
            regularisation: float = LINEAR_IR_REGULARISATION, sample_rate: int | None = None,
            chunk: int = LINEAR_IR_CHUNK, method: str = "lstsq", tol: float | None = None) -> LinearIR:
        """Fit the impulse response to training pairs (N, 1, T).

        ``method="lstsq"`` (default): the least-squares FIR of ``ir_length`` taps (default: the
        item length), :func:`springstudy.lstsq_fir.lstsq_fir`, ridge μ = ``regularisation`` ·
        mean input power spectrum, solved to the relative residual ``tol`` (default:
        :data:`springstudy.lstsq_fir.DEFAULT_TOLERANCE`); ``fit_info`` records the solver's
        iterations and residual.

        ``method="h1"``: with X_i, Y_i the spectra of the zero-padded dry and wet items (FFT size >= 2T, so the
        spectral products are linear, not circular, correlations),

            H(f) = Σ_i conj(X_i) Y_i / (Σ_i |X_i|² + λ · mean_f Σ_i |X_i|²),

        the Wiener / H1 estimate (Bendat and Piersol 2010) averaged over pairs, with a
        Tikhonov floor λ (``regularisation``) where the notes carry no energy, and H(0) taken
        from the lowest bin above it (DC-free items leave it unobserved). The IR is the
        first ``ir_length`` samples of its inverse FFT (default: the item length). Pairs are
        accumulated ``chunk`` at a time, so memory does not grow with the dataset.
        """
        if tuple(dry.shape) != tuple(wet.shape):
            raise ValueError(f"dry {tuple(dry.shape)} and wet {tuple(wet.shape)} differ in shape")
        if not regularisation >= 0:
            raise ValueError(f"regularisation must be >= 0, not {regularisation}")
        if dry.ndim == 1:
            dry, wet = dry[None], wet[None]
        n_items, n = dry.shape[0], dry.shape[-1]
        length = n if ir_length is None else int(ir_length)
        if not 0 < length <= n:
            raise ValueError(f"ir_length must lie in [1, {n}] (the item length), not {ir_length}")
        if method not in LINEAR_IR_METHODS:
            raise ValueError(f"method must be one of {', '.join(LINEAR_IR_METHODS)}, not {method!r}")
        if method == "lstsq":
            from springstudy.lstsq_fir import DEFAULT_TOLERANCE, lstsq_fir

            h, solver = lstsq_fir(dry, wet, length, regularisation, DEFAULT_TOLERANCE if tol is None else tol)
            info = {"items": n_items, "item_length": n, "ir_length": length, "regularisation": regularisation,
                    "method": method, **solver}
            return cls(ir=h, sample_rate=sample_rate, regularisation=regularisation, fit_info=info)
        n_fft = sfft.next_fast_len(2 * n, real=True)
        sxx = np.zeros(n_fft // 2 + 1)
        sxy = np.zeros(n_fft // 2 + 1, dtype=np.complex128)
        for start in range(0, n_items, chunk):
            x = sfft.rfft(_as_items(dry[start:start + chunk]), n_fft, axis=-1)
            y = sfft.rfft(_as_items(wet[start:start + chunk]), n_fft, axis=-1)
            sxx += np.sum(x.real ** 2 + x.imag ** 2, axis=0)
            sxy += np.sum(np.conj(x) * y, axis=0)
        if not sxx.mean() > 0:
            raise ValueError("the dry training items are silent: no impulse response can be estimated")
        floor = regularisation * float(sxx.mean())
        response = sxy / (sxx + floor)
        # The items are DC-free (RemoveDC), so H(0) is unobservable and the estimate above sets it
        # to ~0; on the n_fft grid that is a constant −H(0)/n_fft on every tap, which the
        # truncation to ``length`` taps turns into a real error. Continuity from the lowest
        # observed bin removes it (a DC-blocked device, as a tank is, has H(bin 1) ≈ 0 anyway).
        response[0] = response[1].real
        h = sfft.irfft(response, n_fft)[:length]
        info = {"items": n_items, "item_length": n, "fft_size": n_fft, "ir_length": length,
                "regularisation": regularisation, "method": method}
        return cls(ir=h, sample_rate=sample_rate, regularisation=regularisation, fit_info=info)

    def predict(self, dry: torch.Tensor | np.ndarray) -> np.ndarray:
        """The dry items (N, 1, T) convolved with the impulse response, float64 (N, 1, T)."""
        return fft_convolve(_as_items(dry), self.ir)[:, None, :]

    def __call__(self, dry: torch.Tensor, indices: Sequence[int] | None = None) -> torch.Tensor:
        return torch.as_tensor(self.predict(dry), dtype=dry.dtype)


def ir_error_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Relative error energy of an IR estimate, 10·log10(Σ(ĥ − h)² / Σh²), over the longer of
    the two (the shorter zero-padded)."""
    n = max(estimate.size, reference.size)
    e = np.zeros(n)
    r = np.zeros(n)
    e[:estimate.size] = estimate
    r[:reference.size] = reference
    return float(10.0 * np.log10(np.sum((e - r) ** 2) / np.sum(r ** 2)))


# --- TCN-baseline ---------------------------------------------------------------------------

def concatenate_items(split: Any) -> Any:
    """The items of a :class:`~springstudy.train.SplitTensors` joined end to end into one long
    item (1, 1, N·T): the thesis's "sequence made of concatenated samples" (§4.1.1)."""
    from springstudy.data.tensors import SplitTensors

    n = split.dry.shape[0]
    dry = split.dry.permute(1, 0, 2).reshape(1, 1, -1)
    wet = split.wet.permute(1, 0, 2).reshape(1, 1, -1)
    return SplitTensors(dry.contiguous(), wet.contiguous(), [f"concatenated({n} items)"])


def train_tcn_baseline(train: Any, validation: Any, sample_rate: int, out: str | Path,
                       steps: int = TCN_BASELINE_STEPS, seed: int = 0, crop_seconds: float | None = 1.0,
                       progress: bool = False, **config: Any) -> Any:
    """Train the thesis's TCN-baseline (§4.1.1) and return :class:`~springstudy.train.RunResult`.

    The model is the TCN-1800 structure (named ``TCN-baseline``); it trains for ``steps``
    optimiser steps on crops of the training items concatenated into one sequence, without
    validation (``validate=False``: ``best.pt`` is the final state, no early stopping). One
    long item means one crop per step (batch of one). ``validation`` is only scored once at the
    end for ``summary.json``; it selects nothing. Further ``TrainConfig`` fields go in ``config``.
    """
    from springstudy.train import TrainConfig, train as run_training

    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps}")
    values = dict(model="TCN-baseline", out=str(out), max_steps=int(steps), max_epochs=None, batch_size=1,
                  crop_seconds=crop_seconds, validate=False, seed=int(seed), tensorboard=False,
                  val_every=min(int(steps), TCN_BASELINE_CHECKPOINT_EVERY))
    values.update(config)
    return run_training(TrainConfig(**values), splits={"train": concatenate_items(train), "validation": validation},
                        sample_rate=sample_rate, progress=progress)


def _envelope_db(h: np.ndarray, window: int, reference: float, floor_db: float) -> np.ndarray:
    """RMS over consecutive windows of ``window`` samples, in dB re ``reference``."""
    frames = h[: h.size // window * window].reshape(-1, window)
    level = np.sqrt(np.mean(frames ** 2, axis=1)) / reference
    return 20 * np.log10(np.maximum(level, 10 ** (floor_db / 20)))


def plot_linear_ir(fit: LinearIR, true_ir: np.ndarray | None = None, title: str | None = None,
                   window_seconds: float = 0.01, floor_db: float = -120.0) -> Any:
    """Energy envelopes (RMS over ``window_seconds``) of the Linear IR estimate and, where the
    device's true IR is known, of the true IR and of the estimation error, in dB re the peak
    window of the reference (the true IR if given). Where the error meets the true IR, the
    training data stop determining the estimate."""
    import matplotlib.pyplot as plt

    rate = fit.sample_rate or 1
    window = max(1, int(round(window_seconds * rate)))
    if true_ir is None:
        reference = fit.ir
    else:       # the true IR over the estimate's length (zero beyond its own end)
        reference = np.zeros(fit.ir.size)
        true_ir = np.asarray(true_ir, dtype=np.float64)[:fit.ir.size]
        reference[:true_ir.size] = true_ir
    frames = reference[: reference.size // window * window].reshape(-1, window)
    peak = float(np.sqrt(np.mean(frames ** 2, axis=1)).max()) or 1.0
    curves = [("Linear IR estimate", fit.ir, "C0")]
    if true_ir is not None:
        curves = [("true IR", reference, "C1"), *curves, ("estimate − true", fit.ir - reference, "C3")]
    fig, ax = plt.subplots(figsize=(8, 3))
    for label, h, colour in curves:
        level = _envelope_db(h, window, peak, floor_db)
        ax.plot((np.arange(level.size) + 0.5) * window / rate, level, lw=1.0, color=colour, label=label)
    ax.set_xlabel("time (s)" if fit.sample_rate else "samples")
    ax.set_ylabel(f"level (dB re peak, {window_seconds * 1000:g} ms RMS)")
    ax.set_ylim(floor_db, 5)
    ax.legend(fontsize=8, loc="upper right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
