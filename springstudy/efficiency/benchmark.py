"""The benchmark: every model, rate, mode, block and thread count timed, memory attached."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from springstudy.efficiency.flops import flops_per_sample
from springstudy.efficiency.memory import BYTES_PER_MB, MEMORY_CAP_SHARE, MemoryMeasurement, _run_within_cap
from springstudy.efficiency.settings import DEFAULTS, EfficiencySettings, thread_counts
from springstudy.efficiency.timing import (LOCAL_MATMUL_REPEATS, MATMUL_SIZE, Timing, all_threads, load_average,
                                           matmul_throughput, offline_rtf, streaming_rtf)
from springstudy.models import build, list_models


#: Columns of ``efficiency.csv``, one row per (model, sample rate, mode, block, threads).
COLUMNS = ("model", "params", "flops_per_sample", "sample_rate", "mode", "block", "threads",
           "rtf", "rtf_bound", "peak_mem_mb")
#: Columns of ``efficiency_memory.csv``, one row per memory measurement and input length.
MEMORY_COLUMNS = ("model", "sample_rate", "mode", "block", "seconds", "threads", "baseline_mb",
                  "peak_mem_mb", "method")
#: Columns of ``efficiency_details.csv``: the rows plus how each was measured.
DETAIL_COLUMNS = (*COLUMNS, "audio_s", "repeats", "median_s", "spread", "load_1min",
                  "matmul_gflops_local", "rtf_bound_local")


# --------------------------------------------------------------------------------------------
# The benchmark


@dataclass
class EfficiencyResult:
    """What :func:`benchmark` measured: the rows of efficiency.csv and the details around them."""

    rows: Any                  # pandas.DataFrame with COLUMNS
    details: Any               # pandas.DataFrame: rows + audio seconds, repeats, median, spread, load
    memory: Any                # pandas.DataFrame: one row per memory measurement and length
    info: dict[str, Any] = field(default_factory=dict)


def _rows_frame(records: list[dict[str, Any]], columns: Sequence[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(records, columns=list(columns))


def benchmark(settings: EfficiencySettings = DEFAULTS, *, memory_cap_mb: float | None = None,
              progress: bool = True) -> EfficiencyResult:
    """Measure every model at every rate: offline, streaming per block, bound and memory.

    ``settings.threads`` are the thread counts of the offline rows (``all`` = every core), and
    ``settings.streaming_threads`` those of the streaming rows. ``offline_budget_s`` caps the
    timed offline passes of a slow model: when its warm-up pass took longer than the budget
    divided by ``repeats``, it is timed fewer times (at least once); ``offline_max_pass_s``
    shortens the input of a pass predicted to take longer (see :func:`offline_rtf`); the rows and
    details record the input length and the repeats actually used.
    Memory is measured (one thread) in subprocesses after all timings, so that they do not
    disturb them (see :func:`measure_memory`).
    """
    settings.check()
    models = settings.model_names()
    rates, blocks, repeats = settings.rates, settings.blocks, settings.repeats
    offline_seconds, streaming_seconds = settings.offline_seconds, settings.streaming_seconds
    offline_budget_s, offline_max_pass_s = settings.offline_budget_s, settings.offline_max_pass_s
    memory_seconds, memory_stream_seconds = settings.memory_seconds, settings.memory_stream_seconds
    threads, streaming_threads = thread_counts(settings.threads), thread_counts(settings.streaming_threads)
    cores = all_threads()
    offline_threads = sorted({cores if t is None else int(t) for t in threads})
    stream_threads = sorted({cores if t is None else int(t) for t in streaming_threads})
    started = time.perf_counter()
    info: dict[str, Any] = {"load_average_start": load_average(), "cores": cores,
                            "torch_version": torch.__version__, "matmul_size": MATMUL_SIZE}
    say = print if progress else (lambda *a, **k: None)
    measured_threads = sorted(set(offline_threads) | set(stream_threads))
    throughput_start = {t: matmul_throughput(threads=t) for t in measured_threads}
    say("matmul throughput: " + ", ".join(f"{t} thread(s) {v / 1e9:.1f} GFLOP/s"
                                          for t, v in throughput_start.items()))
    records, details = [], []
    built = {name: build(name).eval() for name in models}
    flops = {name: flops_per_sample(model) for name, model in built.items()}
    params = {name: model.num_parameters for name, model in built.items()}

    def add(name: str, rate: int, mode: str, block: int, n_threads: int, timing: Timing | None,
            n_repeats: int) -> None:
        row = {"model": name, "params": params[name], "flops_per_sample": flops[name],
               "sample_rate": rate, "mode": mode, "block": block, "threads": n_threads,
               "rtf": timing.rtf if timing else math.nan, "rtf_bound": math.nan,
               "peak_mem_mb": math.nan}
        records.append(row)
        # The throughput the row actually had: on a shared machine it drops when other jobs
        # run, and the row's speed with it.
        local = statistics.median(timing.alongside) if timing and timing.alongside else math.nan
        details.append({**row, "audio_s": timing.audio_s if timing else math.nan,
                        "repeats": n_repeats, "median_s": timing.median_s if timing else math.nan,
                        "spread": timing.spread if timing else math.nan,
                        "load_1min": (load_average() or (math.nan,))[0],
                        "matmul_gflops_local": local / 1e9, "rtf_bound_local": math.nan})

    def alongside_for(n_threads: int) -> Callable[[], float]:
        return lambda: matmul_throughput(threads=n_threads, repeats=LOCAL_MATMUL_REPEATS, warmup=1)

    for rate in rates:
        for name in models:
            model = built[name]
            for n_threads in offline_threads:
                timing = offline_rtf(model, rate, offline_seconds, repeats, n_threads,
                                     budget_s=offline_budget_s, max_pass_s=offline_max_pass_s,
                                     alongside=alongside_for(n_threads))
                add(name, rate, "offline", int(round(timing.audio_s * rate)), n_threads, timing,
                    len(timing.times_s))
                say(f"{name:>13} {rate // 1000:>2} kHz offline   {n_threads} thread(s): RTF {timing.rtf:.4f}")
            for n_threads in stream_threads:
                for block in blocks:
                    timing = streaming_rtf(model, rate, block, streaming_seconds, repeats, n_threads,
                                           alongside=alongside_for(n_threads))
                    add(name, rate, "streaming", block, n_threads, timing, repeats)
                    say(f"{name:>13} {rate // 1000:>2} kHz streaming {n_threads} thread(s) block {block:>5}: "
                        f"RTF {timing.rtf:.4f}")
    throughput_end = {t: matmul_throughput(threads=t) for t in measured_threads}
    # The hardware's limit: contention from other jobs only ever lowers a measurement, so the
    # highest of the run (start, end, and the short one after every row) is the best estimate.
    throughput = {t: max([throughput_start[t], throughput_end[t]]
                         + [1e9 * d["matmul_gflops_local"] for d in details
                            if d["threads"] == t and not math.isnan(d["matmul_gflops_local"])])
                  for t in measured_threads}
    info.update(load_average_after_timing=load_average(),
                matmul_flops_per_s_start={str(t): v for t, v in throughput_start.items()},
                matmul_flops_per_s_end={str(t): v for t, v in throughput_end.items()},
                matmul_flops_per_s={str(t): v for t, v in throughput.items()},
                timing_s=round(time.perf_counter() - started, 1))
    for row, detail in zip(records, details):
        flops_per_second = row["flops_per_sample"] * row["sample_rate"]
        row["rtf_bound"] = detail["rtf_bound"] = flops_per_second / throughput[row["threads"]]
        detail["rtf_bound_local"] = flops_per_second / (1e9 * detail["matmul_gflops_local"])

    memory_frame = (measure_memory(models, rates, memory_seconds, settings.table_block, settings.memory_workers,
                                   memory_cap_mb, say, memory_stream_seconds)
                    if settings.memory else measure_memory([], rates))
    rows = _rows_frame(records, COLUMNS)
    detail_frame = _rows_frame(details, DETAIL_COLUMNS)
    _attach_memory(rows, detail_frame, memory_frame)
    info.update(load_average_end=load_average(), total_s=round(time.perf_counter() - started, 1),
                parameters={**settings.to_dict(), "models": models, "offline_threads": offline_threads,
                            "streaming_threads": stream_threads,
                            "memory_stream_seconds": list(memory_stream_seconds or memory_seconds)})
    return EfficiencyResult(rows, detail_frame, memory_frame, info)


def measure_memory(models: Sequence[str], rates: Sequence[int],
                   memory_seconds: Sequence[float] = DEFAULTS.memory_seconds,
                   memory_block: int = DEFAULTS.table_block,
                   workers: int = 1, cap_mb: float | None = None,
                   say: Callable[..., None] = lambda *a, **k: None,
                   streaming_seconds: Sequence[float] | None = None) -> Any:
    """Peak memory of every model at every rate, offline and streaming, one thread.

    First, per model and rate, one subprocess runs offline inference on the shortest of
    ``memory_seconds`` and one streams the longest of ``streaming_seconds`` (default: the
    same lengths) in blocks of ``memory_block``, reading the peak after each length (so growth
    with the input shows). Then the longer
    offline inputs, each in its own subprocess, predicted from the shortest (activations grow
    linearly with the input) and run at most ``workers`` at a time within ``cap_mb`` (default
    ``MEMORY_CAP_SHARE`` of the memory available now). Returns one row per measurement and
    length (``MEMORY_COLUMNS``); a failed subprocess leaves NaN and its reason in ``method``.
    """
    import pandas as pd

    lengths = sorted(float(s) for s in memory_seconds)
    stream_lengths = sorted(float(s) for s in (streaming_seconds or memory_seconds))
    if cap_mb is None:
        import psutil

        cap_mb = MEMORY_CAP_SHARE * psutil.virtual_memory().available / BYTES_PER_MB
    rows: list[dict[str, Any]] = []

    def record(task: dict[str, Any], result: MemoryMeasurement | Exception) -> None:
        name, rate, mode = task["model"], task["sample_rate"], task["kind"]
        seconds = task["seconds"]
        if isinstance(result, Exception):
            peaks, baseline, method = [math.nan] * len(seconds), math.nan, f"failed: {result}"[:200]
        else:
            peaks, baseline, method = list(result.peak_mb), result.baseline_mb, result.method
        for length, peak in zip(sorted(seconds), peaks):
            block = memory_block if mode == "streaming" else int(round(length * rate))
            rows.append({"model": name, "sample_rate": rate, "mode": mode, "block": block, "seconds": length,
                         "threads": 1, "baseline_mb": baseline, "peak_mem_mb": peak, "method": method})
        say(f"{name:>13} {rate // 1000:>2} kHz {mode:<9} memory: "
            + ", ".join(f"{p:.1f} MB at {s:g} s" for s, p in zip(sorted(seconds), peaks)))

    first = []
    for rate in rates:
        for name in models:
            first.append(({"kind": "offline", "model": name, "sample_rate": rate, "seconds": lengths[:1]}, 0.0))
            first.append(({"kind": "streaming", "model": name, "sample_rate": rate, "block": memory_block,
                           "seconds": stream_lengths}, 0.0))
    for (task, _), result in zip(first, _run_within_cap(first, workers, cap_mb)):
        record(task, result)
    shortest = {(r["model"], r["sample_rate"]): r["peak_mem_mb"] for r in rows if r["mode"] == "offline"}
    longer = [({"kind": "offline", "model": name, "sample_rate": rate, "seconds": [length]},
               shortest.get((name, rate), math.nan) * length / lengths[0])
              for rate in rates for name in models for length in lengths[1:]]
    longer = [(task, cap_mb if math.isnan(p) else p) for task, p in longer]
    for (task, _), result in zip(longer, _run_within_cap(longer, workers, cap_mb)):
        record(task, result)
    return pd.DataFrame(rows, columns=list(MEMORY_COLUMNS))


def _attach_memory(rows: Any, details: Any, memory: Any) -> None:
    """Put each memory measurement on its row of efficiency.csv (adding offline rows if needed).

    An offline row's ``block`` is the whole input (offline inference is one block); an offline
    length that was not timed gets a row of its own with an empty RTF. A streaming row gets the
    peak over the longest input.
    """
    if memory is None or len(memory) == 0:
        return
    for m in memory.itertuples(index=False):
        if m.mode == "streaming":
            longest = memory[(memory.model == m.model) & (memory.sample_rate == m.sample_rate)
                             & (memory["mode"] == "streaming")]["seconds"].max()
            if m.seconds != longest:
                continue
        for frame in (rows, details):
            match = ((frame.model == m.model) & (frame.sample_rate == m.sample_rate)
                     & (frame["mode"] == m.mode) & (frame.block == m.block) & (frame.threads == m.threads))
            if match.any():
                frame.loc[match, "peak_mem_mb"] = m.peak_mem_mb
            else:
                template = frame[(frame.model == m.model)].iloc[0].to_dict()
                new = {**{k: math.nan for k in frame.columns}, "model": m.model,
                       "params": template["params"], "flops_per_sample": template["flops_per_sample"],
                       "sample_rate": m.sample_rate, "mode": m.mode, "block": m.block,
                       "threads": m.threads, "peak_mem_mb": m.peak_mem_mb}
                frame.loc[len(frame)] = new
    for frame in (rows, details):
        frame.sort_values(["sample_rate", "model", "mode", "threads", "block"], inplace=True,
                          key=lambda c: c.map(_model_order) if c.name == "model" else c)
        frame.reset_index(drop=True, inplace=True)


def _model_order(name: str) -> int:
    names = list_models()
    return names.index(name) if name in names else len(names)
