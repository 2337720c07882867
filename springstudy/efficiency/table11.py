"""Thesis Table 11 beside ours, as a table, Markdown and a reading of what it says."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from typing import Any

import pandas as pd

from springstudy.efficiency.benchmark import _model_order
from springstudy.efficiency.settings import DEFAULTS
from springstudy.thesis_tables import THESIS_TABLE11
from springstudy.efficiency.timing import MATMUL_SIZE
from springstudy.tables import markdown_table


# --------------------------------------------------------------------------------------------
# Thesis Table 11 and ours


def thesis_table11() -> Any:
    """Thesis Table 11 as a DataFrame (model, params, rtf/cl_mb at 48 and 16 kHz)."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in THESIS_TABLE11])


def _rate_tag(rate: int) -> str:
    return f"{rate // 1000}k"


def table11(rows: Any, block: int = DEFAULTS.table_block, details: Any | None = None) -> Any:
    """Our Table 11 beside the thesis's: one row per model, columns per sample rate.

    Per rate: offline RTF on one thread and on all threads (``offline_seconds`` input), the
    FLOP-bound RTF (one thread), streaming RTF at ``block`` and its ratio to the bound, peak
    memory offline (per measured input length) and streaming, and the thesis's RTF and CL.
    With ``details``, also the ratio to the bound at the throughput measured alongside the
    streaming row (``stream_vs_local_bound``), which takes out most of a shared machine's load.
    """
    import pandas as pd

    thesis = {r.model: r for r in THESIS_TABLE11}
    out = []
    models = sorted(rows.model.unique(), key=_model_order)
    for name in models:
        mine = rows[rows.model == name]
        entry: dict[str, Any] = {"model": name, "params": int(mine.params.iloc[0]),
                                 "thesis_params": thesis[name].params if name in thesis else None,
                                 "flops_per_sample": int(mine.flops_per_sample.iloc[0])}
        for rate in sorted(rows.sample_rate.unique(), reverse=True):
            tag = _rate_tag(int(rate))
            at = mine[mine.sample_rate == rate]
            offline = at[(at["mode"] == "offline") & at.rtf.notna()]  # one timed row per thread count
            one = offline[offline.threads == 1]
            many = offline[offline.threads > 1].sort_values("threads", ascending=False)
            stream = at[(at["mode"] == "streaming") & (at.block == block) & (at.threads == 1)]
            bound = at[at.threads == 1].rtf_bound.dropna()
            entry[f"rtf_offline_1t_{tag}"] = one.rtf.iloc[0] if len(one) else math.nan
            entry[f"rtf_offline_all_{tag}"] = many.rtf.iloc[0] if len(many) else math.nan
            entry[f"rtf_bound_{tag}"] = bound.iloc[0] if len(bound) else math.nan
            entry[f"rtf_stream_{tag}"] = stream.rtf.iloc[0] if len(stream) else math.nan
            entry[f"stream_vs_bound_{tag}"] = entry[f"rtf_stream_{tag}"] / entry[f"rtf_bound_{tag}"]
            if details is not None:
                d = details[(details.model == name) & (details.sample_rate == rate)
                            & (details["mode"] == "streaming") & (details.block == block) & (details.threads == 1)]
                entry[f"stream_vs_local_bound_{tag}"] = (d.rtf / d.rtf_bound_local).iloc[0] if len(d) else math.nan
            for m in at[(at["mode"] == "offline") & at.peak_mem_mb.notna()].itertuples(index=False):
                entry[f"mem_offline_{m.block / rate:g}s_mb_{tag}"] = m.peak_mem_mb
            entry[f"mem_stream_mb_{tag}"] = stream.peak_mem_mb.iloc[0] if len(stream) else math.nan
            t = thesis.get(name)
            entry[f"thesis_rtf_{tag}"] = getattr(t, f"rtf_{tag}") if t else None
            entry[f"thesis_cl_mb_{tag}"] = getattr(t, f"cl_{tag}_mb") if t else None
        out.append(entry)
    return pd.DataFrame(out)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _fmt_load(load: Any) -> str:
    return "–" if not load else "(" + ", ".join(f"{v:.2f}" for v in load) + ")"


def _fmt_mb(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value / 1000:.2f} GB" if value >= 1000 else f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"


def table11_markdown(table: Any, info: dict[str, Any] | None = None, block: int = DEFAULTS.table_block,
                     memory: Any | None = None) -> str:
    """Table 11 as Markdown, one table per sample rate, the thesis's values beside ours.

    With the ``memory`` measurements, the ones whose subprocess failed are listed with their
    reason under the tables.
    """
    lines = ["## Table 11 · Real-time factor (RTF) and memory, ours beside the thesis's", ""]
    if info:
        params = info.get("parameters", {})
        tp = info.get("matmul_flops_per_s", {})
        lines.append(
            f"Offline: one pass over {params.get('offline_seconds', DEFAULTS.offline_seconds):g} s (batch 1), warm-up, "
            f"median of up to {params.get('repeats', DEFAULTS.repeats)} passes; streaming: blocks of {block} through "
            f"`Streamer`, 1 thread, median of {params.get('repeats', DEFAULTS.repeats)} × "
            f"{params.get('streaming_seconds', DEFAULTS.streaming_seconds):g} s. Bound: FLOPs per second of audio / {float(tp.get('1', math.nan)) / 1e9:.1f} GFLOP/s "
            f"(float32 {info.get('matmul_size', MATMUL_SIZE)}² `torch.mm`, 1 thread, the highest of this run; "
            f"\"at run's throughput\": the throughput measured between the row's own repeats). Memory: peak "
            f"RSS above the loaded model, fresh subprocess. Load average (1, 5, 15 min) at start "
            f"{_fmt_load(info.get('load_average_start'))}, after the timings "
            f"{_fmt_load(info.get('load_average_after_timing'))}, at the end {_fmt_load(info.get('load_average_end'))} "
            f"({info.get('cores', '?')} cores).")
        lines.append("")
    rates = sorted({int(c.rsplit("_", 1)[1][:-1]) for c in table.columns if c.startswith("rtf_stream_")},
                   reverse=True)
    for khz in rates:
        tag = f"{khz}k"
        memory_cols = sorted((c for c in table.columns if c.startswith("mem_offline_") and c.endswith(tag)),
                             key=lambda c: float(c.split("_")[2][:-1]))
        local = f"stream_vs_local_bound_{tag}" in table.columns
        heads = (["Model", "Params", "Thesis params", "RTF offline 1 thr", "RTF offline all thr",
                  f"RTF stream {block}", "Bound RTF", "Stream/bound"]
                 + (["Stream/bound at run's throughput"] if local else [])
                 + [f"Mem offline {c.split('_')[2]}" for c in memory_cols]
                 + ["Mem stream", "Thesis RTF", "Thesis CL"])
        lines += [f"### {khz} kHz", ""]
        rows = []
        for r in table.to_dict("records"):
            cells = [r["model"], _fmt(r["params"]), _fmt(r["thesis_params"]),
                     _fmt(r.get(f"rtf_offline_1t_{tag}")), _fmt(r.get(f"rtf_offline_all_{tag}")),
                     _fmt(r.get(f"rtf_stream_{tag}")), _fmt(r.get(f"rtf_bound_{tag}")),
                     _fmt(r.get(f"stream_vs_bound_{tag}"), 2)]
            if local:
                cells.append(_fmt(r.get(f"stream_vs_local_bound_{tag}"), 2))
            cells += [_fmt_mb(r.get(c)) for c in memory_cols]
            cells += [_fmt_mb(r.get(f"mem_stream_mb_{tag}")), _fmt(r.get(f"thesis_rtf_{tag}")),
                      _fmt_mb(r.get(f"thesis_cl_mb_{tag}"))]
            rows.append(cells)
        lines += [markdown_table(pd.DataFrame(rows, columns=range(len(heads))), dict(zip(range(len(heads)), heads)),
                                 align={0: "l"} | {i: "r" for i in range(1, len(heads))}), ""]
    lines.append("Thesis values as printed in its Table 11 (laptop CPU, whole files; its timing had no "
                 "warm-up and divided a batch's time by one item's length, and its CL comes without a "
                 "stated method). – : not measured / not printed. Offline rows whose input was shortened "
                 "to bound a pass's time, and the repeats used, are in efficiency_details.csv.")
    if memory is not None and len(memory):
        failed = memory[memory.method.astype(str).str.startswith("failed")]
        for m in failed.itertuples(index=False):
            lines.append(f"\nMemory not measured: {m.model}, {m.mode} {m.seconds:g} s at {m.sample_rate // 1000} kHz "
                         f"({m.method.split(': ', 2)[-1]}).")
    return "\n".join(lines) + "\n"


def reading(rows: Any, memory: Any | None = None, block: int = DEFAULTS.table_block,
            target_ratio: float = 3.0, memory_limit_mb: float = 200.0, details: Any | None = None) -> str:
    """One paragraph that reads the measured rows against the real-time and bound targets.

    With ``details``, the ratios at the throughput measured alongside each row (which takes
    out most of a shared machine's load) are read too.
    """
    parts = []
    stream = rows[(rows["mode"] == "streaming") & (rows.block == block) & (rows.threads == 1)]
    for rate in sorted(stream.sample_rate.unique(), reverse=True):
        at = stream[stream.sample_rate == rate].copy()
        at["ratio"] = at.rtf / at.rtf_bound
        slow = at[at.rtf >= 1]
        fast, slowest = at.loc[at.rtf.idxmin()], at.loc[at.rtf.idxmax()]
        text = (f"At {rate // 1000} kHz, streaming in blocks of {block} ({1000 * block / rate:.1f} ms latency) "
                f"on one thread, {len(at) - len(slow)} of {len(at)} models run in real time "
                f"(fastest {fast.model}, RTF {fast.rtf:.3f}; slowest {slowest.model}, RTF {slowest.rtf:.3f}")
        text += ")" if slow.empty else f"; not real time: {', '.join(slow.model)})"
        recurrent = at.model.isin([m for m in at.model if _is_recurrent(m)])
        conv, rec = at[~recurrent], at[recurrent]
        if len(conv):
            over = conv[conv.ratio > target_ratio]
            text += f". The convolutional models run at {_span(conv.ratio)}× their FLOP-bound RTF"
            text += (f", all within {target_ratio:g}×" if over.empty else
                     f"; beyond {target_ratio:g}×: " + ", ".join(f"{r.model} ({r.ratio:.2f}×)"
                                                                   for r in over.itertuples()))
            if details is not None:
                d = details[(details["mode"] == "streaming") & (details.block == block) & (details.threads == 1)
                            & (details.sample_rate == rate) & details.model.isin(conv.model)]
                local = d.rtf / d.rtf_bound_local
                over_local = d[local > target_ratio]
                text += (f" (at the throughput measured alongside each row, {_span(local)}×"
                         + (")" if over_local.empty else
                            "; beyond " + ", ".join(f"{m} ({r:.2f}×)" for m, r in
                                                    zip(over_local.model, local[local > target_ratio])) + ")"))
        if len(rec):
            text += (f"; the recurrent ones at {_span(rec.ratio)}× (one sample after the other: a "
                     f"matrix-vector product per sample cannot reach matrix-multiply throughput)")
        offline = rows[(rows["mode"] == "offline") & (rows.sample_rate == rate) & (rows.threads == 1)
                       & rows.rtf.notna()]
        if len(offline):
            ratio = offline.groupby("model").rtf.first().reindex(at.model).to_numpy() / at.rtf.to_numpy()
            faster = int((ratio > 1).sum())
            text += (f". Streaming at {block} is faster than one offline pass over the whole input for {faster} "
                     f"of {len(at)} models (median offline/streaming time {statistics.median(ratio):.2f})")
        parts.append(text + ".")
    if memory is not None and len(memory):
        s = memory[memory["mode"] == "streaming"]
        if len(s):
            longest, shortest = s.seconds.max(), s.seconds.min()
            top = s[s.seconds == longest].peak_mem_mb.max()
            growth = (s[s.seconds == longest].set_index(["model", "sample_rate"]).peak_mem_mb
                      - s[s.seconds == shortest].set_index(["model", "sample_rate"]).peak_mem_mb)
            parts.append(f"Streaming memory peaks at {top:.1f} MB at most ("
                         f"{'under' if top < memory_limit_mb else 'over'} {memory_limit_mb:g} MB) and grows by "
                         f"at most {growth.max():.1f} MB from {shortest:g} s to {longest:g} s of input.")
        o = memory[memory["mode"] == "offline"]
        if len(o):
            worst = o.loc[o.peak_mem_mb.idxmax()]
            parts.append(f"Offline inference needs up to {_fmt_mb(worst.peak_mem_mb)} ({worst.model}, "
                         f"{worst.seconds:g} s at {worst.sample_rate // 1000} kHz): it grows with the input.")
    return " ".join(parts)


def thesis_reading(rows: Any, memory: Any | None = None, block: int = DEFAULTS.table_block) -> str:
    """How our measurements read against the thesis's Table 11, per sample rate."""
    thesis = thesis_table11().set_index("model")
    parts = []
    for rate in sorted(rows.sample_rate.unique(), reverse=True):
        tag = _rate_tag(int(rate))
        printed = thesis[f"rtf_{tag}"].dropna()
        at = rows[(rows.sample_rate == rate) & (rows.threads == 1) & rows.rtf.notna()]
        offline = at[at["mode"] == "offline"].groupby("model").rtf.first()
        stream = at[(at["mode"] == "streaming") & (at.block == block)].set_index("model").rtf
        common = [m for m in printed.index if m in offline.index]
        if not common:
            continue
        ratio = printed[common] / offline[common]
        slow = [m for m in common if printed[m] > 1]
        text = (f"At {rate // 1000} kHz the thesis printed an RTF for {len(common)} of the models measured here; "
                f"our offline RTF (one thread, warm) is lower for {int((ratio > 1).sum())} of them "
                f"(thesis/ours median {statistics.median(ratio):.1f}×, range {ratio.min():.2g}–{ratio.max():.2g}×)")
        if slow:
            ours = [m for m in slow if m in stream.index and stream[m] < 1]
            text += (f"; it found {', '.join(slow)} slower than real time, of which {len(ours)} stream in real "
                     f"time here at {block} samples")
        parts.append(text + ".")
        if memory is not None and len(memory):
            cl = thesis[f"cl_{tag}_mb"].dropna()
            o = memory[(memory["mode"] == "offline") & (memory.sample_rate == rate)]
            if len(o):
                shortest = o[o.seconds == o.seconds.min()].set_index("model").peak_mem_mb
                both = [m for m in cl.index if m in shortest.index and not math.isnan(shortest[m])]
                if both:
                    factor = cl[both] / shortest[both]
                    parts.append(f"Its printed memory (CL) is {statistics.median(factor):.0f}× our measured peak of "
                                 f"one offline pass over {o.seconds.min():g} s (median over {len(both)} models); "
                                 f"what the thesis measured is not stated.")
    return " ".join(parts)


def _is_recurrent(name: str) -> bool:
    from springstudy.models import get_config

    return get_config(name).family in ("LSTM", "LSTM-cs", "GRU")


def _span(values: Any) -> str:
    low, high = float(values.min()), float(values.max())
    return f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f}–{high:.1f}"
