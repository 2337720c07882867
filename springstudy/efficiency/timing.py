"""Timing: thread counts, the matmul throughput that bounds every model, offline and streaming RTF."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from springstudy.efficiency.settings import DEFAULTS
from springstudy.streaming import Streamer


#: Input of the probe pass that predicts a long offline pass's time (seconds).
PROBE_SECONDS = 0.5
#: Audio streamed untimed before the timed repeats (seconds), at least ``MIN_WARMUP_BLOCKS``.
WARMUP_SECONDS = 0.1
MIN_WARMUP_BLOCKS = 4
#: Side of the square float32 matrices whose product measures the machine's throughput.
MATMUL_SIZE = 512
#: Products timed for the throughput (median), after ``MATMUL_WARMUP`` untimed ones.
MATMUL_REPEATS = 20
MATMUL_WARMUP = 3
#: Products timed before, between and after the repeats of every row (details: the throughput
#: the row actually had on a shared machine).
LOCAL_MATMUL_REPEATS = 5
#: Amplitude of the Gaussian noise the models are timed on (speed does not depend on it).
SIGNAL_AMPLITUDE = 0.1


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


def offline_rtf(model: nn.Module, sample_rate: int, seconds: float = DEFAULTS.offline_seconds,
                repeats: int = DEFAULTS.repeats, threads: int = 1, warmup: int = 1,
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
                  seconds: float = DEFAULTS.streaming_seconds, repeats: int = DEFAULTS.repeats, threads: int = 1,
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
