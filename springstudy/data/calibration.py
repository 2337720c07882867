"""How much the synthetic tank is like the real Accutronics 4EB2C1B: the calibration protocols.

Each protocol measures a dataset's dry/wet pairs (N, T) the way the real device was measured,
with the project's own :class:`~springstudy.baselines.LinearIR`, :func:`~springstudy.metrics.esr`
and :mod:`~springstudy.acoustics`, so tank and device sit side by side in one table
(:func:`calibrate`, then :meth:`Calibration.table`):

* **Leave-one-out Linear IR** (:func:`leave_one_out_esr`): a Linear IR (the baselines'
  regularised H1 estimate, item-long) fitted on 3 notes and scored by ESR on a 4th, over many seeded draws of 4 notes. How
  far the device is from linear *and* how little 3 notes determine it.
* **Full-split Linear IR** (:func:`split_linear_ir_esr`): fitted on every training item, scored
  on held-out items; more data narrows the leave-one-out gap, the nonlinearity keeps it open.
* **Tone** (:func:`spectral_centroid_hz`): librosa's spectral centroid, mean over frames, then
  over items, dry and wet; the wet/dry ratio says whether the device darkens.
* **Decay** (:func:`linear_ir_decay`): T20 and T30 of a Linear IR fitted on the notes (Lundeby
  noise handling), the estimate a user of real data gets, against the tank's true RT60.
* **Noise floor** (:func:`noise_floor_db`): the device's output for a silent input.

The real device's figures (:data:`REAL_4EB2C1B`) were measured with these same protocols on
four SpringSet notes published as audio examples with the CSAFx paper (Martinez Ramirez,
Benetos and Reiss, "Deep learning for black-box modeling of audio effects", Appl. Sci. 10(2),
2020); those recordings are not redistributed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from springstudy.baselines import _as_items as _items   # (N, 1, T), (N, T) or (T,) -> float64 (N, T)
from springstudy.errors import SpringStudyError

#: The real Accutronics 4EB2C1B (four SpringSet notes, 16 kHz, 2 s), measured with this module's
#: protocols. ``loo_esr`` is the mean over the 4 leave-one-out folds (per note 0.04 to 0.64).
REAL_4EB2C1B: dict[str, Any] = {
    "loo_esr": 0.284,
    "loo_esr_note_range": (0.04, 0.64),
    "loo_esr_best_gain": 0.259,
    "centroid_dry_hz": 964.0,
    "centroid_wet_hz": 802.0,
    "centroid_ratio": 802.0 / 964.0,
    "linear_ir_t20_s": 3.19,
    "csafx_esr": 0.284,
    "csafx_conv_baseline_esr": 0.320,
    "naive_esr": 1.761,
    "peak_normalised": True,
    # Accutronics' "long" decay type (the last-but-one letter of 4EB2C1B's type code, C).
    "decay_type_range_s": (2.75, 4.0),
}

#: Calibration targets of the realistic tank that the tests hold it to: broadband T30 of the
#: true IR (value, relative tolerance), the wet/dry centroid ratio (value, relative tolerance),
#: and the range of the leave-one-out Linear IR ESR (mean over draws).
TARGETS: dict[str, Any] = {
    "t30_s": (3.2, 0.05),
    "centroid_ratio": (REAL_4EB2C1B["centroid_ratio"], 0.10),
    "loo_esr": (0.15, 0.45),
}


def _esr(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    from springstudy.metrics import esr

    return esr(np.asarray(pred)[:, None, :], np.asarray(target)[:, None, :]).double().numpy()


def best_gain(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per item, the gain g minimising Σ(g·ŷ − y)²: ⟨ŷ, y⟩ / ⟨ŷ, ŷ⟩ (0 for a silent ŷ)."""
    pred, target = _items(pred), _items(target)
    energy = np.sum(pred * pred, axis=-1)
    return np.where(energy > 0, np.sum(pred * target, axis=-1) / np.where(energy > 0, energy, 1.0), 0.0)


@dataclass(frozen=True)
class LeaveOneOut:
    """ESR of Linear IRs fitted on ``n_fit`` notes and scored on one more, per draw."""

    esr: np.ndarray            # (draws,) ESR on the held-out note
    esr_best_gain: np.ndarray  # (draws,) the same after the held-out note's best gain
    draws: np.ndarray          # (draws, n_fit + 1) item indices; the last one is scored

    def summary(self) -> dict[str, float]:
        """Mean, median and the 5-95% range of both ESRs over the draws."""
        out = {}
        for name, v in (("loo_esr", self.esr), ("loo_esr_best_gain", self.esr_best_gain)):
            out[name] = float(np.mean(v))
            out[f"{name}_median"] = float(np.median(v))
            out[f"{name}_p05"], out[f"{name}_p95"] = (float(q) for q in np.quantile(v, [0.05, 0.95]))
        return out


def leave_one_out_esr(dry: Any, wet: Any, draws: int = 100, n_fit: int = 3, seed: int = 0,
                      regularisation: float | None = None) -> LeaveOneOut:
    """Fit a :class:`~springstudy.baselines.LinearIR` on ``n_fit`` notes, score it on another.

    Each draw picks ``n_fit + 1`` distinct items at random (``numpy.random.default_rng(seed)``),
    fits on the first ``n_fit`` (IR as long as an item) and returns the ESR of the last one,
    plain and after its best gain (:func:`best_gain`, which removes any level mismatch).
    """
    from springstudy.baselines import LINEAR_IR_REGULARISATION, LinearIR

    dry, wet = _items(dry), _items(wet)
    if dry.shape != wet.shape:
        raise ValueError(f"dry {dry.shape} and wet {wet.shape} differ in shape")
    if dry.shape[0] < n_fit + 1:
        raise ValueError(f"leave-one-out needs at least {n_fit + 1} items, got {dry.shape[0]}")
    reg = LINEAR_IR_REGULARISATION if regularisation is None else regularisation
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(dry.shape[0], size=n_fit + 1, replace=False) for _ in range(draws)])
    scores, gained = np.empty(draws), np.empty(draws)
    for d, pick in enumerate(picks):
        fit = LinearIR.fit(dry[pick[:-1]], wet[pick[:-1]], regularisation=reg, method="h1")
        pred = fit.predict(dry[pick[-1:]])[:, 0]
        target = wet[pick[-1:]]
        scores[d] = _esr(pred, target)[0]
        gained[d] = _esr(pred * best_gain(pred, target)[:, None], target)[0]
    return LeaveOneOut(scores, gained, picks)


def split_linear_ir_esr(train_dry: Any, train_wet: Any, test_dry: Any, test_wet: Any,
                        regularisation: float | None = None) -> dict[str, float]:
    """A Linear IR fitted on every training item, scored on the test items: mean ESR, plain and
    after each item's best gain, and the mean training ESR (how far the fit gets on its own data)."""
    from springstudy.baselines import LINEAR_IR_REGULARISATION, LinearIR

    reg = LINEAR_IR_REGULARISATION if regularisation is None else regularisation
    train_dry, train_wet = _items(train_dry), _items(train_wet)
    test_dry, test_wet = _items(test_dry), _items(test_wet)
    fit = LinearIR.fit(train_dry, train_wet, regularisation=reg, method="h1")
    pred = fit.predict(test_dry)[:, 0]
    pred_train = fit.predict(train_dry)[:, 0]
    return {"split_esr": float(np.mean(_esr(pred, test_wet))),
            "split_esr_best_gain": float(np.mean(_esr(pred * best_gain(pred, test_wet)[:, None], test_wet))),
            "split_train_esr": float(np.mean(_esr(pred_train, train_wet))),
            "split_train_items": int(train_dry.shape[0]), "split_test_items": int(test_dry.shape[0])}


def spectral_centroid_hz(x: Any, sample_rate: int) -> np.ndarray:
    """Per item, librosa's spectral centroid (default 2048-point frames, hop 512) averaged over
    the item's frames that carry signal (frames of digital silence have no centroid)."""
    import librosa

    items = _items(x)
    out = np.empty(items.shape[0])
    for i, item in enumerate(items):
        c = librosa.feature.spectral_centroid(y=item, sr=sample_rate)[0]
        rms = librosa.feature.rms(y=item)[0][: c.size]
        out[i] = float(np.mean(c[rms > 0])) if np.any(rms > 0) else float("nan")
    return out


def linear_ir_decay(ir: np.ndarray, sample_rate: int) -> dict[str, float]:
    """T20 and T30 (s, Lundeby noise handling; NaN where refused) of a Linear IR fitted on the
    notes (:meth:`~springstudy.baselines.LinearIR.fit`): the device's decay as a user of real
    data would estimate it."""
    from springstudy.acoustics import decay_estimate

    out = {}
    for method in ("t20", "t30"):
        estimate = decay_estimate(np.asarray(ir, dtype=np.float64), sample_rate, method)
        out[f"linear_ir_{method}_s"] = estimate.rt60_s if estimate.ok else float("nan")
    return out


def mean_spectrum_db(x: Any, smooth_bins: int = 64) -> np.ndarray:
    """Mean power spectrum (dB) of the items, each scaled to unit energy first (so it shows the
    tilt, not the gain), smoothed over ``smooth_bins`` rFFT bins."""
    items = _items(x)
    energy = np.sum(items * items, axis=-1, keepdims=True)
    power = np.abs(np.fft.rfft(items / np.sqrt(np.where(energy > 0, energy, 1.0)), axis=-1)) ** 2
    kernel = np.ones(smooth_bins) / smooth_bins
    return 10.0 * np.log10(np.convolve(power.mean(axis=0), kernel, mode="same") + 1e-20)


def noise_floor_db(process: Callable[[np.ndarray], np.ndarray], sample_rate: int, seconds: float = 2.0) -> float:
    """RMS level (dBFS) of ``process``'s output for ``seconds`` of digital silence."""
    y = np.asarray(process(np.zeros(int(round(seconds * sample_rate)))), dtype=np.float64)
    return float(10.0 * np.log10(max(np.mean(y * y), 1e-300)))


# --- one dataset, side by side with the real device -------------------------------------------

def read_springset(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The stored (dry, wet) arrays (N, T) of a SpringSet-format folder, per subset, as on disk."""
    import h5py

    from springstudy.data import formats

    folder = Path(folder)
    out = {}
    for subset in formats.SPRINGSET_SUBSETS:
        arrays = []
        for name, key in ((subset.dry_file, subset.dry_key), (subset.wet_file, subset.wet_key)):
            path = folder / name
            if not path.is_file():
                raise CalibrationError(f"{path}: missing (a SpringSet-format folder holds {name})")
            with h5py.File(path, "r") as handle:
                if key not in handle:
                    raise CalibrationError(f"{path}: no dataset {key!r} (found {', '.join(handle)})")
                arrays.append(np.asarray(handle[key][..., 0], dtype=np.float64))
        out[subset.name] = (arrays[0], arrays[1])
    return out


class CalibrationError(SpringStudyError, ValueError):
    """A dataset folder cannot be calibrated (missing files or keys, no ground truth)."""


@dataclass
class Calibration:
    """One SpringSet-format dataset measured with every protocol above, and its ground truth."""

    folder: Path
    sample_rate: int
    measured: dict[str, float]
    truth: dict[str, Any]          # tank.json (empty for a real dataset)
    centroids: tuple[np.ndarray, np.ndarray]   # per item, dry and wet (Hz)
    loo: LeaveOneOut
    linear_ir: np.ndarray          # the Linear IR fitted on every note (its decay is measured)
    spectra_db: tuple[np.ndarray, np.ndarray]  # mean_spectrum_db of the dry and the wet items

    def table(self) -> pd.DataFrame:
        """The calibration table: each property for the real 4EB2C1B and for this dataset."""
        m, real = self.measured, REAL_4EB2C1B
        t30 = self.truth.get("rt60_t30_s", {}).get("broadband", float("nan"))
        t20 = self.truth.get("rt60_t20_s", {}).get("broadband", float("nan"))
        levels = self.truth.get("levels", {})
        rows = [
            ("Linear IR fitted on 3 notes, scored on a 4th: ESR (mean over draws)",
             f"{real['loo_esr']:.3f} (4 folds; per note {real['loo_esr_note_range'][0]:.2f}-{real['loo_esr_note_range'][1]:.2f})",
             f"{m['loo_esr']:.3f} ({m['draws']} draws; median {m['loo_esr_median']:.3f}, 5-95% {m['loo_esr_p05']:.2f}-{m['loo_esr_p95']:.2f})"),
            ("same, after the best per-item gain", f"{real['loo_esr_best_gain']:.3f}",
             f"{m['loo_esr_best_gain']:.3f} (median {m['loo_esr_best_gain_median']:.3f})"),
            ("Linear IR fitted on the whole training subset, scored on val_test: ESR", "-",
             f"{m['split_esr']:.3f} ({m['split_train_items']} notes; after best gain {m['split_esr_best_gain']:.3f})"),
            ("spectral centroid, dry -> wet (librosa, mean over items)",
             f"{real['centroid_dry_hz']:.0f} -> {real['centroid_wet_hz']:.0f} Hz (ratio {real['centroid_ratio']:.2f})",
             f"{m['centroid_dry_hz']:.0f} -> {m['centroid_wet_hz']:.0f} Hz (ratio {m['centroid_ratio']:.2f})"),
            ("decay: T20 / T30 of a Linear IR fitted on the notes",
             f"T20 {real['linear_ir_t20_s']:.2f} s",
             f"T20 {m['linear_ir_t20_s']:.2f} s / T30 {m['linear_ir_t30_s']:.2f} s"),
            ("decay: true IR T20 / T30 (tank.json)", "- (type C, 2.75-4 s)",
             f"T20 {t20:.2f} s / T30 {t30:.2f} s" if np.isfinite(t30) else "-"),
            ("per-item peaks, dry / wet (mean of each item's peak)", "1 / 1 (peak-normalised separately)",
             f"{m['dry_peak']:.3f} / {m['wet_peak']:.3f}"),
            ("driver's share of the wet energy (ESR of the true linear response)", "-",
             f"{levels['nonlinear_share']:.3f}" if "nonlinear_share" in levels else "-"),
            ("noise floor: RMS dBFS at the tank output / SNR re mean wet RMS", "- (audible at times, thesis 3.2.1)",
             f"{levels['noise_rms_dbfs']:.1f} dBFS / {levels['snr_db']:.1f} dB"
             if levels.get("noise_rms_dbfs") is not None else "none"),
            ("CSAFx on the same notes / Naive: ESR", f"{real['csafx_esr']:.3f} / {real['naive_esr']:.3f}",
             f"- / {m['naive_esr']:.3f}"),
        ]
        return pd.DataFrame(rows, columns=["property", "real 4EB2C1B", "this dataset"])


def calibrate(folder: str | Path, draws: int = 100, seed: int = 0, regularisation: float | None = None,
              progress: bool = False) -> Calibration:
    """Measure a SpringSet-format dataset (``folder``) with every calibration protocol.

    The leave-one-out draws take notes from both subsets; the full-split fit trains on the
    ``train`` subset and scores ``val_test``; centroids and the decay use every item. Files are
    read as stored (SpringSet's items are peak-normalised), as the real device's were.
    """
    from springstudy.data import formats

    folder = Path(folder)
    subsets = read_springset(folder)
    dry = np.concatenate([subsets["train"][0], subsets["val_test"][0]])
    wet = np.concatenate([subsets["train"][1], subsets["val_test"][1]])
    for name, x in (("dry", dry), ("wet", wet)):
        if not np.all(np.isfinite(x)):
            raise CalibrationError(f"{folder}: the {name} items hold NaN or Inf")
    rate = formats.SPRINGSET_RATE
    truth_path = folder / "tank.json"
    truth = json.loads(truth_path.read_text()) if truth_path.is_file() else {}
    from springstudy.baselines import LINEAR_IR_REGULARISATION, LinearIR

    loo = leave_one_out_esr(dry, wet, draws=draws, seed=seed, regularisation=regularisation)
    fit = LinearIR.fit(dry, wet, regularisation=LINEAR_IR_REGULARISATION if regularisation is None else regularisation,
                       method="h1")
    c_dry, c_wet = spectral_centroid_hz(dry, rate), spectral_centroid_hz(wet, rate)
    measured: dict[str, float] = {"draws": draws, **loo.summary(),
                                  **split_linear_ir_esr(*subsets["train"], *subsets["val_test"], regularisation),
                                  **linear_ir_decay(fit.ir, rate),
                                  "centroid_dry_hz": float(np.nanmean(c_dry)),
                                  "centroid_wet_hz": float(np.nanmean(c_wet)),
                                  "dry_peak": float(np.mean(np.max(np.abs(dry), axis=-1))),
                                  "wet_peak": float(np.mean(np.max(np.abs(wet), axis=-1))),
                                  "naive_esr": float(np.mean(_esr(dry, wet)))}
    measured["centroid_ratio"] = measured["centroid_wet_hz"] / measured["centroid_dry_hz"]
    return Calibration(folder, rate, measured, truth, (c_dry, c_wet), loo, fit.ir,
                       (mean_spectrum_db(dry), mean_spectrum_db(wet)))


def plot_calibration(cal: Calibration, true_ir: np.ndarray | None = None) -> Any:
    """Two panels: the dataset's mean dry and wet spectra (each item at unit energy, so the
    tilt shows, not the gain), with the real device's centroids marked; and the energy decay
    curves of the true IR and of the Linear IR fitted on the notes, with the real device's T20
    slope drawn from the same start."""
    import matplotlib.pyplot as plt

    from springstudy.acoustics import energy_decay_curve

    rate = cal.sample_rate
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    freqs = np.fft.rfftfreq(2 * (cal.spectra_db[0].size - 1), 1.0 / rate)
    for name, level, centroids, colour in (("dry", cal.spectra_db[0], cal.centroids[0], "C0"),
                                           ("wet", cal.spectra_db[1], cal.centroids[1], "C1")):
        ax1.semilogx(freqs[1:], level[1:], color=colour, lw=1.0,
                     label=f"{name} (centroid {np.nanmean(centroids):.0f} Hz)")
    for hz, style, label in ((REAL_4EB2C1B["centroid_dry_hz"], "--", "real dry centroid"),
                             (REAL_4EB2C1B["centroid_wet_hz"], ":", "real wet centroid")):
        ax1.axvline(hz, color="0.3", ls=style, lw=1.0, label=label)
    ax1.set_xlim(30, rate / 2)
    ax1.set_xlabel("frequency (Hz)")
    ax1.set_ylabel("mean power (dB, items at unit energy)")
    ax1.set_title("dry -> wet spectra", fontsize=10)
    ax1.legend(fontsize=7)
    curves = [("Linear IR fitted on the notes", cal.linear_ir, "C0")]
    if true_ir is not None:
        curves.insert(0, ("true IR (tank_ir.wav)", np.asarray(true_ir, dtype=np.float64), "C1"))
    for label, h, colour in curves:
        decay = energy_decay_curve(h, rate)
        ax2.plot(decay.times, decay.edc_db, color=colour, lw=1.0, label=label)
    t = np.linspace(0, 2.0, 50)
    ax2.plot(t, -5 - 60.0 / REAL_4EB2C1B["linear_ir_t20_s"] * t, color="0.3", ls="--", lw=1.0,
             label=f"real 4EB2C1B: T20 {REAL_4EB2C1B['linear_ir_t20_s']:.2f} s (slope)")
    ax2.set_ylim(-70, 2)
    ax2.set_xlim(0, 4)
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("energy decay (dB)")
    ax2.set_title("decay", fontsize=10)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_calibration(cal: Calibration, tables_dir: str | Path, metrics_dir: str | Path) -> tuple[Path, Path, Path]:
    """``calibration.csv`` and ``calibration.md`` (the table) under ``tables_dir`` and
    ``calibration.json`` (every measured number, for ``dvc metrics``) under ``metrics_dir``."""
    from springstudy.outputs import write_bytes_atomic, write_csv_atomic

    table = cal.table()
    csv_path, md_path = Path(tables_dir) / "calibration.csv", Path(tables_dir) / "calibration.md"
    json_path = Path(metrics_dir) / "calibration.json"
    write_csv_atomic(csv_path, table, float_format=None)
    from springstudy.tables import markdown_table

    write_bytes_atomic(md_path, (markdown_table(table) + "\n").encode())
    metrics = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in cal.measured.items()}
    metrics["true_t30_s"] = cal.truth.get("rt60_t30_s", {}).get("broadband")
    metrics["true_t20_s"] = cal.truth.get("rt60_t20_s", {}).get("broadband")
    write_bytes_atomic(json_path, (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode())
    return csv_path, md_path, json_path
