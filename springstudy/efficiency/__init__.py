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

from springstudy.efficiency.settings import DEFAULTS, HELP_TEXT, EfficiencyError, EfficiencySettings, thread_counts
from springstudy.efficiency.flops import (FLOP_PROBE_LENGTH, LayerFlops, conv1d_flops, flops_per_sample, layer_flops,
                                          linear_flops, recurrent_flops)
from springstudy.efficiency.timing import (LOCAL_MATMUL_REPEATS, MATMUL_REPEATS, MATMUL_SIZE, MATMUL_WARMUP,
                                           MIN_WARMUP_BLOCKS, PROBE_SECONDS, SIGNAL_AMPLITUDE, WARMUP_SECONDS, Timing,
                                           all_threads, load_average, matmul_throughput, noise_signal, offline_rtf,
                                           streaming_rtf, timed_repeats, torch_threads)
from springstudy.efficiency.memory import BYTES_PER_MB, MEMORY_CAP_SHARE, MemoryMeasurement, peak_memory
from springstudy.efficiency.benchmark import (COLUMNS, DETAIL_COLUMNS, MEMORY_COLUMNS, EfficiencyResult, benchmark,
                                              measure_memory)
from springstudy.efficiency.table11 import reading, table11, table11_markdown, thesis_reading, thesis_table11
from springstudy.thesis_tables import THESIS_TABLE11, ThesisEfficiency
from springstudy.efficiency.files import (FIGURE_FILES, TABLE_FILES, plot_rtf_vs_block, plot_rtf_vs_params,
                                          write_efficiency)

__all__ = ["BYTES_PER_MB", "COLUMNS", "DEFAULTS", "DETAIL_COLUMNS", "EfficiencyError", "EfficiencyResult",
           "EfficiencySettings", "FIGURE_FILES", "HELP_TEXT", "FLOP_PROBE_LENGTH", "LOCAL_MATMUL_REPEATS", "LayerFlops",
           "MATMUL_REPEATS", "MATMUL_SIZE", "MATMUL_WARMUP", "MEMORY_CAP_SHARE", "MEMORY_COLUMNS",
           "MIN_WARMUP_BLOCKS", "MemoryMeasurement", "PROBE_SECONDS", "SIGNAL_AMPLITUDE", "TABLE_FILES",
           "THESIS_TABLE11", "ThesisEfficiency", "Timing", "WARMUP_SECONDS", "all_threads", "benchmark",
           "conv1d_flops", "flops_per_sample", "layer_flops", "linear_flops", "load_average",
           "matmul_throughput", "measure_memory", "noise_signal", "offline_rtf", "peak_memory",
           "plot_rtf_vs_block", "plot_rtf_vs_params", "reading", "recurrent_flops", "streaming_rtf",
           "table11", "table11_markdown", "thesis_reading", "thesis_table11", "thread_counts",
           "timed_repeats", "torch_threads", "write_efficiency"]
