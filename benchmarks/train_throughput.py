"""Benchmark: training throughput (audio samples per second) of every named model.

One optimiser step = forward, 0.5·MAE + 0.5·MR-STFT loss, backward, gradient clipping, Adam,
exactly as springstudy.train does it, on a batch of random crops. Reported: the median over
`--steps` timed steps (after `--warmup` untimed ones) of batch·crop / step time, with
time.perf_counter, on the device torch picks (CUDA when present) and the thread count given.

    python benchmarks/train_throughput.py [--rate 16000] [--crop 0.5] [--batch 8] [--steps 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from springstudy.metrics import ThesisLoss
from springstudy.models import build, list_models


def throughput(name: str, rate: int, crop: float, batch: int, steps: int, warmup: int,
               device: torch.device) -> dict[str, float | str | int]:
    """Median samples/s of full training steps of the named model."""
    model = build(name, seed=0).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_fn = ThesisLoss(0.5)
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
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - started)
    step = statistics.median(times)
    return {"model": name, "params": sum(p.numel() for p in model.parameters()), "sample_rate": rate,
            "batch": batch, "crop_s": crop, "step_s": round(step, 4), "samples_per_s": round(batch * n / step, 1),
            "device": str(device), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--crop", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="*", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = [throughput(m, args.rate, args.crop, args.batch, args.steps, args.warmup, device)
            for m in (args.models or list_models())]
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
