"""Training: Adam, ReduceLROnPlateau, early stopping, checkpoints that resume exactly.

Thesis Table 7: Adam, learning rate 0.005, ReduceLROnPlateau, early stopping with patience 25,
batch 16 at 16 kHz and 8 at 48 kHz, 50/25/25 split; loss α·MAE + (1 − α)·MR-STFT (eq. 3.1).

Reproducibility is by construction, not by saved generator state alone: epoch ``e`` visits the
training items in the order ``default_rng([seed, e]).permutation(n)``, and item ``i``'s crop in
epoch ``e`` comes from ``default_rng([seed, e, i])`` (as :class:`TransformedPairs` does). So the
batch at any step is a function of (seed, step), and a run resumed from ``last.pt`` replays
exactly what an uninterrupted run would have done. The model's initialisation is seeded by
``springstudy.models.build``; torch runs deterministic algorithms on the CPU.

Checkpoints (``best.pt`` on validation improvement, ``last.pt`` at every validation) are dicts
of tensors and plain Python values, written to a temporary file and renamed, and load with
``torch.load(weights_only=True)``. A non-finite loss stops the run with :class:`TrainingError`
before anything is written, so ``last.pt`` stays the last good state.

Launched with ``torchrun --nproc_per_node N``, training runs as DistributedDataParallel
(NCCL on GPUs, gloo on the CPU): every rank draws the same global batch and trains on its
shard ``batch[rank::N]``; rank 0 alone writes checkpoints, logs and the summary.
"""

from __future__ import annotations

from springstudy.train.settings import (CROP_SAMPLINGS, RECURRENT_INITS, RunResult, TrainConfig,
                                        TrainingError, config_from_params, loss_label, recipe_label,
                                        summary_json)
from springstudy.train.crops import (ENERGY_FLOOR, crop_batch, crop_offsets, epoch_order,
                                     load_splits)
from springstudy.train.checkpoints import (git_commit, load_training_checkpoint, save_atomic)
from springstudy.train.loop import (train)

__all__ = ["CROP_SAMPLINGS", "ENERGY_FLOOR", "RECURRENT_INITS", "RunResult", "TrainConfig",
    "TrainingError", "config_from_params", "crop_batch", "crop_offsets", "epoch_order",
    "git_commit", "load_splits", "load_training_checkpoint", "loss_label", "recipe_label", "save_atomic",
    "summary_json", "train"]
