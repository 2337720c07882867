"""Benchmark: which training recipe gets a model closest to its receptive-field bound per CPU-minute.

Each recipe (a set of springstudy.train.TrainConfig fields) trains the model on a dataset's
training split (seeded, same split file as the pipeline), stopping at ``--steps`` optimiser
steps or ``--cpu-minutes`` of training CPU time (process time, all threads, validation
excluded), whichever comes first; every ``--val-every`` steps it records the validation ESR on
``--val-items`` whole items, and prints that curve. At the end the best checkpoint is scored on
every test item, beside the model's receptive-field bound (springstudy.bounds: the
least-squares FIR of its receptive field fitted on the training split), and the table gives
the test ESR, the gap (ESR / bound) and the CPU-minutes spent. With several ``--seeds`` it
also prints the median per recipe.

    python benchmarks/train_recipes.py --data data/quick/springset \\
        --split-file data/quick/splits/springset.json --model GCN-250 \\
        --recipes thesis quick-esr0.9 esr esr-white --steps 150 --csv recipes.csv
    python benchmarks/train_recipes.py ... --recipes esr --cpu-minutes 15 --seeds 1 2 3 --steps 100000
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from springstudy.bounds import BoundCache, bound_length
from springstudy.data.tensors import load_split_tensors
from springstudy.evaluate import model_predictor, score_predictor
from springstudy.train import TrainConfig, train

#: The candidates compared in the README ("Training recipes"), as TrainConfig fields.
RECIPES: dict[str, dict[str, Any]] = {
    # thesis eq. 3.1 as Table 7 has it (but for the batch: 2 whole items here, as every recipe)
    "thesis": dict(alpha=0.5, time_term="mae", lr=0.005),
    # the quick profile before this benchmark: ESR-weighted loss, low learning rate
    "quick-esr0.9": dict(alpha=0.9, time_term="esr", lr=0.001),
    # plain ESR, no spectral term
    "esr": dict(alpha=1.0, time_term="esr", lr=0.003),
    "esr-lr5e-3": dict(alpha=1.0, time_term="esr", lr=0.005),
    "esr-lr1e-2": dict(alpha=1.0, time_term="esr", lr=0.01),
    # ESR after the dry signals' whitening filter (better conditioned for tonal input)
    "esr-white": dict(alpha=1.0, time_term="esr_white", lr=0.003),
    # short crops of the receptive field's length, with their input history, and a larger batch
    "esr-white-crops": dict(alpha=1.0, time_term="esr_white", lr=0.003, batch_size=8, crop_seconds=0.25,
                            crop_context_seconds=0.65),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/quick/springset")
    parser.add_argument("--split-file", default="data/quick/splits/springset.json")
    parser.add_argument("--model", default="GCN-250")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[20231])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--cpu-minutes", type=float, default=None)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--val-every", type=int, default=25)
    parser.add_argument("--val-items", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits, rate, _ = load_split_tensors(args.data, args.split_file, args.seeds[0], "random",
                                         ("train", "validation", "test"))
    cache = BoundCache(splits["train"], rate)
    rows = []
    with tempfile.TemporaryDirectory(prefix="springstudy-recipes-") as scratch:
        for recipe in args.recipes:
            for seed in args.seeds:
                fields = {"batch_size": args.batch, "crop_seconds": None, **RECIPES[recipe]}
                config = TrainConfig(model=args.model, out=str(Path(scratch) / f"{recipe}-{seed}"), seed=seed,
                                     max_steps=args.steps, max_epochs=None, val_every=args.val_every,
                                     val_items=args.val_items, tensorboard=False,
                                     max_cpu_seconds=None if args.cpu_minutes is None else 60 * args.cpu_minutes,
                                     **fields)
                started = time.perf_counter()
                result = train(config, splits={"train": splits["train"], "validation": splits["validation"]},
                               sample_rate=rate, progress=False)
                wall = time.perf_counter() - started
                curve = ", ".join(f"{h['cpu_seconds'] / 60:.1f} min/{h['step']}: {h['val_esr']:.3f}"
                                  for h in result.history)
                print(f"{recipe} seed {seed}: validation ESR at CPU-min/step: {curve}", flush=True)
                length = bound_length(float(result.model.receptive_field), cache.item_length)
                bound = cache.per_item_esr(length, splits["test"])
                values = score_predictor(model_predictor(result.model), splits["test"], recipe,
                                         result.summary["params"]).items["esr"].to_numpy()
                summary = result.summary
                rows.append({"model": args.model, "recipe": recipe, "seed": seed, "steps": summary["steps"],
                             "stopped": summary["stopped"], "cpu_min": round(summary["train_cpu_seconds"] / 60, 2),
                             "wall_min": round(wall / 60, 2), "test_esr": round(float(values.mean()), 4),
                             "bound_esr": round(float(bound.mean()), 4),
                             "gap": round(float(values.mean() / bound.mean()), 2),
                             "best_val_esr": round(min(h["val_esr"] for h in result.history), 4)})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if len(args.seeds) > 1:
        print(table.groupby("recipe")[["test_esr", "gap", "cpu_min"]].median().to_string())
    if args.csv:
        table.to_csv(args.csv, index=False)
    if not math.isfinite(table["test_esr"].max()):
        raise SystemExit("a run ended with a non-finite test ESR")


if __name__ == "__main__":
    main()
