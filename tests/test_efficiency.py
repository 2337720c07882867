"""Efficiency measurements (thesis Table 11): FLOP counts, timings, peak memory, tables, CLI.

That streaming and offline outputs agree is not re-tested here: the benchmark times
``springstudy.streaming.Streamer``, whose block-by-block output equals the whole-signal
forward pass for every family, both streaming paths and random block sizes
(tests/test_streaming.py::test_streamed_equals_offline), and for full-size named models exactly
as the benchmark builds them, ``max_block`` = block
(tests/test_streaming.py::test_full_size_named_model_streams).

Independent references here: closed-form FLOP counts of convolution stacks and recurrent
layers, a deliberate allocation of known size, and the thesis's Table 11 values as the thesis
prints them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from springstudy import efficiency as eff
from springstudy.models import build
from springstudy.models.causal import CausalConv1d


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread, as the benchmark's single-thread rows; restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_conv_stack_flops_equal_the_closed_form():
    # (C_in, C_out, k, dilation, bias)
    layers = [(1, 4, 3, 1, True), (4, 8, 5, 2, True), (8, 8, 1, 1, True), (8, 1, 3, 4, False)]
    stack = nn.Sequential(*[CausalConv1d(c_in, c_out, k, d, bias) for c_in, c_out, k, d, bias in layers])
    closed_form = sum(2 * c_in * k * c_out + (c_out if bias else 0) for c_in, c_out, k, _, bias in layers)
    assert eff.flops_per_sample(stack) == closed_form == 2 * (12 + 160 + 64 + 24) + (4 + 8 + 8)
    # Per layer, and independent of the probe's length (FLOPs are per output sample).
    assert [round(layer.flops) for layer in eff.layer_flops(stack, length=37)] == [
        eff.conv1d_flops(c_in, c_out, k, bias) for c_in, c_out, k, _, bias in layers]


def test_recurrent_flops_equal_the_closed_form():
    def lstm_layer(inputs: int, hidden: int) -> int:
        return 8 * (inputs + hidden + 1) * hidden  # 4 gates, 2 FLOPs per weight, 2 bias vectors

    h = 96
    assert eff.flops_per_sample(build("LSTM-96")) == lstm_layer(1, h) + (2 * h + 1)
    assert eff.flops_per_sample(build("GRU-96")) == 6 * (1 + h + 1) * h + (2 * h + 1)
    h = 32  # LSTM-cs-32: causal conv 1 -> 32 (k 3), two LSTM layers, linear, 1 -> 1 skip
    assert eff.flops_per_sample(build("LSTM-cs-32")) == (
        (2 * 3 * h + h) + lstm_layer(h, h) + lstm_layer(h, h) + (2 * h + 1) + 3)


def test_feed_forward_models_spend_two_flops_per_weight():
    # Each convolution weight is used once per output sample: FLOPs ~ 2 x parameters (biases
    # count once, BatchNorm/PReLU parameters not at all).
    for name in ("TCN-1800", "WaveNet-24", "GCN-250"):
        model = build(name)
        conv_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv1d))
        conv_biases = sum(m.bias.numel() for m in model.modules() if isinstance(m, nn.Conv1d) and m.bias is not None)
        assert eff.flops_per_sample(model) == 2 * conv_weights + conv_biases


def test_peak_memory_sees_a_100_mb_allocation():
    m = eff.peak_memory({"kind": "allocation", "megabytes": 100})
    assert m.baseline_mb > 50  # torch is imported in the baseline
    assert 98 <= m.peak_mb[0] <= 110, m


def test_streaming_memory_does_not_grow_and_offline_memory_does():
    streaming = eff.peak_memory({"kind": "streaming", "model": "GCN-250", "sample_rate": 16_000,
                                 "block": 512, "seconds": [1.0, 4.0]})
    assert streaming.seconds == (1.0, 4.0)
    assert streaming.peak_mb[1] - streaming.peak_mb[0] < 1.0
    assert streaming.peak_mb[1] < 200
    short, long = (eff.peak_memory({"kind": "offline", "model": "GCN-250", "sample_rate": 16_000,
                                    "seconds": [s]}) for s in (1.0, 4.0))
    # Offline, the gated outputs of GCN-250's 4 layers (64 channels) are concatenated over the
    # whole input: 3 s more input need at least that much more memory.
    concatenated_mb = 64 * 4 * 16_000 * 3.0 / eff.BYTES_PER_MB
    assert long.peak_mb[0] - short.peak_mb[0] > concatenated_mb


def test_timings_are_medians_of_warm_repeats():
    model = build("GCN-250", channels=4)
    offline = eff.offline_rtf(model, 16_000, seconds=0.25, repeats=3)
    assert len(offline.times_s) == 3
    assert offline.rtf == pytest.approx(sorted(offline.times_s)[1] / 0.25)
    assert eff.offline_rtf(model, 16_000, seconds=0.25, repeats=5, budget_s=1e-9).times_s.__len__() == 1
    streaming = eff.streaming_rtf(model, 16_000, block=256, seconds=0.25, repeats=3)
    assert streaming.audio_s == pytest.approx(16 * 256 / 16_000)  # whole blocks only
    assert streaming.rtf == pytest.approx(streaming.median_s / streaming.audio_s)
    assert eff.matmul_throughput(size=128, repeats=3) > 1e8


def test_thesis_table11_transcription_matches_study_md():
    # These cells of the thesis's Table 11, transcribed by hand.
    thesis = {r.model: r for r in eff.THESIS_TABLE11}
    assert (thesis["GCN-250"].rtf_48k, thesis["GCN-250"].cl_48k_mb) == (0.059, 1480.0)
    assert (thesis["WaveNet-24"].rtf_48k, thesis["WaveNet-24"].cl_48k_mb) == (1.810, 8980.0)
    assert (thesis["LSTM-cs-96"].rtf_48k, thesis["LSTM-cs-96"].cl_48k_mb) == (1.349, 2230.0)
    assert (thesis["LSTM-96"].rtf_16k, thesis["LSTM-96"].cl_16k_mb) == (0.036, 99.0)
    assert thesis["LSTM-96"].rtf_48k is None  # printed "-"


def test_benchmark_rows_bound_and_table11():
    settings = eff.EfficiencySettings.from_dict({
        "models": ["GCN-250", "LSTM-96"], "rates": [16_000], "blocks": [256], "offline_seconds": 0.25,
        "streaming_seconds": 0.25, "repeats": 1, "threads": [1], "memory": False})
    result = eff.benchmark(settings, progress=False)
    rows = result.rows
    assert tuple(rows.columns) == eff.COLUMNS
    assert sorted(rows["mode"].unique()) == ["offline", "streaming"]
    assert set(rows.block[rows["mode"] == "offline"]) == {4000}  # offline: the whole input is one block
    assert rows.peak_mem_mb.isna().all() and (rows.rtf > 0).all()
    throughput = result.info["matmul_flops_per_s"]["1"]
    expected = rows.flops_per_sample * rows.sample_rate / throughput
    assert (rows.rtf_bound - expected).abs().max() < 1e-12
    assert set(result.details.columns) >= set(eff.DETAIL_COLUMNS)
    table = eff.table11(rows, block=256)
    gcn = table.set_index("model").loc["GCN-250"]
    assert gcn.thesis_rtf_16k == 0.176 and gcn.thesis_cl_mb_16k == 187.0 and gcn.params == 65_569
    assert gcn.stream_vs_bound_16k == pytest.approx(gcn.rtf_stream_16k / gcn.rtf_bound_16k)
    markdown = eff.table11_markdown(table, result.info, block=256)
    assert "### 16 kHz" in markdown and "0.176" in markdown and "187 MB" in markdown
    assert "real time" in eff.reading(rows, block=256)


def test_efficiency_cli_writes_tables_and_figures(tmp_path, capsys):
    """``springstudy efficiency`` writes its tables and figures; ``bench`` is its alias."""
    from springstudy.cli.efficiency import add as register_bench
    from springstudy.errors import UserError

    parser = argparse.ArgumentParser()
    register_bench(parser.add_subparsers())
    args = parser.parse_args(["efficiency", "--models", "gcn-2500", "--rates", "16000", "--blocks", "512",
                              "--seconds", "0.25", "--stream-seconds", "0.25", "--repeats", "1",
                              "--threads", "1", "--no-memory", "--quiet", "--out", str(tmp_path / "tables"),
                              "--figures", str(tmp_path / "figures")])
    args.func(args)
    for name in eff.TABLE_FILES.values():
        assert (tmp_path / "tables" / name).is_file(), name
    for name in eff.FIGURE_FILES.values():
        assert (tmp_path / "figures" / name).stat().st_size > 1000, name
    assert "GCN-2500" in capsys.readouterr().out
    with pytest.raises(UserError, match="unknown model"):
        bad = parser.parse_args(["bench", "--models", "GCN-9", "--out", str(tmp_path)])
        bad.func(bad)
    with pytest.raises(UserError, match="thread"):
        bad = parser.parse_args(["bench", "--threads", "0", "--out", str(tmp_path)])
        bad.func(bad)


def test_every_setting_has_one_name_in_params_notebook_and_command_line():
    """params.yaml's efficiency group, notebook 06's parameters and the command line's flags all
    name the settings as EfficiencySettings does; an unknown or out-of-range one is refused."""
    import dataclasses
    import json as json_

    from springstudy.cli.efficiency import add as register
    from springstudy.config import load_params, stage_params

    names = {f.name for f in dataclasses.fields(eff.EfficiencySettings)}
    group = stage_params("efficiency", load_params(), "quick")
    assert set(group) <= names
    eff.EfficiencySettings.from_dict(group)
    root = Path(__file__).resolve().parents[1]
    cell = "".join(json_.loads((root / "notebooks" / "06_efficiency.ipynb").read_text())["cells"][1]["source"])
    parameters = {line.split("=")[0].strip() for line in cell.splitlines() if "=" in line and not line.startswith("#")}
    assert names <= parameters
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    flags = {a.dest for a in parser._subparsers._group_actions[0].choices["efficiency"]._actions}
    assert names - {"memory"} <= flags
    with pytest.raises(eff.EfficiencyError, match="unknown efficiency setting"):
        eff.EfficiencySettings.from_dict({"offline_second": 1.0})
    with pytest.raises(eff.EfficiencyError, match="offline_seconds: input should be greater than 0"):
        eff.EfficiencySettings.from_dict({"offline_seconds": 0})
    with pytest.raises(eff.EfficiencyError, match="unknown model"):
        eff.EfficiencySettings.from_dict({"models": ["GCN-9"]})


def test_thread_counts_parse_all():
    assert eff.thread_counts(["1", "all", 2]) == [1, None, 2]
    assert not math.isnan(eff.all_threads())


@pytest.mark.parametrize("name", ["TCN-1800", "WaveNet-10", "GCN-250", "GCN-2500"])
def test_conv_flops_agree_with_torch_flop_counter(name):
    """torch.utils.flop_counter counts 2 FLOPs per multiply-accumulate of every convolution and
    leaves bias additions out; ours adds one per bias and output sample. Nothing else differs.
    The input spans the receptive field: on a shorter one the convolutions skip the taps that
    only see the zeros before t = 0, which torch then (rightly) does not count."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build(name).eval()
    length = max(2000, model.receptive_field)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, length))
    biases = sum(m.bias.numel() for m in model.modules() if isinstance(m, nn.Conv1d) and m.bias is not None)
    assert counter.get_total_flops() / length == eff.flops_per_sample(model) - biases


def test_matmul_throughput_agrees_with_an_independently_timed_product():
    """The benchmark's FLOP/s against 2n³ / (median time of numpy's float32 n×n product on one
    BLAS thread): two implementations of one product on one core agree within a factor of 4
    (they differ in BLAS library and timing loop, and the machines are noisy)."""
    import statistics
    import time

    import numpy as np
    from threadpoolctl import threadpool_limits

    n = 512
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    times = []
    with threadpool_limits(limits=1):
        for _ in range(9):
            started = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - started)
    independent = 2 * n ** 3 / statistics.median(times[2:])
    ours = eff.matmul_throughput(size=n, threads=1)
    assert 1 / 4 < ours / independent < 4, (ours / 1e9, independent / 1e9)


def test_benchmark_measures_peak_memory_behind_table11():
    """The memory path of Table 11 (subprocesses, peak resident set) on one small model: the
    streaming peak stays flat with the input, offline grows, and the rows carry the numbers."""
    settings = eff.EfficiencySettings(models=("GCN-250",), rates=(16_000,), blocks=(eff.DEFAULTS.table_block,),
                                      offline_seconds=0.25, streaming_seconds=0.25, repeats=1, threads=(1,),
                                      memory=True, memory_seconds=(0.5, 4.0), memory_stream_seconds=(0.5, 1.0),
                                      memory_workers=1)
    result = eff.benchmark(settings, progress=False)
    memory = result.memory
    assert memory is not None and memory["peak_mem_mb"].notna().all(), memory
    offline = memory[memory["mode"] == "offline"].sort_values("seconds")["peak_mem_mb"].to_numpy()
    assert offline[-1] > offline[0]
    rows = result.rows
    assert rows.loc[rows["mode"] == "streaming", "peak_mem_mb"].notna().all()
