"""Dataset overview: the thesis's Tables 3-4 (per subset, dry and wet) and Figures 8-11.

Table columns follow thesis §3.2 (Tables 3 and 4): items, total length, size, and the mean
over items of the per-item minimum, maximum and DC offset (the thesis reports subset means),
plus two columns the thesis lacks or leaves undefined:

* ``rms_dbfs``: mean per-item RMS level, 20·log10(rms) in dB re full scale, so the dry/wet
  level difference the thesis hears ("irregularity in the dry-wet loudness", §3.2.1) is a number.
* ``snr_db``: mean per-item SNR, defined in :func:`snr_db`. The thesis reports 0.2-0.6 dB
  without a definition; values that low would mean noise as loud as the notes, which the
  recordings are not, so we define ours and do not compare numbers with the thesis.

Figures: :func:`plot_waveform_pairs` (thesis Figs 8 and 10: dry and wet overlaid, three
items) and :func:`plot_spectrogram_pairs` (Figs 9 and 11: dry on top, wet below).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from springstudy.data.datasets import SpringPairs
from springstudy.data.formats import SPRINGSET_FADE_SECONDS
from springstudy.outputs import write_bytes_atomic, write_csv_atomic

#: Frame length of the SNR noise estimate (s); long enough for a stable power, short enough
#: to find the quiet stretches of a 2-5 s note.
SNR_FRAME_SECONDS = 0.05
#: Share of the quietest frames whose mean power estimates the noise floor.
SNR_QUIETEST_FRACTION = 0.1
#: Power floor (-120 dB re full scale): an item with digitally silent frames reads as this floor,
#: so its SNR is finite (and large) instead of infinite.
SNR_FLOOR_POWER = 1e-12

COLUMNS = ["data", "subset", "signal", "items", "length_s", "length_h", "size_mb",
           "min", "max", "dc_offset", "rms_dbfs", "snr_db"]


def snr_db(x: np.ndarray, sample_rate: int, frame_seconds: float = SNR_FRAME_SECONDS,
           quietest: float = SNR_QUIETEST_FRACTION, exclude_tail_seconds: float = 0.0) -> float:
    """Signal-to-noise ratio of one recording, in dB, with the noise floor estimated from it.

    No separate noise recording exists for either dataset, so the noise power ``P_n`` is the
    mean power of the quietest ``quietest`` share of non-overlapping ``frame_seconds`` frames
    (a minimum-statistics estimate, after R. Martin, "Noise power spectral density estimation
    based on optimal smoothing and minimum statistics", IEEE Trans. Speech Audio Process. 9(5),
    2001, applied to broadband frame power). With ``P_x`` the mean power of the whole
    (DC-removed) item::

        SNR = 10 log10((P_x - P_n) / P_n)        (both floored at SNR_FLOOR_POWER)

    ``exclude_tail_seconds`` keeps an artificial fade-out (SpringSet's last 0.5 s) out of the
    noise estimate, since fading scales the noise down with the note. Where a note is still
    decaying in its quietest frames, ``P_n`` includes signal and the SNR is underestimated: read
    it as a lower bound. Returns NaN if fewer than two frames fit.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    frame = max(1, int(round(frame_seconds * sample_rate)))
    region = x[: max(0, len(x) - int(round(exclude_tail_seconds * sample_rate)))]
    if len(region) < 2 * frame:
        region = x
    n_frames = len(region) // frame
    if n_frames < 2:
        return float("nan")
    power = np.mean(region[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)
    k = max(1, math.ceil(quietest * n_frames))
    noise = max(float(np.mean(np.sort(power)[:k])), SNR_FLOOR_POWER)
    signal = max(float(np.mean(x ** 2)) - noise, SNR_FLOOR_POWER)
    return 10.0 * math.log10(signal / noise)


def item_stats(x: np.ndarray, sample_rate: int, exclude_tail_seconds: float = 0.0) -> dict[str, float]:
    """min, max, DC offset (mean), RMS level (dBFS) and SNR (dB) of one signal."""
    x = np.asarray(x, dtype=np.float64)
    rms = math.sqrt(float(np.mean(x ** 2)))
    return {
        "min": float(x.min()),
        "max": float(x.max()),
        "dc_offset": float(x.mean()),
        "rms_dbfs": 20.0 * math.log10(max(rms, math.sqrt(SNR_FLOOR_POWER))),
        "snr_db": snr_db(x, sample_rate, exclude_tail_seconds=exclude_tail_seconds),
    }


def _groups(pairs: SpringPairs, by: str) -> dict[str, list[int]]:
    if by == "thesis":
        by = "subset" if pairs.layout == "springset" else "all"
    if by == "all":
        return {"all": list(range(len(pairs)))}
    if by == "subset":
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(pairs.items):
            groups.setdefault(item.subset, []).append(i)
        return groups
    raise ValueError(f"by must be 'thesis', 'subset' or 'all', not {by!r}")


def overview_table(pairs: SpringPairs, by: str = "thesis") -> pd.DataFrame:
    """Thesis Table 3/4 for ``pairs``: one row per (group, dry/wet) and a Total row.

    ``by="thesis"`` groups as the thesis did (SpringSet by subset, EGFxSet as one set);
    ``"subset"`` splits EGFxSet by pickup position; ``"all"`` pools everything. Sizes are
    on-disk bytes of the files holding the group (MB = 10^6 bytes, as the thesis's 287 MB for
    1122 x 32000 float64 samples implies). Statistics are means over the group's items.
    """
    fade = SPRINGSET_FADE_SECONDS if pairs.layout == "springset" else 0.0
    sr = pairs.sample_rate
    rows = []
    for group, indices in _groups(pairs, by).items():
        stats: dict[str, list[dict[str, float]]] = {"dry": [], "wet": []}
        for i in indices:
            dry, wet = pairs.load(i)
            stats["dry"].append(item_stats(dry, sr, fade))
            stats["wet"].append(item_stats(wet, sr, fade))
        samples = sum(pairs.items[i].length for i in indices)
        for signal in ("dry", "wet"):
            files = {pairs.items[i].dry_path if signal == "dry" else pairs.items[i].wet_path for i in indices}
            frame = pd.DataFrame(stats[signal])
            rows.append({
                "data": f"{group} {signal}", "subset": group, "signal": signal,
                "items": len(indices), "length_s": samples / sr, "length_h": samples / sr / 3600,
                "size_mb": sum(p.stat().st_size for p in files) / 1e6,
                **{col: float(frame[col].mean()) for col in ("min", "max", "dc_offset", "rms_dbfs", "snr_db")},
            })
    table = pd.DataFrame(rows, columns=COLUMNS)
    total = {"data": "Total", "subset": "all", "signal": "dry+wet", "items": int(table["items"].sum()),
             "length_s": float(table["length_s"].sum()), "length_h": float(table["length_h"].sum()),
             "size_mb": float(table["size_mb"].sum())}
    return pd.concat([table, pd.DataFrame([total], columns=COLUMNS)], ignore_index=True)


def _minutes(seconds: float) -> str:
    """Thesis-style length: 2244 s -> 37'24"."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}'{s:02d}\""


def overview_markdown(table: pd.DataFrame) -> str:
    """The overview table as a Markdown table (thesis layout: length as m'ss", MB, stats)."""
    head = ["Data", "Items", "Length", "Hours", "Size (MB)", "Min", "Max", "DC offset", "RMS (dBFS)", "SNR (dB)"]

    from springstudy.tables import MISSING, is_missing, markdown_table

    def num(value: float, fmt: str) -> str:
        return MISSING if is_missing(value) else format(value, fmt)

    rows = [[row.data, str(int(row.items)), _minutes(row.length_s), num(row.length_h, ".3f"),
             num(row.size_mb, ".1f"), num(row.min, ".3f"), num(row.max, ".3f"),
             num(row.dc_offset, ".3e"), num(row.rms_dbfs, ".1f"), num(row.snr_db, ".1f")]
            for row in table.itertuples(index=False)]
    frame = pd.DataFrame(rows, columns=range(len(head)))
    return markdown_table(frame, dict(zip(range(len(head)), head)),
                          align={0: "l"} | {i: "r" for i in range(1, len(head))}) + "\n"


def write_table(table: pd.DataFrame, folder: str | Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` under ``folder`` atomically; returns both paths."""
    folder = Path(folder)
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    write_csv_atomic(csv_path, table)
    write_bytes_atomic(md_path, overview_markdown(table).encode())
    return csv_path, md_path


# --- figures ---------------------------------------------------------------------------------
def pick_examples(pairs: SpringPairs, n: int = 3, seed: int = 0) -> list[int]:
    """``n`` distinct item indices drawn with ``seed`` (the thesis's "three random" items)."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(len(pairs), size=min(n, len(pairs)), replace=False).tolist())


def plot_waveform_pairs(pairs: SpringPairs, indices: Sequence[int], title: str | None = None):
    """Thesis Figs 8/10: dry and wet waveforms overlaid, one row per item. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(indices), 1, figsize=(9, 2.2 * len(indices)), squeeze=False,
                             constrained_layout=True)
    for ax, i in zip(axes[:, 0], indices):
        dry, wet = pairs.load(i)
        t = np.arange(len(dry)) / pairs.sample_rate
        ax.plot(t, dry, lw=0.6, label="dry (input)", color="tab:blue")
        ax.plot(t, wet, lw=0.6, label="wet (target)", color="tab:orange", alpha=0.8)
        ax.set_title(pairs.items[i].id, fontsize=9, loc="left")
        ax.set_ylabel("amplitude")
        ax.set_xlim(0, t[-1] if len(t) > 1 else 1)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    return fig


def _stft_db(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.signal import stft

    n_fft = 2 ** int(round(math.log2(0.064 * sample_rate)))        # ~64 ms: 1024 at 16 kHz
    n_fft = min(n_fft, 2 ** int(math.log2(max(len(x), 16))))
    f, t, z = stft(x, fs=sample_rate, window="hann", nperseg=n_fft, noverlap=3 * n_fft // 4,
                   boundary=None, padded=False)
    return f, t, 20 * np.log10(np.abs(z) + 1e-10)


def plot_spectrogram_pairs(pairs: SpringPairs, indices: Sequence[int], title: str | None = None,
                           dynamic_range_db: float = 100.0):
    """Thesis Figs 9/11: spectrograms, dry (top row) over wet (bottom row), one column per item.

    All panels share one colour scale (the figure's peak down ``dynamic_range_db``), so dry and
    wet levels compare directly. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    specs = []
    for i in indices:
        dry, wet = pairs.load(i)
        specs.append((_stft_db(dry, pairs.sample_rate), _stft_db(wet, pairs.sample_rate)))
    vmax = max(float(s[2].max()) for pair in specs for s in pair)
    vmin = vmax - dynamic_range_db
    fig, axes = plt.subplots(2, len(indices), figsize=(3.6 * len(indices) + 1, 5.5), squeeze=False,
                             sharex="col", sharey=True, constrained_layout=True)
    mesh = None
    for col, (i, pair) in enumerate(zip(indices, specs)):
        for row, ((f, t, db), signal) in enumerate(zip(pair, ("dry", "wet"))):
            ax = axes[row, col]
            mesh = ax.pcolormesh(t, f / 1000, db, vmin=vmin, vmax=vmax, cmap="magma", shading="auto",
                                 rasterized=True)
            if row == 0:
                ax.set_title(pairs.items[i].id, fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{signal}\nfrequency (kHz)")
            if row == 1:
                ax.set_xlabel("time (s)")
    fig.colorbar(mesh, ax=axes, label="level (dB)", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig

