"""Benchmark: training throughput of every named model against its FLOP bound.

One optimiser step = forward, loss, backward, gradient clipping, Adam, exactly as
springstudy.train does it, on a batch of random crops. Reported per model and thread count:
the median over ``--steps`` timed steps (after ``--warmup`` untimed ones, time.perf_counter) of
batch·crop / step time, in audio samples per second, and the same against the **FLOP bound**:
a training step costs about 3× the forward FLOPs (forward, and a backward pass of twice the
forward's work: gradients with respect to activations and to weights), so the bound is

    samples/s ≤ matmul FLOP/s / (3 · forward FLOPs per sample)

with the matmul throughput (float32 512² ``torch.mm``, springstudy.efficiency.matmul_throughput)
measured on the same thread count just before and just after each model's steps (their mean).
``x_bound`` is the measured step time over the bound's (1: as fast as a matmul could do the work;
the loss's own cost is counted against the model).

The forward FLOPs are the nominal ones (springstudy.efficiency.flops_per_sample: every tap of
every kernel). On a crop shorter than a model's receptive field the convolutions skip the taps
that only see the zeros before the crop (springstudy.models.causal), so a TCN-4000 on a 1 s crop
does less work than that; ``live_flops_per_sample`` counts what the forward really computes
(torch.utils.flop_counter on one crop, plus the bias additions) and ``x_live_bound`` is the
ratio against that work, the stricter figure.

    python benchmarks/train_throughput.py [--rate 16000] [--crop 1.0] [--batch 2] [--steps 7]
        [--threads 1 2] [--loss esr|thesis] [--models GCN-250 ...] [--csv out.csv]

The paper profile's cost: its batches (16 whole 2 s items at 16 kHz, 8 whole 5 s items at
48 kHz), the thesis's loss, and ``--epoch-items`` (the training split: 593 SpringSet items, 345
EGFxSet items) and ``--epochs`` (its ceiling: 1000 at 16 kHz, 250 at 48 kHz) give hours per
epoch and for the ceiling:

    python benchmarks/train_throughput.py --batch 16 --crop 2 --loss thesis --threads 2 \
        --steps 2 --warmup 1 --epoch-items 593 --epochs 1000
    python benchmarks/train_throughput.py --rate 48000 --batch 8 --crop 5 --loss thesis --threads 2 \
        --steps 2 --warmup 1 --epoch-items 345 --epochs 250 --models TCN-1800 WaveNet-10 GCN-250 LSTM-96
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd
import torch

from torch.utils.flop_counter import FlopCounterMode

from springstudy.efficiency import flops_per_sample, matmul_throughput, torch_threads
from springstudy.metrics import ThesisLoss
from springstudy.models import build, list_models


def step_times(name: str, rate: int, crop: float, batch: int, steps: int, warmup: int, loss: str,
               device: torch.device) -> list[float]:
    """Seconds of each timed training step of the named model."""
    model = build(name, seed=0).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
    loss_fn = ThesisLoss(1.0, "esr") if loss == "esr" else ThesisLoss(0.5)
    n = int(round(crop * rate))
    g = torch.Generator().manual_seed(0)
    x = (0.1 * torch.randn(batch, 1, n, generator=g)).to(device)
    y = (0.1 * torch.randn(batch, 1, n, generator=g)).to(device)
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        value = loss_fn(model(x), y)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return times


def live_flops_per_sample(model: torch.nn.Module, samples: int) -> float:
    """Forward FLOPs per sample the model really computes on a ``samples``-long input.

    Recurrent models keep their nominal count (torch's counter does not see LSTM kernels).
    """
    if any(isinstance(m, torch.nn.RNNBase) for m in model.modules()):
        return float(flops_per_sample(model))
    biases = sum(m.bias.numel() for m in model.modules()
                 if isinstance(m, torch.nn.Conv1d) and m.bias is not None)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, samples))
    return counter.get_total_flops() / samples + biases


def measure(models: list[str], rate: int, crop: float, batch: int, steps: int, warmup: int, threads: list[int],
            loss: str, device: torch.device) -> pd.DataFrame:
    """One row per (threads, model): samples/s, the FLOP bound and their ratio."""
    rows = []
    for n_threads in threads:
        with torch_threads(n_threads):
            for name in models:
                model = build(name, seed=0)
                forward = flops_per_sample(model)
                live = live_flops_per_sample(model, int(round(crop * rate)))
                before = matmul_throughput(threads=n_threads)
                step = statistics.median(step_times(name, rate, crop, batch, steps, warmup, loss, device))
                flops_per_s = (before + matmul_throughput(threads=n_threads)) / 2
                samples = batch * int(round(crop * rate))
                bound_step = 3 * forward * samples / flops_per_s
                live_step = 3 * live * samples / flops_per_s
                rows.append({"model": name, "threads": n_threads, "params": model.num_parameters,
                             "forward_flops_per_sample": forward, "sample_rate": rate, "batch": batch, "crop_s": crop,
                             "loss": loss, "step_s": round(step, 4), "samples_per_s": round(samples / step, 1),
                             "bound_samples_per_s": round(samples / bound_step, 1),
                             "matmul_gflops": round(flops_per_s / 1e9, 1), "x_bound": round(step / bound_step, 2),
                             "live_flops_per_sample": round(live), "x_live_bound": round(step / live_step, 2),
                             "device": str(device)})
                print(f"{n_threads} thread(s) {name:>12}: {samples / step:>10.0f} samples/s, "
                      f"bound {samples / bound_step:>10.0f}, x{step / bound_step:.2f} "
                      f"(live work x{step / live_step:.2f})", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--crop", type=float, default=1.0, help="seconds per item")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--loss", choices=["esr", "thesis"], default="esr",
                        help="esr: the batch ESR (the quick recipe); thesis: 0.5 MAE + 0.5 MR-STFT")
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--csv", default=None, help="also write the table here")
    parser.add_argument("--epoch-items", type=int, default=None, help="training items per epoch: adds hours/epoch")
    parser.add_argument("--epochs", type=int, default=None, help="with --epoch-items: adds hours for this many epochs")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    table = measure(args.models or list_models(), args.rate, args.crop, args.batch, args.steps, args.warmup,
                    args.threads, args.loss, device)
    if args.epoch_items:
        steps = -(-args.epoch_items // args.batch)
        table["steps_per_epoch"] = steps
        table["hours_per_epoch"] = (steps * table["step_s"] / 3600).round(3)
        if args.epochs:
            table[f"hours_{args.epochs}_epochs"] = (args.epochs * table["hours_per_epoch"]).round(1)
    print(table.to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
