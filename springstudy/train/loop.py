"""The training loop: Adam, ReduceLROnPlateau, early stopping, CPU-time budgets, resume, DDP."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from springstudy import __version__
from springstudy.data.tensors import SplitTensors
from springstudy.environment import REPORTED_PACKAGES, package_version
from springstudy.metrics import MRSTFT_FFT_SIZES, ThesisLoss, compute_all, esr, whitening_filter
from springstudy.models.conditioned import apply_model, is_conditioned
from springstudy.outputs import json_safe, write_json_atomic
from springstudy.train.checkpoints import _saved_step, git_commit, load_training_checkpoint, run_lock, save_atomic
from springstudy.train.crops import _check_sampling, crop_batch, epoch_order, knobs_of, load_splits
from springstudy.train.settings import RECURRENT_INITS, RunResult, TrainConfig, TrainingError


# --- distributed ----------------------------------------------------------------------------

def _distributed() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) when not launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def _device(config: TrainConfig, rank: int) -> torch.device:
    if config.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(config.device)


# --- the loop -------------------------------------------------------------------------------

def _validate(model: torch.nn.Module, split: SplitTensors, loss_fn: ThesisLoss, config: TrainConfig,
              sample_rate: int, device: torch.device) -> tuple[float, float]:
    """Mean per-item training loss and ESR over the validation items (whole items or their first seconds)."""
    n_items = len(split.ids) if config.val_items is None else min(config.val_items, len(split.ids))
    length = None if config.val_seconds is None else int(round(config.val_seconds * sample_rate))
    losses, esrs = [], []
    model.eval()
    with torch.no_grad():
        for i in range(n_items):
            dry, wet = split.dry[i:i + 1, :, :length].to(device), split.wet[i:i + 1, :, :length].to(device)
            pred = apply_model(model, dry, knobs_of(split, [i]))
            losses.append(float(loss_fn(pred, wet)))
            esrs.append(float(esr(pred, wet)[0]))
    model.train()
    return float(np.mean(losses)), float(np.mean(esrs))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def train(config: TrainConfig, resume: bool = False, splits: dict[str, SplitTensors] | None = None,
          sample_rate: int | None = None, progress: bool = True,
          on_step: Callable[[int, float], None] | None = None, overwrite: bool = False) -> RunResult:
    """Train ``config.model`` and write ``best.pt``, ``last.pt`` and ``summary.json`` into ``config.out``.

    ``splits`` (``{"train": SplitTensors, "validation": SplitTensors}``) and ``sample_rate``
    bypass ``config.data``; ``resume`` continues from ``last.pt`` (refused if a setting that
    changes what is trained differs from the checkpoint's: :data:`RESUMABLE_CHANGES` may);
    a folder that already holds a run is refused without ``resume`` or ``overwrite``, and a lock
    file keeps a second training out of it; ``on_step(step, loss)`` is called after every
    optimiser step (tests use it to interrupt a run).
    """
    config.check()
    if splits is None and config.data is not None and not Path(config.data).exists():
        raise TrainingError(f"{config.data}: dataset folder not found")
    rank, world = _distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: is a file, not a run folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TrainingError(f"{out}: cannot create the run folder ({err.strerror})") from None
    if not os.access(out, os.W_OK):
        raise TrainingError(f"{out}: the run folder is not writable")
    with run_lock(out) if rank == 0 else contextlib.nullcontext():
        if not resume and not overwrite and (out / "last.pt").is_file():
            raise TrainingError(f"{out} already holds a run (last.pt at step {_saved_step(out)}): pass resume "
                                f"(--resume) to continue it, overwrite (--overwrite) to replace it, or train "
                                f"into another folder")
        return _train(config, resume, splits, sample_rate, progress, on_step, rank, world)


def _train(config: TrainConfig, resume: bool, splits: dict[str, SplitTensors] | None, sample_rate: int | None,
           progress: bool, on_step: Callable[[int, float], None] | None, rank: int, world: int) -> RunResult:
    _seed_everything(config.seed)
    run = _TrainingRun(config, splits, sample_rate, _device(config, rank), rank, world, resume)
    if resume:
        run.restore()
    run.start()
    bar = tqdm(total=run.total_steps, initial=run.state["step"], desc=config.model, unit="step",
               disable=not (progress and run.is_main))
    run.net.train()
    try:
        while run.state["step"] < run.total_steps and run.state["stopped"] is None:
            epoch, loss_value, out_of_time = run.optimiser_step()
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss_value:.4f}")
            if on_step:
                on_step(run.state["step"], loss_value)
            run.after_step(epoch, loss_value, out_of_time)
    finally:
        bar.close()
        if run.writer:
            run.writer.close()
    return run.finish()


#: Settings a resumed run may change: its budget and where and how it runs, not what it learns.
RESUMABLE_CHANGES = ("max_steps", "max_epochs", "max_cpu_seconds", "threads", "device", "tensorboard",
                     "audio_examples", "out")


def settings_changed(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """Each setting (besides :data:`RESUMABLE_CHANGES`) whose value in ``config`` differs from the
    one a checkpoint saved, as ``name saved -> now``; folders compare as absolute paths."""
    now = dataclasses.asdict(config)
    changed = []
    for name, value in now.items():
        if name in RESUMABLE_CHANGES or name not in saved:
            continue
        before = saved[name]
        if name in ("data", "split_file"):
            before, value = (None if v is None else str(Path(v).resolve()) for v in (before, value))
        if before != value:
            changed.append(f"{name} {before!r} -> {value!r}")
    return changed


class _TrainingRun:
    """One run in progress: its data, model, optimiser, schedule and state, driven by :func:`train`.

    ``state`` is what ``last.pt`` keeps (step, best validation loss, history, clocks, why it
    stopped), so a resumed run continues exactly where the saved one was.
    """

    def __init__(self, config: TrainConfig, splits: dict[str, SplitTensors] | None, sample_rate: int | None,
                 device: torch.device, rank: int, world: int, resume: bool) -> None:
        from springstudy.models import build

        self.config, self.device, self.rank, self.world = config, device, rank, world
        self.is_main = rank == 0
        self.out = out = Path(config.out)
        if splits is None:
            splits, sample_rate, split_record = load_splits(config)
            if self.is_main:
                write_json_atomic(out / "split.json", split_record)
        elif sample_rate is None:
            raise TrainingError("train(): give sample_rate with splits")
        self.sample_rate = sample_rate
        self.train_set, self.val_set = splits["train"], splits["validation"]
        train_set = self.train_set
        self.n_train = len(train_set.ids)
        self.crop = crop = None if config.crop_seconds is None else int(round(config.crop_seconds * sample_rate))
        self.context = context = 0 if crop is None else int(round(config.crop_context_seconds * sample_rate))
        self._check(crop, context)

        self.model = model = build(config.model, seed=config.seed, **config.model_overrides).to(device)
        if is_conditioned(model) and (train_set.knobs is None or self.val_set.knobs is None):
            raise TrainingError(f"{config.model} follows the knobs, but {config.data or 'the data'} has none "
                                f"(render it with knobs: springstudy data synth --knobs)")
        init_started, init_started_cpu = time.perf_counter(), time.process_time()
        self.init_readout_esr = init_readout_esr = None if resume else _initialise(model, config, train_set,
                                                                                   sample_rate)
        init_seconds, init_cpu_seconds = time.perf_counter() - init_started, time.process_time() - init_started_cpu
        self.n_params = sum(p.numel() for p in model.parameters())
        self.net: torch.nn.Module = model
        if world > 1:
            # find_unused_parameters: GCN's last 1x1 mix feeds nothing (as in the reference code).
            self.net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=config.lr_factor,
                                                                    patience=config.lr_patience)
        whitening = whitening_filter(train_set.dry, config.whiten_order) if config.time_term == "esr_white" else None
        self.loss_fn = ThesisLoss(config.alpha, config.time_term, whitening).to(device)
        # Each item's mean square target: an ESR over crops divides by it (metrics.crop_esr).
        self.item_power = train_set.wet.double().pow(2).mean(dim=(1, 2)).float()

        self.steps_per_epoch = math.ceil(self.n_train / config.batch_size)
        limits = [s for s in (config.max_steps,
                              None if config.max_epochs is None else config.max_epochs * self.steps_per_epoch)
                  if s is not None]
        if not limits:
            raise TrainingError("give max_steps or max_epochs")
        self.total_steps = min(limits)
        self.val_every = config.val_every or self.steps_per_epoch
        self.state: dict[str, Any] = {"step": 0, "best_val": math.inf, "best_step": 0, "bad_validations": 0,
                                      "history": [], "train_seconds": 0.0, "train_cpu_seconds": 0.0,
                                      "train_samples": 0, "stopped": None, "init_readout_esr": init_readout_esr}
        if init_readout_esr is not None:       # the least-squares readout is training time too
            self.state.update(train_seconds=init_seconds, train_cpu_seconds=init_cpu_seconds)
        self.writer = None

    def _check(self, crop: int | None, context: int) -> None:
        """Refuse settings that cannot train: unknown crop sampling or start, negative context,
        crops or items too short for the MR-STFT loss."""
        config = self.config
        _check_sampling(config.crop_sampling)
        if config.recurrent_init not in RECURRENT_INITS:
            raise TrainingError(f"recurrent_init must be one of {', '.join(RECURRENT_INITS)}, "
                                f"not {config.recurrent_init!r}")
        if context < 0:
            raise TrainingError(f"crop_context_seconds must be >= 0, not {config.crop_context_seconds}")
        shortest = min(crop or self.train_set.dry.shape[-1], self.train_set.dry.shape[-1],
                       self.val_set.dry.shape[-1])
        if config.alpha < 1.0 and shortest <= max(MRSTFT_FFT_SIZES) // 2:
            raise TrainingError(f"crops or items of {shortest} samples are too short for the MR-STFT loss "
                                f"(largest FFT {max(MRSTFT_FFT_SIZES)}): use crop_seconds > "
                                f"{max(MRSTFT_FFT_SIZES) / 2 / self.sample_rate:.3f} s")

    def restore(self) -> None:
        """Continue from ``last.pt``: weights, optimiser, schedule, state and the torch RNG."""
        ckpt = load_training_checkpoint(self.out / "last.pt")
        if ckpt["model_name"] != self.config.model:
            raise TrainingError(f"{self.out / 'last.pt'}: checkpoint of {ckpt['model_name']}, not {self.config.model}")
        changed = settings_changed(ckpt.get("config", {}), self.config)
        if changed:
            raise TrainingError(f"{self.out / 'last.pt'} was trained with other settings: {'; '.join(changed)}. "
                                f"Resume with the saved settings (only {', '.join(RESUMABLE_CHANGES)} may "
                                f"change), or train into another folder")
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.scheduler.load_state_dict(ckpt["scheduler_state"])
        self.state.update(ckpt["train_state"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        # A run that stopped at its step or epoch limit goes on when resumed with a higher one
        # (early stopping stays final).
        if self.state["stopped"] in ("max_steps", "max_epochs", "max_cpu_seconds") \
                and self.state["step"] < self.total_steps:
            self.state["stopped"] = None

    def checkpoint(self, name: str) -> None:
        """Save the run as ``name`` (``last.pt`` or ``best.pt``) in the run folder (main rank only)."""
        if not self.is_main:
            return
        config = self.config
        save_atomic({
            "model_name": config.model,
            "model_overrides": dict(config.model_overrides),
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(),
            "step": self.state["step"],
            "epoch": self.state["step"] // self.steps_per_epoch,
            "train_state": {k: v for k, v in self.state.items()},
            "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
                    "seed": config.seed},
            "config": dataclasses.asdict(config),
            "sample_rate": int(self.sample_rate),
            "git_commit": git_commit(),
            "versions": {name: package_version(name) for name in REPORTED_PACKAGES},
        }, self.out / name)

    def start(self) -> None:
        """Open TensorBoard; on a fresh run save ``last.pt`` at once, and validate a fitted start
        as step 0 (``best.pt`` keeps it if training makes it worse)."""
        if self.is_main and self.config.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.state["step"] or None)
        if self.state["step"] == 0:
            self.checkpoint("last.pt")      # a loadable last.pt exists from the start
            if self.init_readout_esr is not None and self.config.validate:
                val, val_esr = self.validate()
                self.state["history"].append({"step": 0, "epoch": 0, "train_loss": math.nan, "val_loss": val,
                                              "val_esr": val_esr, "lr": self.config.lr, **_clock(self.state)})
                self.state.update(best_val=val, best_step=0)
                self.checkpoint("best.pt")

    def validate(self) -> tuple[float, float]:
        """Validation loss and ESR of the model now."""
        return _validate(self.model, self.val_set, self.loss_fn, self.config, self.sample_rate, self.device)

    def optimiser_step(self) -> tuple[int, float, bool]:
        """One optimiser step on the next batch of crops; returns its epoch, its loss and whether
        the CPU-time budget is spent."""
        config, state, step = self.config, self.state, self.state["step"]
        epoch, position = divmod(step, self.steps_per_epoch)
        order = epoch_order(config.seed, epoch, self.n_train)
        items = order[position * config.batch_size:(position + 1) * config.batch_size]
        dry, wet = crop_batch(self.train_set, items, self.crop, config.seed, epoch, self.context, config.crop_sampling)
        dry, wet = dry[self.rank::self.world].to(self.device), wet[self.rank::self.world].to(self.device)
        started, started_cpu = time.perf_counter(), time.process_time()
        self.optimizer.zero_grad(set_to_none=True)
        power = self.item_power[torch.as_tensor(items[self.rank::self.world])].to(self.device) if self.crop else None
        knobs = knobs_of(self.train_set, items[self.rank::self.world]) if is_conditioned(self.model) else None
        pred = self.net(dry) if knobs is None else self.net(dry, knobs.to(self.device))
        loss = self.loss_fn(pred[..., dry.shape[-1] - wet.shape[-1]:], wet, power)
        if not torch.isfinite(loss):
            bad = [self.train_set.ids[i] for i in items]
            raise TrainingError(
                f"non-finite training loss ({loss.item()}) at step {step + 1} (epoch {epoch}), batch items "
                f"{', '.join(bad[:4])}{'…' if len(bad) > 4 else ''}; stopped, {self.out / 'last.pt'} keeps "
                f"step {_saved_step(self.out)}")
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        state["train_seconds"] += time.perf_counter() - started
        state["train_cpu_seconds"] = state.get("train_cpu_seconds", 0.0) + time.process_time() - started_cpu
        state["train_samples"] += int(wet.shape[0] * wet.shape[-1])
        state["step"] = step + 1
        loss_value = loss.item()
        if self.writer:
            self.writer.add_scalar("loss/train", loss_value, state["step"])
        out_of_time = config.max_cpu_seconds is not None and state["train_cpu_seconds"] >= config.max_cpu_seconds
        return epoch, loss_value, out_of_time

    def after_step(self, epoch: int, loss_value: float, out_of_time: bool) -> None:
        """What follows a step: at a check, record the history and validate (schedule, best.pt,
        early stopping, TensorBoard); save last.pt; stop once the CPU-time budget is spent."""
        config, state = self.config, self.state
        check = state["step"] % self.val_every == 0 or state["step"] == self.total_steps or out_of_time
        if not config.validate and check:
            state["history"].append({"step": state["step"], "epoch": epoch, "train_loss": loss_value,
                                     "val_loss": math.nan, "val_esr": math.nan,
                                     "lr": self.optimizer.param_groups[0]["lr"], **_clock(state)})
            self.checkpoint("last.pt")
        elif check:
            val, val_esr = self.validate()
            if not math.isfinite(val):
                raise TrainingError(f"non-finite validation loss at step {state['step']}; "
                                    f"{self.out / 'last.pt'} keeps step {_saved_step(self.out)}")
            self.scheduler.step(val)
            lr = self.optimizer.param_groups[0]["lr"]
            state["history"].append({"step": state["step"], "epoch": epoch, "train_loss": loss_value,
                                     "val_loss": val, "val_esr": val_esr, "lr": lr, **_clock(state)})
            if val < state["best_val"]:
                state.update(best_val=val, best_step=state["step"], bad_validations=0)
                self.checkpoint("best.pt")
            else:
                state["bad_validations"] += 1
                if state["bad_validations"] >= config.patience:
                    state["stopped"] = "early_stopping"
            if self.writer:
                self.writer.add_scalar("loss/validation", val, state["step"])
                self.writer.add_scalar("lr", lr, state["step"])
                _log_examples(self.writer, self.model, self.val_set, config, self.sample_rate, self.device,
                              state["step"])
            self.checkpoint("last.pt")
        if out_of_time and state["stopped"] is None:
            state["stopped"] = "max_cpu_seconds"
            self._final_checkpoints()

    def _final_checkpoints(self) -> None:
        self.checkpoint("last.pt")
        if not self.config.validate:
            self.state["best_step"] = self.state["step"]
            self.checkpoint("best.pt")

    def finish(self) -> RunResult:
        """Say why the run stopped, save it, and write ``summary.json`` (main rank)."""
        state, config = self.state, self.config
        if state["stopped"] is None:
            state["stopped"] = "max_steps" if config.max_steps is not None and state["step"] >= config.max_steps \
                else "max_epochs"
            self._final_checkpoints()
        summary = (_summary(config, self.model, self.val_set, state, self.n_params, self.sample_rate, self.device,
                            self.out) if self.is_main else {})
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
        return RunResult(summary=summary, model=self.model, history=state["history"])


def _initialise(model: torch.nn.Module, config: TrainConfig, train_set: SplitTensors,
                sample_rate: int) -> float | None:
    """Apply ``config.recurrent_init`` to a freshly built model; returns the least-squares
    readout's training ESR for ``"modal"`` (None for ``"default"``)."""
    if config.recurrent_init == "default":
        return None
    from springstudy.models.recurrent import RecurrentNet, fit_readout_, modal_init_

    if not isinstance(model, RecurrentNet):
        raise TrainingError(f"recurrent_init {config.recurrent_init!r} is for recurrent models, not {config.model}")
    try:
        modal_init_(model, sample_rate, periods=config.modal_periods)
    except ValueError as err:
        raise TrainingError(f"{config.model}: {err}") from err
    device = next(model.parameters()).device
    return fit_readout_(model, train_set.dry.to(device), train_set.wet.to(device))


def _clock(state: dict[str, Any]) -> dict[str, float]:
    """Training time so far (optimiser steps only, validation excluded): wall and process CPU seconds."""
    return {"train_seconds": round(state["train_seconds"], 3),
            "cpu_seconds": round(state.get("train_cpu_seconds", 0.0), 3)}


def _summary(config: TrainConfig, model: torch.nn.Module, val_set: SplitTensors, state: dict[str, Any],
             n_params: int, sample_rate: int, device: torch.device, out: Path) -> dict[str, Any]:
    """Best checkpoint's validation metrics, history and throughput, written to summary.json."""
    best_path = out / "best.pt"
    if best_path.exists():
        model.load_state_dict(load_training_checkpoint(best_path)["model_state"])
    model.eval()
    length = None if config.val_seconds is None else int(round(config.val_seconds * sample_rate))
    n_items = len(val_set.ids) if config.val_items is None else min(config.val_items, len(val_set.ids))
    per_item: dict[str, list[float]] = {}
    with torch.no_grad():
        for i in range(n_items):
            dry, wet = val_set.dry[i:i + 1, :, :length], val_set.wet[i:i + 1, :, :length]
            pred = apply_model(model, dry.to(device), knobs_of(val_set, [i])).cpu()
            for name, value in compute_all(pred, wet, config.pre_emphasis).items():
                per_item.setdefault(name, []).append(value)
    summary = {
        "model": config.model,
        "params": n_params,
        "receptive_field": json_safe(getattr(model, "receptive_field", None)),
        "sample_rate": sample_rate,
        "steps": state["step"],
        "epochs": state["history"][-1]["epoch"] + 1 if state["history"] else 0,
        "best_step": state["best_step"],
        "best_val_loss": state["best_val"],
        "stopped": state["stopped"],
        "init_readout_esr": state.get("init_readout_esr"),
        "val_metrics": {k: float(np.mean(v)) for k, v in per_item.items()},
        "train_seconds": round(state["train_seconds"], 3),
        "train_cpu_seconds": round(state.get("train_cpu_seconds", 0.0), 3),
        "train_samples_per_second": round(state["train_samples"] / max(state["train_seconds"], 1e-9), 1),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "history": state["history"],
        "config": dataclasses.asdict(config),
        "git_commit": git_commit(),
        "springstudy_version": __version__,
    }
    write_json_atomic(out / "summary.json", json_safe(summary))      # strict JSON: no Infinity or NaN
    return summary


def _log_examples(writer: Any, model: torch.nn.Module, val_set: SplitTensors, config: TrainConfig,
                  sample_rate: int, device: torch.device, step: int) -> None:
    """Audio (input, output, target) and spectrogram images of the first validation items."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    length = None if config.val_seconds is None else int(round(config.val_seconds * sample_rate))
    model.eval()
    with torch.no_grad():
        for i in range(min(config.audio_examples, len(val_set.ids))):
            dry, wet = val_set.dry[i:i + 1, :, :length], val_set.wet[i:i + 1, :, :length]
            pred = apply_model(model, dry.to(device), knobs_of(val_set, [i])).cpu()
            signals = {"input": dry, "output": pred, "target": wet}
            fig, axes = plt.subplots(1, 3, figsize=(12, 3), sharey=True)
            for ax, (name, x) in zip(axes, signals.items()):
                samples = x[0, 0].numpy()
                writer.add_audio(f"example{i}/{name}", np.clip(samples, -1, 1), step, sample_rate=sample_rate)
                ax.specgram(samples, NFFT=1024, noverlap=768, Fs=sample_rate, cmap="magma", vmin=-120)
                ax.set_title(f"{name} ({val_set.ids[i]})", fontsize=8)
            fig.tight_layout()
            writer.add_figure(f"example{i}/spectrograms", fig, step)
            plt.close(fig)
    model.train()
