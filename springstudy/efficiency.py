"""Efficiency of the study's models: thesis Table 11 done right, and streaming near the limit.

The thesis (§4.2, eq. 4.1) reports a real-time factor RTF = time(process(a)) / length(a) and a
"computational load" (memory) per model at 48 and 16 kHz, measured on a laptop CPU over whole
files. Its timing had no warm-up and divided one batch's time by one item's length, and its
memory was never measured (known errors of the thesis). Here, for every named model:

- **Parameters** and **FLOPs per output sample**, counted from the layers the offline forward
  runs (:func:`layer_flops`): a convolution or linear layer costs 2 FLOPs per weight (a
  multiply and an add) and 1 per bias element, per output sample, i.e. 2*C_in*k*C_out + C_out
  for a Conv1d (1x1 mixes included); an LSTM layer 4 gates * (2*(in + hidden) + 2) * hidden
  (= 8*(in + hidden + 1)*hidden, its two bias vectors included), a GRU layer the same with 3
  gates. Elementwise work (activations, the gates' tanh*sigmoid product, BatchNorm, residual
  adds, the LSTM/GRU cell update) is not counted: it is O(C) per sample against O(C^2 k) for
  the products, and it shows in measured/bound instead.
- **Offline RTF**, the thesis's method done right: one forward pass over a single
  ``offline_seconds`` input (batch 1), after an untimed warm-up pass, median of ``repeats``
  passes timed with ``time.perf_counter``, on one thread and on all threads. A slow model gets
  fewer timed passes (``OFFLINE_BUDGET_S``) and, where one pass would exceed
  ``OFFLINE_MAX_PASS_S``, a shorter input; the details record both.
- **Streaming RTF** through :class:`springstudy.streaming.Streamer` at each block size (latency
  = block / sample rate; every model is causal, so none adds lookahead): the time to process
  ``streaming_seconds`` of audio block by block, after warm-up blocks, median of ``repeats``.
- **FLOP-bound RTF** on this machine: FLOPs per second of audio divided by the
  matrix-multiply throughput measured in the same run (float32 ``torch.mm`` of two
  ``MATMUL_SIZE`` squares, median, per thread count; the highest of the measurements at the
  start, at the end and after every row, since other jobs only lower it); measured/bound says
  how close to the hardware's limit a mode runs.
- **Peak memory** of offline inference (``memory_seconds`` inputs) and of streaming inference,
  each in a fresh subprocess (:func:`peak_memory`): the peak resident set size during the
  inference minus the resident size after the process imported torch and built the model
  (the peak counter is reset there through ``/proc/self/clear_refs``). Offline memory counts
  input, activations and output; streaming memory counts the streamer (its copy of the model,
  histories and buffers) and must not grow with the input's length.

Timings are noisy on a shared machine: every row keeps its median and the load average, the
run records the load before, after the timings and at the end, and the matmul throughput is
also measured between every row's repeats (``efficiency_details.csv``: ``rtf_bound_local``),
which takes most of other jobs' load out of measured/bound (:func:`benchmark`).
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from springstudy.models import build, list_models
from springstudy.streaming import Streamer

#: Sample rates of Table 11 (SpringSet 16 kHz, EGFxSet 48 kHz).
SAMPLE_RATES = (16_000, 48_000)
#: Streaming block sizes (samples); latency = block / sample rate.
BLOCK_SIZES = (64, 128, 256, 512, 1024, 2048)
#: The block size Table 11 reports streaming at.
TABLE_BLOCK = 512
#: Offline input length (seconds), the thesis's whole-file method on one item.
OFFLINE_SECONDS = 10.0
#: Input of the probe pass that predicts a long offline pass's time (seconds).
PROBE_SECONDS = 0.5
#: Audio timed per streaming repeat (seconds).
STREAMING_SECONDS = 1.0
#: Audio streamed untimed before the timed repeats (seconds), at least ``MIN_WARMUP_BLOCKS``.
WARMUP_SECONDS = 0.1
MIN_WARMUP_BLOCKS = 4
#: Timed repeats per measurement (the median is reported).
REPEATS = 3
#: Seconds of timed offline passes per model and thread count (a slower model gets fewer).
OFFLINE_BUDGET_S = 3.0
#: Longest one offline pass may take (s); a slower one runs on a shorter input, stated.
OFFLINE_MAX_PASS_S = 3.0
#: Input lengths (seconds) whose peak memory is measured offline, and after which the
#: streaming peak is read (streaming memory must not grow between them).
MEMORY_SECONDS = (10.0, 60.0)
MEMORY_STREAM_SECONDS = (10.0, 30.0)
#: Memory subprocesses run at once (within ``MEMORY_CAP_SHARE`` of the free memory).
MEMORY_WORKERS = 2
#: Side of the square float32 matrices whose product measures the machine's throughput.
MATMUL_SIZE = 512
#: Products timed for the throughput (median), after ``MATMUL_WARMUP`` untimed ones.
MATMUL_REPEATS = 20
MATMUL_WARMUP = 3
#: Products timed before, between and after the repeats of every row (details: the throughput
#: the row actually had on a shared machine).
LOCAL_MATMUL_REPEATS = 5
#: Bytes per MB in every memory column (decimal, as the thesis prints MB and GB).
BYTES_PER_MB = 1e6
#: Amplitude of the Gaussian noise the models are timed on (speed does not depend on it).
SIGNAL_AMPLITUDE = 0.1
#: Length (samples) of the probe input the FLOP counter runs the model on.
FLOP_PROBE_LENGTH = 64
#: Columns of ``efficiency.csv``, one row per (model, sample rate, mode, block, threads).
COLUMNS = ("model", "params", "flops_per_sample", "sample_rate", "mode", "block", "threads",
           "rtf", "rtf_bound", "peak_mem_mb")
#: Columns of ``efficiency_memory.csv``, one row per memory measurement and input length.
MEMORY_COLUMNS = ("model", "sample_rate", "mode", "block", "seconds", "threads", "baseline_mb",
                  "peak_mem_mb", "method")
#: Share of the memory available at the start that concurrent memory subprocesses may plan to use.
MEMORY_CAP_SHARE = 0.4
#: Columns of ``efficiency_details.csv``: the rows plus how each was measured.
DETAIL_COLUMNS = (*COLUMNS, "audio_s", "repeats", "median_s", "spread", "load_1min",
                  "matmul_gflops_local", "rtf_bound_local")


# --------------------------------------------------------------------------------------------
# FLOPs per output sample


@dataclass(frozen=True)
class LayerFlops:
    """FLOPs one layer spends per output sample of the model, and how they were counted."""

    name: str
    kind: str
    flops: float
    rule: str


def conv1d_flops(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 groups: int = 1) -> int:
    """FLOPs per output sample of a Conv1d: 2*(C_in/groups)*k*C_out (+ C_out with a bias)."""
    return 2 * (in_channels // groups) * kernel_size * out_channels + (out_channels if bias else 0)


def linear_flops(in_features: int, out_features: int, bias: bool = True) -> int:
    """FLOPs per output row of a Linear layer: 2*in*out (+ out with a bias)."""
    return 2 * in_features * out_features + (out_features if bias else 0)


def recurrent_flops(rnn: nn.RNNBase) -> int:
    """FLOPs per time step of an LSTM (4 gates) or GRU (3 gates), all layers and directions.

    Per layer and gate unit: 2*(in + hidden) for the two products, +1 per bias vector (PyTorch
    keeps b_ih and b_hh), so an LSTM layer costs 8*(in + hidden + 1)*hidden.
    """
    gates = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}[rnn.mode]
    directions = 2 if rnn.bidirectional else 1
    total = 0
    for layer in range(rnn.num_layers):
        inputs = rnn.input_size if layer == 0 else rnn.hidden_size * directions
        per_unit = 2 * (inputs + rnn.hidden_size) + (2 if rnn.bias else 0)
        total += directions * gates * rnn.hidden_size * per_unit
    return total


def layer_flops(model: nn.Module, cond: torch.Tensor | None = None,
                length: int = FLOP_PROBE_LENGTH) -> list[LayerFlops]:
    """FLOPs per output sample of every Conv1d, Linear, LSTM and GRU the forward pass runs.

    The model runs once on a (1, 1, length) probe with forward hooks; a layer's FLOPs are its
    rule times the rows it produced, divided by ``length``. Layers the forward does not call
    are not counted; layers it calls whose result feeds nothing are (the offline graph pays
    for them). A FiLM adaptor runs once per item, so its per-sample share tends to 0.
    """
    counts: list[LayerFlops] = []
    hooks = []

    def hook(name: str) -> Callable:
        def record(module: nn.Module, args: tuple, output: Any) -> None:
            if isinstance(module, nn.Conv1d):
                rule = conv1d_flops(module.in_channels, module.out_channels, module.kernel_size[0],
                                    module.bias is not None, module.groups)
                rows = output.shape[0] * output.shape[-1]
                text = "2*C_in*k*C_out + C_out"
            elif isinstance(module, nn.Linear):
                rule = linear_flops(module.in_features, module.out_features, module.bias is not None)
                rows = output.numel() // module.out_features
                text = "2*in*out + out"
            else:  # LSTM / GRU, batch_first or not: one step per input sample
                rule = recurrent_flops(module)
                sequence = args[0]
                rows = sequence.shape[0] * sequence.shape[1]
                text = f"{module.mode}: gates*(2*(in+hidden)+2)*hidden"
            counts.append(LayerFlops(name, type(module).__name__, rule * rows / length, text))
        return record

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Linear, nn.LSTM, nn.GRU)):
            hooks.append(module.register_forward_hook(hook(name)))
    try:
        probe = torch.zeros(1, 1, length, dtype=next(model.parameters()).dtype)
        with torch.inference_mode():
            model(probe) if cond is None else model(probe, cond)
    finally:
        for handle in hooks:
            handle.remove()
    return counts


def flops_per_sample(model: nn.Module, cond: torch.Tensor | None = None) -> int:
    """Total FLOPs per output sample of ``model`` (see :func:`layer_flops`)."""
    return int(round(sum(layer.flops for layer in layer_flops(model, cond))))


# --------------------------------------------------------------------------------------------
# Timing


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` intra-op threads; the previous setting is restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def all_threads() -> int:
    """Cores this process may run on (what "all threads" means here)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15-minute load averages, or None where the OS has none."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    except OSError:
        return None


def matmul_throughput(size: int = MATMUL_SIZE, threads: int = 1, repeats: int = MATMUL_REPEATS,
                      warmup: int = MATMUL_WARMUP) -> float:
    """FLOP/s of a float32 ``torch.mm`` of two size x size matrices (2*size**3 FLOPs), median."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=gen), torch.randn(size, size, generator=gen)
    out = torch.empty(size, size)
    times = []
    with torch_threads(threads), torch.inference_mode():
        for i in range(warmup + repeats):
            started = time.perf_counter()
            torch.mm(a, b, out=out)
            if i >= warmup:
                times.append(time.perf_counter() - started)
    return 2.0 * size ** 3 / statistics.median(times)


@dataclass(frozen=True)
class Timing:
    """A timed measurement: the median RTF and what it was taken over."""

    rtf: float
    median_s: float            # median time of one repeat
    audio_s: float             # audio processed per repeat
    times_s: tuple[float, ...]  # every repeat
    alongside: tuple[float, ...] = ()  # matmul FLOP/s measured before, between and after repeats

    @property
    def spread(self) -> float:
        """(max - min) / median of the repeats: how noisy the machine was."""
        return (max(self.times_s) - min(self.times_s)) / self.median_s


def timed_repeats(run: Callable[[], object], repeats: int, audio_s: float,
                  alongside: Callable[[], float] | None = None) -> Timing:
    """Time ``repeats`` calls of ``run`` with ``time.perf_counter``; RTF = median / ``audio_s``.
    ``alongside`` is called before, between and after the timed calls, untimed."""
    times: list[float] = []
    samples = [alongside()] if alongside else []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
        if alongside:
            samples.append(alongside())
    median = statistics.median(times)
    return Timing(median / audio_s, median, audio_s, tuple(times), tuple(samples))


def noise_signal(samples: int, seed: int = 0) -> torch.Tensor:
    """Seeded Gaussian noise (1, 1, samples) at ``SIGNAL_AMPLITUDE``."""
    gen = torch.Generator().manual_seed(seed)
    return SIGNAL_AMPLITUDE * torch.randn(1, 1, samples, generator=gen)


def offline_rtf(model: nn.Module, sample_rate: int, seconds: float = OFFLINE_SECONDS,
                repeats: int = REPEATS, threads: int = 1, warmup: int = 1,
                budget_s: float | None = None, max_pass_s: float | None = None,
                alongside: Callable[[], float] | None = None) -> Timing:
    """RTF of one forward pass over a single ``seconds`` input (thesis eq. 4.1, batch 1).

    ``warmup`` untimed passes first (allocator, oneDNN primitives, caches), then the median of
    ``repeats`` timed passes; RTF = median time / input length. With ``budget_s``, a model
    whose warm-up pass took longer than ``budget_s / repeats`` is timed fewer times (at least
    once). With ``max_pass_s``, a probe pass over ``PROBE_SECONDS`` first predicts the pass
    time, and an input that would take longer is shortened to fit (never below the probe).
    ``times_s`` and ``audio_s`` say what was done. ``alongside`` (e.g. a short matmul
    throughput measurement) is called before, between and after the timed passes.
    """
    model = model.eval()
    with torch_threads(threads), torch.inference_mode():
        if max_pass_s is not None and seconds > PROBE_SECONDS:
            probe = noise_signal(int(round(PROBE_SECONDS * sample_rate)))
            started = time.perf_counter()
            model(probe)
            predicted = (time.perf_counter() - started) * seconds / PROBE_SECONDS
            if predicted > max_pass_s:
                seconds = max(PROBE_SECONDS, math.floor(seconds * max_pass_s / predicted / PROBE_SECONDS)
                              * PROBE_SECONDS)
        x = noise_signal(int(round(seconds * sample_rate)))
        for _ in range(warmup):
            started = time.perf_counter()
            model(x)
            elapsed = time.perf_counter() - started
            if budget_s is not None:
                repeats = max(1, min(repeats, int(budget_s / max(elapsed, 1e-9))))
        return timed_repeats(lambda: model(x), repeats, seconds, alongside)


def streaming_rtf(model: nn.Module, sample_rate: int, block: int,
                  seconds: float = STREAMING_SECONDS, repeats: int = REPEATS, threads: int = 1,
                  warmup_seconds: float = WARMUP_SECONDS,
                  alongside: Callable[[], float] | None = None) -> Timing:
    """RTF of streaming ``seconds`` of audio in blocks of ``block`` samples through a Streamer.

    The streamer is sized for the block (``max_block=block``, as a host that knows its buffer
    size would), warmed up on ``warmup_seconds`` of audio (at least ``MIN_WARMUP_BLOCKS``
    blocks), then each repeat times the whole block loop; RTF = median time / ``seconds``.
    The blocks are views cut before timing, and every output is a fresh tensor. ``alongside``
    is called before, between and after the timed repeats (see :func:`offline_rtf`).
    """
    streamer = Streamer(model, max_block=block)
    n_blocks = max(1, int(round(seconds * sample_rate / block)))
    n_warmup = max(MIN_WARMUP_BLOCKS, int(round(warmup_seconds * sample_rate / block)))
    signal = noise_signal(n_blocks * block)
    blocks = list(signal.split(block, dim=-1))
    audio = n_blocks * block / sample_rate
    with torch_threads(threads), torch.inference_mode():
        for i in range(n_warmup):
            streamer.process(blocks[i % n_blocks])
        process = streamer.process

        def stream() -> None:
            for b in blocks:
                process(b)

        return timed_repeats(stream, repeats, audio, alongside)


# --------------------------------------------------------------------------------------------
# Memory


@dataclass(frozen=True)
class MemoryMeasurement:
    """Peak memory of one workload in a fresh subprocess, in MB (``BYTES_PER_MB``).

    ``peak_mb[i]`` is the peak resident size above ``baseline_mb`` after ``seconds[i]`` of
    input (one entry for an offline pass or an allocation); ``method`` says how the peak was
    read (``clear_refs``: VmHWM reset at the baseline; ``maxrss``: the process's lifetime peak,
    which can hide an inference smaller than the import's own peak).
    """

    baseline_mb: float
    peak_mb: tuple[float, ...]
    seconds: tuple[float, ...]
    method: str


def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0: VmHWM := VmRSS); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _resident_bytes() -> int:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    import psutil

    return psutil.Process().memory_info().rss


def _peak_bytes() -> int:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _memory_child(task: dict[str, Any]) -> dict[str, Any]:
    """Run one memory workload in this (fresh) process; see :func:`peak_memory`."""
    torch.set_num_threads(int(task.get("threads", 1)))
    kind = task["kind"]
    model = build(task["model"]).eval() if kind in ("offline", "streaming") else None
    gc.collect()
    baseline = _resident_bytes()
    method = "clear_refs" if _reset_peak() else "maxrss"
    if method == "maxrss":
        baseline = max(baseline, _peak_bytes())
    peaks: list[float] = []
    with torch.inference_mode():
        if kind == "allocation":  # calibration: touch every page of ``megabytes``
            held = torch.ones(int(task["megabytes"] * BYTES_PER_MB) // 4)
            peaks.append(_peak_bytes())
            del held
        elif kind == "offline":
            x = noise_signal(int(round(task["seconds"][0] * task["sample_rate"])))
            y = model(x)
            peaks.append(_peak_bytes())
            del x, y
        elif kind == "streaming":
            block = int(task["block"])
            streamer = Streamer(model, max_block=block)
            x = noise_signal(block)
            done = 0
            for seconds in sorted(task["seconds"]):
                target = int(round(seconds * task["sample_rate"]))
                while done < target:
                    streamer.process(x)
                    done += block
                peaks.append(_peak_bytes())
        else:
            raise ValueError(f"unknown memory workload {kind!r}")
    return {"baseline_mb": baseline / BYTES_PER_MB,
            "peak_mb": [max(0.0, p - baseline) / BYTES_PER_MB for p in peaks],
            "method": method}


def peak_memory(task: dict[str, Any], timeout: float | None = None) -> MemoryMeasurement:
    """Peak memory of a workload run in a fresh Python subprocess.

    ``task`` is ``{"kind": "offline", "model": name, "sample_rate": sr, "seconds": [s]}``,
    ``{"kind": "streaming", "model": name, "sample_rate": sr, "block": n, "seconds": [s1, s2]}``
    or ``{"kind": "allocation", "megabytes": mb}`` (a calibration that holds ``mb`` MB), with an
    optional ``"threads"`` (default 1). The child imports torch and this module, builds the
    model, records its resident size as the baseline and resets its peak counter, then runs
    the workload and reports the peak above the baseline after each length in ``seconds``.
    """
    code = ("import json, sys\n"
            "from springstudy.efficiency import _memory_child\n"
            "print('MEMORY ' + json.dumps(_memory_child(json.loads(sys.argv[1]))))\n")
    env = dict(os.environ)
    threads = str(task.get("threads", 1))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    done = subprocess.run([sys.executable, "-c", code, json.dumps(task)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("MEMORY ")]
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = errors[-1].strip() if errors else "no output"
        if done.returncode < 0:
            reason = f"killed by signal {-done.returncode} (out of memory?)"
        raise RuntimeError(f"memory subprocess failed ({done.returncode}): {reason}")
    record = json.loads(lines[-1][len("MEMORY "):])
    seconds = tuple(float(s) for s in task.get("seconds", [0.0]))
    return MemoryMeasurement(record["baseline_mb"], tuple(record["peak_mb"]),
                             tuple(sorted(seconds)), record["method"])


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


def benchmark(models: Sequence[str] | None = None, rates: Sequence[int] = SAMPLE_RATES,
              blocks: Sequence[int] = BLOCK_SIZES, offline_seconds: float = OFFLINE_SECONDS,
              streaming_seconds: float = STREAMING_SECONDS, repeats: int = REPEATS,
              threads: Sequence[int | None] = (1, None), streaming_threads: Sequence[int | None] = (1,),
              memory: bool = True, memory_seconds: Sequence[float] = MEMORY_SECONDS,
              memory_block: int = TABLE_BLOCK, offline_budget_s: float | None = OFFLINE_BUDGET_S,
              offline_max_pass_s: float | None = OFFLINE_MAX_PASS_S, memory_workers: int = MEMORY_WORKERS,
              memory_cap_mb: float | None = None,
              memory_stream_seconds: Sequence[float] | None = MEMORY_STREAM_SECONDS,
              progress: bool = True) -> EfficiencyResult:
    """Measure every model at every rate: offline, streaming per block, bound and memory.

    ``threads`` are the thread counts of the offline rows (None = all cores), and
    ``streaming_threads`` those of the streaming rows. ``offline_budget_s`` caps the timed
    offline passes of a slow model: when its warm-up pass took longer than the budget divided
    by ``repeats``, it is timed fewer times (at least once); ``offline_max_pass_s`` shortens
    the input of a pass predicted to take longer (see :func:`offline_rtf`); the rows and
    details record the input length and the repeats actually used.
    Memory is measured (one thread) in subprocesses after all timings, so that they do not
    disturb them (see :func:`measure_memory`).
    """
    import pandas as pd

    models = list(models) if models else list_models()
    cores = all_threads()
    offline_threads = sorted({cores if t is None else int(t) for t in threads})
    stream_threads = sorted({cores if t is None else int(t) for t in streaming_threads})
    started = time.perf_counter()
    info: dict[str, Any] = {"load_average_start": load_average(), "cores": cores,
                            "torch_version": torch.__version__, "matmul_size": MATMUL_SIZE}
    say = print if progress else (lambda *a, **k: None)
    thread_counts = sorted(set(offline_threads) | set(stream_threads))
    throughput_start = {t: matmul_throughput(threads=t) for t in thread_counts}
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
    throughput_end = {t: matmul_throughput(threads=t) for t in thread_counts}
    # The hardware's limit: contention from other jobs only ever lowers a measurement, so the
    # highest of the run (start, end, and the short one after every row) is the best estimate.
    throughput = {t: max([throughput_start[t], throughput_end[t]]
                         + [1e9 * d["matmul_gflops_local"] for d in details
                            if d["threads"] == t and not math.isnan(d["matmul_gflops_local"])])
                  for t in thread_counts}
    info.update(load_average_after_timing=load_average(),
                matmul_flops_per_s_start={str(t): v for t, v in throughput_start.items()},
                matmul_flops_per_s_end={str(t): v for t, v in throughput_end.items()},
                matmul_flops_per_s={str(t): v for t, v in throughput.items()},
                timing_s=round(time.perf_counter() - started, 1))
    for row, detail in zip(records, details):
        flops_per_second = row["flops_per_sample"] * row["sample_rate"]
        row["rtf_bound"] = detail["rtf_bound"] = flops_per_second / throughput[row["threads"]]
        detail["rtf_bound_local"] = flops_per_second / (1e9 * detail["matmul_gflops_local"])

    memory_frame = (measure_memory(models, rates, memory_seconds, memory_block, memory_workers,
                                   memory_cap_mb, say, memory_stream_seconds)
                    if memory else measure_memory([], rates))
    rows = _rows_frame(records, COLUMNS)
    detail_frame = _rows_frame(details, DETAIL_COLUMNS)
    _attach_memory(rows, detail_frame, memory_frame)
    info.update(load_average_end=load_average(), total_s=round(time.perf_counter() - started, 1),
                parameters={"models": models, "rates": list(rates), "blocks": list(blocks),
                            "offline_seconds": offline_seconds, "streaming_seconds": streaming_seconds,
                            "repeats": repeats, "offline_threads": offline_threads,
                            "streaming_threads": stream_threads, "memory": memory,
                            "memory_seconds": list(memory_seconds), "memory_block": memory_block,
                            "memory_stream_seconds": list(memory_stream_seconds or memory_seconds),
                            "offline_budget_s": offline_budget_s, "offline_max_pass_s": offline_max_pass_s,
                            "memory_workers": memory_workers})
    return EfficiencyResult(rows, detail_frame, memory_frame, info)


def _run_within_cap(jobs: list[tuple[dict[str, Any], float]], workers: int,
                    cap_mb: float) -> list[MemoryMeasurement | Exception]:
    """Run memory tasks on ``workers`` threads so that their predicted peaks stay under the cap.

    A task predicted above the cap runs alone. Each result is a measurement or the exception
    its subprocess raised (a run killed for memory is reported, not fatal).
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    condition, in_use = threading.Condition(), [0.0]

    def run(task: dict[str, Any], predicted_mb: float) -> MemoryMeasurement | Exception:
        need = min(predicted_mb, cap_mb)
        with condition:
            condition.wait_for(lambda: in_use[0] == 0 or in_use[0] + need <= cap_mb)
            in_use[0] += need
        try:
            return peak_memory(task)
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            return err
        finally:
            with condition:
                in_use[0] -= need
                condition.notify_all()

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(lambda job: run(*job), jobs))


def measure_memory(models: Sequence[str], rates: Sequence[int],
                   memory_seconds: Sequence[float] = MEMORY_SECONDS, memory_block: int = TABLE_BLOCK,
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


# --------------------------------------------------------------------------------------------
# Thesis Table 11 and ours


@dataclass(frozen=True)
class ThesisEfficiency:
    """One row of thesis Table 11 as printed (RTF; CL converted to MB; None where "-"/blank)."""

    model: str
    params: int
    rtf_48k: float | None
    cl_48k_mb: float | None
    rtf_16k: float | None
    cl_16k_mb: float | None


#: Thesis Table 11 (§4.2; "CPU Intel i7, 16 GB", whole-file inference), transcribed from the
#: thesis text. GB and MB read as decimal (1 GB = 1000 MB). The text beside the table quotes
#: WaveNet-18 at 16 kHz as 0.438 and WaveNet-24 as 0.157 (the table prints 0.479 and 0.161),
#: and calls WaveNet-24 the fastest at 16 kHz although LSTM-96 (0.036) and TCN-4000 (0.091)
#: print lower; the table's values are the ones kept here.
THESIS_TABLE11: tuple[ThesisEfficiency, ...] = (
    ThesisEfficiency("GCN-2500", 26_400, 0.713, 3580.0, None, None),
    ThesisEfficiency("GCN-250", 65_600, 0.059, 1480.0, 0.176, 187.0),
    ThesisEfficiency("LSTM-cs-32", 17_100, 0.665, 756.0, None, None),
    ThesisEfficiency("LSTM-cs-96", 75_200, 1.349, 2230.0, 0.422, 297.0),
    ThesisEfficiency("LSTM-96", 38_100, None, None, 0.036, 99.0),
    ThesisEfficiency("TCN-4000", 62_900, 1.114, 2980.0, 0.091, 764.0),
    ThesisEfficiency("TCN-1800", 31_500, 0.606, 2980.0, 0.185, 396.0),
    ThesisEfficiency("WaveNet-10", 18_600, 0.851, 3820.0, None, None),
    ThesisEfficiency("WaveNet-18", 33_400, 1.411, 6670.0, 0.479, 6770.0),
    ThesisEfficiency("WaveNet-24", 44_600, 1.810, 8980.0, 0.161, 8980.0),
)


def thesis_table11() -> Any:
    """Thesis Table 11 as a DataFrame (model, params, rtf/cl_mb at 48 and 16 kHz)."""
    import pandas as pd

    return pd.DataFrame([asdict(r) for r in THESIS_TABLE11])


def _rate_tag(rate: int) -> str:
    return f"{rate // 1000}k"


def table11(rows: Any, block: int = TABLE_BLOCK, details: Any | None = None) -> Any:
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


def table11_markdown(table: Any, info: dict[str, Any] | None = None, block: int = TABLE_BLOCK,
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
            f"Offline: one pass over {params.get('offline_seconds', OFFLINE_SECONDS):g} s (batch 1), warm-up, "
            f"median of up to {params.get('repeats', REPEATS)} passes; streaming: blocks of {block} through "
            f"`Streamer`, 1 thread, median of {params.get('repeats', REPEATS)} × "
            f"{params.get('streaming_seconds', STREAMING_SECONDS):g} s. Bound: FLOPs per second of audio / {float(tp.get('1', math.nan)) / 1e9:.1f} GFLOP/s "
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
        lines += [f"### {khz} kHz", "", "| " + " | ".join(heads) + " |",
                  "| " + " | ".join("---" for _ in heads) + " |"]
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
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
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


def reading(rows: Any, memory: Any | None = None, block: int = TABLE_BLOCK,
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


def thesis_reading(rows: Any, memory: Any | None = None, block: int = TABLE_BLOCK) -> str:
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


# --------------------------------------------------------------------------------------------
# Figures and files


def plot_rtf_vs_block(rows: Any, threads: int = 1) -> Any:
    """Streaming RTF against block size (log-log), one line per model, one panel per rate."""
    import matplotlib.pyplot as plt

    stream = rows[(rows["mode"] == "streaming") & (rows.threads == threads)]
    rates = sorted(stream.sample_rate.unique(), reverse=True)
    fig, axes = plt.subplots(1, len(rates), figsize=(6.0 * len(rates), 4.5), squeeze=False, sharey=True)
    for ax, rate in zip(axes[0], rates):
        at = stream[stream.sample_rate == rate]
        for i, name in enumerate(sorted(at.model.unique(), key=_model_order)):
            m = at[at.model == name].sort_values("block")
            line, = ax.plot(m.block, m.rtf, marker="o", ms=3, label=name, color=f"C{i % 10}",
                            ls="-" if i < 10 else "--")
            ax.axhline(m.rtf_bound.iloc[0], color=line.get_color(), lw=0.6, ls=":")
        ax.axhline(1.0, color="k", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        sizes = sorted(at.block.unique())
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.set_xticks([], minor=True)
        ax.set_xlabel("block (samples)")
        ax.set_title(f"{rate // 1000} kHz, {threads} thread(s); dotted: FLOP bound")
        ax.grid(alpha=0.3, which="both")
        secondary = ax.secondary_xaxis("top", functions=(lambda b, r=rate: 1000 * b / r,
                                                         lambda ms, r=rate: ms * r / 1000))
        secondary.set_xticks([1000 * b / rate for b in sizes], [f"{1000 * b / rate:.3g}" for b in sizes])
        secondary.set_xticks([], minor=True)
        secondary.set_xlabel("latency (ms)")
    axes[0][0].set_ylabel("RTF (time / audio duration)")
    axes[0][-1].legend(fontsize=7, ncol=2, loc="upper right")
    fig.tight_layout()
    return fig


def plot_rtf_vs_params(rows: Any, block: int = TABLE_BLOCK) -> Any:
    """RTF against parameters: offline (1 thread), streaming at ``block``, the thesis's RTF."""
    import matplotlib.pyplot as plt

    thesis = {r.model: r for r in THESIS_TABLE11}
    rates = sorted(rows.sample_rate.unique(), reverse=True)
    fig, axes = plt.subplots(1, len(rates), figsize=(6.0 * len(rates), 4.5), squeeze=False, sharey=True)
    for ax, rate in zip(axes[0], rates):
        at = rows[(rows.sample_rate == rate) & (rows.threads == 1) & rows.rtf.notna()]
        offline = at[at["mode"] == "offline"]
        stream = at[(at["mode"] == "streaming") & (at.block == block)]
        ax.scatter(offline.params, offline.rtf, marker="s", label="ours, offline (1 thread)")
        ax.scatter(stream.params, stream.rtf, marker="o", label=f"ours, streaming {block} (1 thread)")
        t = [(thesis[m].params, getattr(thesis[m], f"rtf_{_rate_tag(int(rate))}")) for m in at.model.unique()
             if m in thesis and getattr(thesis[m], f"rtf_{_rate_tag(int(rate))}") is not None]
        if t:
            ax.scatter(*zip(*t), marker="x", color="k", label="thesis Table 11")
        for r in stream.itertuples(index=False):
            ax.annotate(r.model, (r.params, r.rtf), fontsize=6, xytext=(3, 2), textcoords="offset points")
        ax.axhline(1.0, color="k", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("parameters")
        ax.set_title(f"{rate // 1000} kHz")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("RTF")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


#: Files :func:`write_efficiency` writes (stems under the tables folder, PNGs under figures).
TABLE_FILES = {"rows": "efficiency.csv", "details": "efficiency_details.csv",
               "memory": "efficiency_memory.csv", "info": "efficiency_run.json",
               "table_csv": "table11_efficiency.csv", "table_md": "table11_efficiency.md"}
FIGURE_FILES = {"block": "efficiency_rtf_vs_block.png", "params": "efficiency_rtf_vs_params.png"}


def write_efficiency(result: EfficiencyResult, tables_dir: str | Path,
                     figures_dir: str | Path | None = None) -> dict[str, Path]:
    """Write efficiency.csv, its details, memory and run record, Table 11 (CSV, Markdown) and
    the two figures (atomically). Returns the paths written."""
    from springstudy.outputs import write_bytes_atomic, write_csv_atomic, write_json_atomic

    tables_dir = Path(tables_dir)
    written: dict[str, Path] = {}

    def csv(frame: Any, key: str) -> None:
        path = tables_dir / TABLE_FILES[key]
        write_csv_atomic(path, frame)
        written[key] = path

    csv(result.rows, "rows")
    csv(result.details, "details")
    csv(result.memory, "memory")
    write_json_atomic(tables_dir / TABLE_FILES["info"], result.info)
    written["info"] = tables_dir / TABLE_FILES["info"]
    table = table11(result.rows, details=result.details)
    csv(table, "table_csv")
    write_bytes_atomic(tables_dir / TABLE_FILES["table_md"],
                       table11_markdown(table, result.info, memory=result.memory).encode())
    written["table_md"] = tables_dir / TABLE_FILES["table_md"]
    if figures_dir is not None:
        import matplotlib.pyplot as plt

        from springstudy.plots import save_figure

        for key, plot in (("block", plot_rtf_vs_block), ("params", plot_rtf_vs_params)):
            fig = plot(result.rows)
            written[key] = save_figure(fig, Path(figures_dir) / FIGURE_FILES[key])
            plt.close(fig)
    return written


def thread_counts(values: Iterable[str | int | None]) -> list[int | None]:
    """Parse thread counts: integers, or ``all``/None for every core."""
    out: list[int | None] = []
    for v in values:
        if v is None or (isinstance(v, str) and v.lower() == "all"):
            out.append(None)
        else:
            n = int(v)
            if n < 1:
                raise ValueError(f"thread counts must be >= 1, not {n}")
            out.append(n)
    return out
