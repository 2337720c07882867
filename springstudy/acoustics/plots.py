"""Figures 16-19 of the thesis (§4.3), redrawn for the device and every model.

Each function takes the :class:`~springstudy.acoustics.comparison.SystemAcoustics` of the systems
(or the RT60 table) and returns a ``matplotlib.figure.Figure`` built without pyplot, so it works
under any backend and leaks no global state; notebooks display it, scripts ``savefig`` it.

* Fig. 16 :func:`plot_impulse_responses`: each IR as a waveform and as a level in dB.
* Fig. 17 :func:`plot_waterfalls`: the energy decay relief in 3D (frequency, time, level).
* Fig. 18 :func:`plot_rt60`: RT60 per octave band, and each model's error against the device.
* Fig. 19 :func:`plot_energy_decay`: the energy decay curves with the fitted T20/T30/T60 lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from springstudy.acoustics.decay import DECAY_RANGES, METHOD_LABELS, METHODS, schroeder_edc
from springstudy.acoustics.comparison import DEVICE, SystemAcoustics

#: Level (dB) below which plots are clipped.
PLOT_FLOOR_DB = -120.0


def plot_impulse_responses(systems: Sequence[SystemAcoustics], seconds: float | None = None,
                           envelope: float = 0.005) -> Figure:
    """Fig. 16: each system's IR (left) and its level in dB re peak (right, ``envelope``-s RMS).

    The right panel marks the Lundeby noise level and crosspoint where they were estimated.
    ``seconds`` limits the time axis (default: the longest IR).
    """
    fig = Figure(figsize=(11, 1.9 * len(systems) + 0.6), layout="constrained")
    axes = fig.subplots(len(systems), 2, squeeze=False, sharex=True)
    for (wave_ax, level_ax), system in zip(axes, systems):
        fs = system.sample_rate
        t = np.arange(system.ir.size) / fs
        wave_ax.plot(t, system.ir, lw=0.5, color="C0")
        wave_ax.set_ylabel(system.name)
        level_ax.plot(*_envelope_db(system.ir, fs, envelope), lw=0.8, color="C0")
        noise = system.decay.noise
        if noise is not None and math.isfinite(noise.noise_db) and noise.crosspoint < system.ir.size:
            level_ax.axhline(noise.noise_db, color="0.5", ls=":", lw=0.8, label="noise (Lundeby)")
            level_ax.axvline(noise.crosspoint / fs, color="C3", ls="--", lw=0.8, label="crosspoint")
            level_ax.legend(loc="upper right", fontsize="small")
        level_ax.set_ylim(PLOT_FLOOR_DB, 5)
        level_ax.set_ylabel("level (dB)")
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("time (s)")
    axes[0, 0].set_title("impulse response")
    axes[0, 1].set_title(f"level re peak ({1000 * envelope:g} ms RMS)")
    if seconds is not None:
        axes[0, 0].set_xlim(0, seconds)
    return fig


def plot_waterfalls(systems: Sequence[SystemAcoustics], slices: int = 40, floor_db: float = -80.0,
                    f_min: float = 50.0, columns: int = 2) -> Figure:
    """Fig. 17: energy decay relief (Jot 1992) as a 3D waterfall, one panel per system.

    ``slices`` time frames, from t = 0 (at the back) until the relief falls below ``floor_db``
    everywhere, are drawn as level-over-log-frequency lines from ``f_min`` to Nyquist.
    """
    rows = math.ceil(len(systems) / columns)
    cols = min(columns, len(systems))
    fig = Figure(figsize=(5.5 * cols, 4.4 * rows), layout="constrained")
    for i, system in enumerate(systems):
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        relief = system.relief
        keep = relief.frequencies >= f_min
        logf = np.log10(relief.frequencies[keep])
        audible = np.flatnonzero(relief.level_db[:, keep].max(axis=1) > floor_db)
        last = int(audible[-1]) if audible.size else relief.times.size - 1
        frames = np.unique(np.linspace(0, last, min(slices, last + 1)).astype(int))
        colours = _colormap("viridis", frames.size)
        for colour, k in zip(colours, frames):             # back (t = 0) to front
            level = np.maximum(relief.level_db[k, keep], floor_db)
            ax.plot(logf, np.full(logf.size, relief.times[k]), level, color=colour, lw=0.7)
        ticks = [f for f in (100, 300, 1000, 3000, 10000, 20000) if f_min <= f <= relief.frequencies[-1]]
        ax.set_xticks(np.log10(ticks), [f"{f / 1000:g}k" if f >= 1000 else f"{f}" for f in ticks])
        ax.set_ylim(relief.times[frames[-1]], 0.0)           # time runs towards the viewer
        ax.set_zlim(floor_db, 0)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("time (s)")
        ax.set_zlabel("EDR (dB)")
        ax.set_title(system.name)
        ax.view_init(elev=25, azim=-65)
    return fig


def plot_rt60(table: "pandas.DataFrame", method: str = "t30", device: str = DEVICE) -> Figure:  # noqa: F821
    """Fig. 18: RT60 (``method`` estimate) per band for each system, and each model's error (%).

    ``table`` is :func:`~springstudy.acoustics.comparison.rt60_table`'s. Refused estimates (too
    little dynamic range) are marked × at the foot of their bar's place, and a system with no
    estimate at all is named so in the legend. The axes are scaled to the device's values (up to
    3× its largest RT60, ±300% error): a bar beyond is cut at the edge and its value written there.
    """
    rows = table[table["method"] == method]
    bands = list(dict.fromkeys(rows["band"]))
    systems = list(dict.fromkeys(rows["system"]))
    fig = Figure(figsize=(10, 6), layout="constrained")
    rt_ax, err_ax = fig.subplots(2, 1, sharex=True)
    width = 0.8 / max(len(systems), 1)
    x = np.arange(len(bands))
    device_values = rows.loc[rows["system"] == device, "rt60_s"].astype(float)
    top = 3.0 * float(np.nanmax(device_values)) if device_values.notna().any() else float(np.nanmax(rows["rt60_s"]))
    err_limit = 300.0
    for i, name in enumerate(systems):
        values = rows[rows["system"] == name].set_index("band").reindex(bands)
        rt = values["rt60_s"].astype(float).to_numpy()
        err = values["error_pct"].astype(float).to_numpy()
        offset = (i - (len(systems) - 1) / 2) * width
        colour = "0.3" if name == device else f"C{i}"
        label = name if np.isfinite(rt).any() else f"{name} (no estimate)"
        rt_ax.bar(x + offset, np.minimum(rt, top), width, label=label, color=colour)
        missing = ~np.isfinite(rt)
        rt_ax.plot((x + offset)[missing], np.zeros(missing.sum()), "x", color=colour, ms=4, clip_on=False)
        for xi, v in zip(x + offset, rt):
            if np.isfinite(v) and v > top:
                rt_ax.text(xi, top, f"{v:.3g}", ha="center", va="bottom", fontsize=6, rotation=90)
        if name != device:
            err_ax.bar(x + offset, np.clip(err, -err_limit, err_limit), width, label=name, color=colour)
            for xi, v in zip(x + offset, err):
                if np.isfinite(v) and abs(v) > err_limit:
                    err_ax.text(xi, np.sign(v) * err_limit, f"{v:+.0f}%", ha="center",
                                va="bottom" if v > 0 else "top", fontsize=6, rotation=90)
    err_ax.axhline(0.0, color="0.3", lw=0.8)
    rt_ax.set_ylim(0, top * 1.08)
    err_finite = rows.loc[rows["system"] != device, "error_pct"].astype(float).abs()
    span = min(err_limit, float(np.nanmax(err_finite))) if err_finite.notna().any() else err_limit
    err_ax.set_ylim(-span * 1.15, span * 1.15)
    rt_ax.set_ylabel("RT60 (s)")
    rt_ax.set_title(f"RT60 from {METHOD_LABELS[method]} (×: no estimate, too little dynamic range)")
    rt_ax.legend(fontsize="small", ncols=min(len(systems), 4))
    err_ax.set_ylabel(f"error re {device} (%)")
    err_ax.set_xticks(x, [b if b == "broadband" else f"{b} Hz" for b in bands])
    return fig


def plot_energy_decay(systems: Sequence[SystemAcoustics], band: str = "broadband",
                      methods: Sequence[str] = METHODS, columns: int = 2) -> Figure:
    """Fig. 19: energy decay curves with the fitted line of each estimate over its range.

    The solid curve is the EDC with Lundeby noise handling; the thin grey one is plain
    Schroeder integration of the whole IR (what the noise floor does to it). Each fitted line is
    drawn over its fit range (thick) and extrapolated to -65 dB (dashed).
    """
    rows = math.ceil(len(systems) / columns)
    cols = min(columns, len(systems))
    fig = Figure(figsize=(5.5 * cols, 3.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    lowest = min(lo for _, lo in DECAY_RANGES.values())
    for ax, system in zip(axes, systems):
        decay = system.band_decays[band]
        fs = system.sample_rate
        ir = system.ir
        raw = schroeder_edc(_band_signal(system, band))
        t = np.arange(ir.size) / fs
        ax.plot(t, np.maximum(raw, PLOT_FLOOR_DB), color="0.7", lw=0.8, label="Schroeder, no noise handling")
        ax.plot(decay.times, decay.edc_db, color="k", lw=1.2, label="EDC (Lundeby)")
        end_s = 0.0
        for j, method in enumerate(methods):
            estimate = system.estimates[(band, method)]
            if not estimate.ok:
                continue
            colour = f"C{j}"
            line = lambda s: estimate.slope_db_per_s * s + estimate.intercept_db  # noqa: E731
            fit_t = np.array([estimate.fit_start_s, estimate.fit_end_s])
            ax.plot(fit_t, line(fit_t), color=colour, lw=3, alpha=0.7,
                    label=f"{estimate.label}: {estimate.rt60_s:.3f} s")
            reach = (lowest - estimate.intercept_db) / estimate.slope_db_per_s
            ax.plot([0, reach], line(np.array([0, reach])), color=colour, ls="--", lw=0.8)
            end_s = max(end_s, reach)
        for level in sorted({hi for hi, _ in DECAY_RANGES.values()} | {lo for _, lo in DECAY_RANGES.values()}):
            ax.axhline(level, color="0.85", lw=0.6, zorder=0)
        ax.set_ylim(lowest - 15, 3)
        ax.set_xlim(0, 1.15 * end_s if end_s > 0 else t[-1])
        ax.set_title(system.name if band == "broadband" else f"{system.name}, {band} Hz")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("energy decay (dB)")
        ax.legend(fontsize="x-small", loc="upper right")
    for ax in axes[len(systems):]:
        ax.set_visible(False)
    return fig


def _band_signal(system: SystemAcoustics, band: str) -> np.ndarray:
    if band == "broadband":
        return system.ir
    from springstudy.acoustics.decay import octave_band

    return octave_band(system.ir, system.sample_rate, float(band))


def _envelope_db(h: np.ndarray, sample_rate: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """RMS level of ``h`` in blocks of ``seconds``, dB re the loudest block: (times, dB)."""
    block = max(int(round(seconds * sample_rate)), 1)
    n = h.size // block
    power = np.mean(h[: n * block].reshape(n, block) ** 2, axis=1)
    peak = power.max() if n and power.max() > 0 else 1.0
    with np.errstate(divide="ignore"):
        level = np.maximum(10.0 * np.log10(power / peak), PLOT_FLOOR_DB)
    return (np.arange(n) + 0.5) * block / sample_rate, level


def _colormap(name: str, n: int) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps[name](np.linspace(0.0, 0.9, max(n, 1)))
