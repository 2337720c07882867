"""The least-squares FIR of a given length: the best linear filter a model of that memory could be.

For training pairs (x_i, y_i), each T samples long, and a length L, :func:`lstsq_fir` returns

    h* = argmin_h  Σ_i ‖y_i − (x_i ∗ h)[:T]‖² + μ ‖h‖²,

the causal FIR of L taps whose output, observed for the items' T samples as the datasets observe
the device, is closest to the targets. The ridge μ = ``regularisation`` · mean_f Σ_i |X_i(f)|²
acts only on directions the data leave (nearly) unexcited: on tonal notes the normal matrix has
eigenvalues spanning many decades, and without a floor the solution would fill the unexcited
bands with noise. With the same ``regularisation`` it is the floor of the H1 spectral estimate
(:meth:`springstudy.baselines.LinearIR.fit` with ``method="h1"``), which solves the same
problem only for an infinitely long filter observed without truncation and is then cut to L taps.

The normal equations (AᵀA + μI) h = Aᵀy are solved by conjugate gradients in the frequency
domain: AᵀA is never formed (for the whole-item bound L = T it would be T × T), each product
costs a few FFTs per item, and the H1 inverse (a circulant approximation of AᵀA, Chan 1988)
preconditions it, so a few dozen iterations reach a relative residual of 1e-4 (more than
enough: see :data:`DEFAULT_TOLERANCE`) even on ill-conditioned tonal data. The H1 solution cut to L taps is the starting point.

Reference: T. F. Chan, "An optimal circulant preconditioner for Toeplitz systems", SIAM J. Sci.
Stat. Comput. 9(4), 1988; the normal equations of FIR least squares as in S. Haykin, "Adaptive
Filter Theory", 5th ed., 2014, ch. 2 (Wiener filter, finite length).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy.sparse.linalg import LinearOperator, cg

#: Relative residual ‖b − (AᵀA + μI)h‖ / ‖b‖ at which the solver stops. On the quick SpringSet
#: data (112 items of 2 s, 2048 to 32000 taps) the fits at 1e-4 and at 1e-8 give the same
#: training and test ESR to 6 digits, in 11-16 iterations instead of 30-1600.
DEFAULT_TOLERANCE = 1e-4
#: Iterations at most (a warning is recorded in ``info`` if it stops there unconverged).
DEFAULT_MAX_ITER = 300
#: Item spectra are kept in memory up to this many bytes; beyond, they are recomputed per product.
DEFAULT_CACHE_BYTES = 2 << 30
#: Items transformed at a time when the spectra are not cached.
CHUNK = 16


def as_items(x: Any) -> np.ndarray:
    """(N, 1, T), (N, T) or (T,) tensor or array -> float64 (N, T)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3:
        if a.shape[1] != 1:
            raise ValueError(f"expected mono items (N, 1, T), got shape {a.shape}")
        a = a[:, 0]
    return np.atleast_2d(a)


class _Spectra:
    """The items' spectra on an FFT grid, kept or recomputed chunk by chunk."""

    def __init__(self, x: np.ndarray, n_fft: int, cache_bytes: int) -> None:
        self.x, self.n_fft = x, n_fft
        bins = n_fft // 2 + 1
        self.cached = x.shape[0] * bins * 16 <= cache_bytes
        self.spectra = sfft.rfft(x, n_fft, axis=-1, workers=-1) if self.cached else None

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first item index, spectra of a run of items), over every item."""
        if self.cached:
            yield 0, self.spectra
            return
        for start in range(0, self.x.shape[0], CHUNK):
            yield start, sfft.rfft(self.x[start:start + CHUNK], self.n_fft, axis=-1, workers=-1)


def lstsq_fir(dry: Any, wet: Any, length: int, regularisation: float, tol: float = DEFAULT_TOLERANCE,
              max_iter: int = DEFAULT_MAX_ITER, cache_bytes: int = DEFAULT_CACHE_BYTES) -> tuple[np.ndarray, dict[str, Any]]:
    """The ridge least-squares FIR of ``length`` taps from training pairs (N, 1, T); see the module.

    Returns (h, info): info holds ``iterations``, ``converged``, ``relative_residual``,
    ``ridge`` (μ), ``fft_size`` and ``cached`` (whether the item spectra were kept in memory).
    """
    x, y = as_items(dry), as_items(wet)
    if x.shape != y.shape:
        raise ValueError(f"dry {x.shape} and wet {y.shape} items differ in shape")
    n_items, n = x.shape
    length = int(length)
    if not 0 < length <= n:
        raise ValueError(f"the FIR length must lie in [1, {n}] (the item length), not {length}")
    if not regularisation >= 0:
        raise ValueError(f"regularisation must be >= 0, not {regularisation}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("the training items hold NaN or infinite samples")
    n_fft = sfft.next_fast_len(n + length, real=True)      # no wrap-around for lags < length
    xs = _Spectra(x, n_fft, cache_bytes)
    sxx = np.zeros(n_fft // 2 + 1)
    sxy = np.zeros(n_fft // 2 + 1, dtype=np.complex128)
    for start, spectra in xs.chunks():
        ys = sfft.rfft(y[start:start + spectra.shape[0]], n_fft, axis=-1, workers=-1)
        sxx += np.sum(spectra.real ** 2 + spectra.imag ** 2, axis=0)
        sxy += np.sum(np.conj(spectra) * ys, axis=0)
    if not sxx.mean() > 0:
        raise ValueError("the dry training items are silent: no filter can be fitted")
    ridge = regularisation * float(sxx.mean())
    # The preconditioner's floor: the ridge, or (without one) a tiny fraction of the mean so that
    # unexcited bins do not divide by zero; it only changes the speed, never the solution.
    floor = ridge if ridge > 0 else 1e-12 * float(sxx.mean())

    def normal(h: np.ndarray) -> np.ndarray:
        spectrum = sfft.rfft(h, n_fft)
        acc = np.zeros(n_fft // 2 + 1, dtype=np.complex128)
        for _, spectra in xs.chunks():
            out = sfft.irfft(spectra * spectrum, n_fft, axis=-1, workers=-1)[:, :n]   # observed T samples
            acc += np.sum(np.conj(spectra) * sfft.rfft(out, n_fft, axis=-1, workers=-1), axis=0)
        return sfft.irfft(acc, n_fft)[:length] + ridge * h

    def precondition(r: np.ndarray) -> np.ndarray:
        return sfft.irfft(sfft.rfft(r, n_fft) / (sxx + floor), n_fft)[:length]

    b = sfft.irfft(sxy, n_fft)[:length]
    x0 = sfft.irfft(sxy / (sxx + floor), n_fft)[:length]
    iterations = 0

    def count(_: np.ndarray) -> None:
        nonlocal iterations
        iterations += 1

    operator = LinearOperator((length, length), matvec=normal, dtype=np.float64)
    preconditioner = LinearOperator((length, length), matvec=precondition, dtype=np.float64)
    h, status = cg(operator, b, x0=x0, rtol=tol, atol=0.0, maxiter=max_iter, M=preconditioner, callback=count)
    residual = float(np.linalg.norm(b - normal(h)) / max(np.linalg.norm(b), 1e-300))
    info = {"iterations": iterations, "converged": status == 0, "relative_residual": residual, "ridge": ridge,
            "fft_size": n_fft, "cached": xs.cached}
    return h, info
